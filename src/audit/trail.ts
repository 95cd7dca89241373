/**
 * The account's audit trail, for everything that is not an ACS outcome (those are written by
 * `SsoService.audit`): password sign-ins and their refusals, error pages, and what admins change.
 *
 * The same rule as at the ACS: an event is stored only for an account that exists. A request naming no
 * account is only logged (with its reference): storing it would let anyone turn a flood into database
 * writes, and attributing it by slug would show it to whoever creates that account later.
 */
import type { Logger } from 'pino';
import { diagnose, hintContext } from '../diagnosis/diagnose.js';
import { errorCatalog, type SpError } from '../errors.js';
import type { Account, Stores } from '../storage/types.js';
import { SLUG } from '../accounts/slug.js';
import { randomId } from '../random.js';

/** A short id an end user can quote and an admin can look up in logs and the audit trail. */
export function newReferenceId(): string {
  return `ref_${randomId(8, 'hex')}`;
}

/**
 * Codes of audit events that record a change rather than a sign-in. Sign-ins are `OK` or the error
 * code that refused them; the trail's `code` filter accepts these too.
 */
export const CHANGE_EVENT_CODES = [
  'SETTINGS_CHANGED',
  'USER_DISABLED',
  'USER_ENABLED',
  'USER_ROLE_CHANGED',
  'IDP_METADATA_REFRESHED',
  'IDP_CONNECTION_IMPORTED',
  'IDP_CONNECTION_DELETED',
  'OIDC_CONNECTION_CONFIGURED',
  'OIDC_CONNECTION_DELETED',
] as const;

/** A change event's code. */
export type ChangeEventCode = (typeof CHANGE_EVENT_CODES)[number];

/** True for a code the trail can hold: `OK`, a change event or a catalogued error. */
export function isAuditCode(code: string): boolean {
  return (
    code === 'OK' ||
    (CHANGE_EVENT_CODES as readonly string[]).includes(code) ||
    Object.hasOwn(errorCatalog, code)
  );
}

/** Who made a change, as the trail names them. */
export type Actor =
  { kind: 'session'; userId: string; label: string } | { kind: 'operator-token' } | { kind: 'cli' };

/** "by …" text for an event's detail. */
export function actorText(actor: Actor): string {
  switch (actor.kind) {
    case 'session':
      return `by ${actor.label} (user ${actor.userId})`;
    case 'operator-token':
      return 'by the operator (admin API token)';
    case 'cli':
      return 'by the operator (command line)';
  }
}

/** One event to record. */
export interface TrailEvent {
  referenceId: string;
  outcome: 'success' | 'failure';
  code: string;
  /** Who the event is about: the NameID or e-mail of the user signing in, or the user changed. */
  subject?: string | null;
  userId?: string | null;
  clientIp?: string | null;
  detail?: string | null;
  /** A refusal: its expected/received values and the hint are kept for the admin. */
  error?: SpError;
}

/** Writes the trail of existing accounts; logs the rest. */
export class AuditTrail {
  constructor(
    private readonly stores: Stores,
    private readonly logger: Logger,
    private readonly opts: { baseUrl: string; clockSkewSeconds: number },
  ) {}

  /**
   * Records `event` in `account`'s trail. Never throws: a failed write is logged and reported as false,
   * so that it cannot turn a refusal into another error (the caller decides what a false means).
   */
  async record(account: Account, event: TrailEvent): Promise<boolean> {
    const diagnosis = event.error
      ? diagnose(event.error, hintContext(this.opts.baseUrl, account, null, this.opts.clockSkewSeconds))
      : null;
    try {
      await this.stores.audit.record({
        referenceId: event.referenceId,
        at: new Date().toISOString(),
        accountId: account.id,
        accountSlug: account.slug,
        connectionId: null,
        outcome: event.outcome,
        code: event.code,
        subject: event.subject ?? null,
        userId: event.userId ?? null,
        clientIp: event.clientIp ?? null,
        detail: event.detail ?? null,
        expected: diagnosis?.expected ?? null,
        received: diagnosis?.received ?? null,
        hint: diagnosis?.hint ?? null,
      });
      return true;
    } catch (err) {
      this.logger.error({ err, referenceId: event.referenceId }, 'audit write failed');
      return false;
    }
  }

  /**
   * The audit side of an error page: records the error in the trail of the account the request
   * concerns (unless the route already audited it, e.g. the ACS), and answers whether the page's
   * reference can be looked up by an admin of that account — the page only promises that when it is
   * true. Rate-limited requests are never recorded (a flood must not become database writes), nor are
   * requests naming no existing account (only logged). Never throws.
   */
  async recordErrorPage(input: {
    slug: string | null;
    referenceId: string;
    error: SpError;
    alreadyAudited: boolean;
    subject: string | null;
    userId: string | null;
    clientIp: string | null;
    path: string;
  }): Promise<boolean> {
    try {
      if (input.alreadyAudited) return (await this.stores.audit.getByReference(input.referenceId)) !== null;
      if (input.error.code === 'RATE_LIMITED' || input.slug === null) return false;
      const account = SLUG.test(input.slug) ? await this.stores.accounts.getBySlug(input.slug) : null;
      if (!account) {
        this.logUnknown(input.slug, { ...input, code: input.error.code }, 'error page');
        return false;
      }
      return await this.record(account, {
        referenceId: input.referenceId,
        outcome: 'failure',
        code: input.error.code,
        subject: input.subject,
        userId: input.userId,
        clientIp: input.clientIp,
        detail: `error page ${input.path.slice(0, 200)}${input.error.detail ? `: ${input.error.detail}` : ''}`,
        error: input.error,
      });
    } catch (err) {
      this.logger.error({ err, referenceId: input.referenceId }, 'audit of an error page failed');
      return false;
    }
  }

  /** Logs an event of a request that names no existing account (never stored). */
  logUnknown(slug: string, event: Pick<TrailEvent, 'referenceId' | 'code' | 'clientIp'>, what: string): void {
    this.logger.warn(
      {
        referenceId: event.referenceId,
        slug: slug.slice(0, 64),
        code: event.code,
        clientIp: event.clientIp?.slice(0, 64) ?? null,
      },
      `${what} for no known account: logged only, not audited`,
    );
  }
}
