/**
 * Events a host application can follow through `createSamlSp({ onEvent })`: sign-ins (SAML, OpenID
 * Connect and local passwords) and their refusals, connections becoming active, and IdP certificates close to expiry.
 */
import type { Logger } from 'pino';

/** Something that happened in the kit, for the host's own alerting, metrics or audit. */
export type SpEvent =
  | {
      type: 'sign-in.succeeded';
      /** The account's slug. */
      account: string;
      /** `password`: a local user's password sign-in (the bootstrap admin). */
      protocol: 'saml' | 'oidc' | 'password';
      /** The provisioned user's id (the kit's, or the one the host's provisioning hook returned). */
      userId: string | null;
      /** The NameID (SAML) or subject (OIDC) the IdP sent; the e-mail of a password sign-in. */
      subject: string | null;
      /** The reference in the account's audit trail. */
      referenceId: string;
      at: string;
    }
  | {
      type: 'sign-in.failed';
      account: string;
      protocol: 'saml' | 'oidc' | 'password' | null;
      /** The catalogued error code (docs/ERRORS.md), e.g. `SAML_AUDIENCE_MISMATCH`. */
      code: string;
      referenceId: string;
      at: string;
    }
  | {
      type: 'connection.activated';
      account: string;
      protocol: 'saml' | 'oidc';
      connectionId: string;
      at: string;
    }
  | {
      type: 'certificate.expiring';
      account: string;
      connectionId: string;
      fingerprintSha256: string;
      notAfter: string;
      /** Whole days left (0 when it expires today, negative when it has expired). */
      daysLeft: number;
      at: string;
    };

/**
 * The event of a sign-in whose outcome an account's trail recorded: `sign-in.succeeded`, or
 * `sign-in.failed` (also a success whose protocol is unknown, which cannot happen for a success).
 */
export function signInEvent(d: {
  account: string;
  protocol: 'saml' | 'oidc' | 'password' | null;
  outcome: 'success' | 'failure';
  code: string;
  userId: string | null;
  subject: string | null;
  referenceId: string;
}): SpEvent {
  const at = new Date().toISOString();
  return d.outcome === 'success' && d.protocol !== null
    ? {
        type: 'sign-in.succeeded',
        account: d.account,
        protocol: d.protocol,
        userId: d.userId,
        subject: d.subject,
        referenceId: d.referenceId,
        at,
      }
    : {
        type: 'sign-in.failed',
        account: d.account,
        protocol: d.protocol,
        code: d.code,
        referenceId: d.referenceId,
        at,
      };
}

/** The host's callback. It may be async; its errors are logged, never passed on to the sign-in. */
export type SpEventListener = (event: SpEvent) => void | Promise<void>;

/** A function that hands one event to the listener; never throws. */
export type EmitEvent = (event: SpEvent) => void;

/** Wraps the host's listener so that neither a throw nor a rejection can reach the request it came from. */
export function eventEmitter(listener: SpEventListener | undefined, logger: Logger): EmitEvent {
  if (!listener) return () => undefined;
  return (event) => {
    try {
      void Promise.resolve(listener(event)).catch((err: unknown) =>
        logger.error({ err, event: event.type }, 'onEvent listener failed'),
      );
    } catch (err) {
      logger.error({ err, event: event.type }, 'onEvent listener failed');
    }
  };
}
