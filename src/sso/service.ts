import { signInEvent, type EmitEvent } from '../events.js';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { diagnose, hintContext } from '../diagnosis/diagnose.js';
import { SpError } from '../errors.js';
import { publishedKeyOf } from '../connections/published-keys.js';
import { spUrls } from '../connections/urls.js';
import { buildLoginRedirect } from '../saml/authn-request.js';
import type { SamlContext } from '../saml/options.js';
import { spMetadataXml } from '../saml/sp-metadata.js';
import {
  base64Prefix,
  decodeSamlResponse,
  evaluateResponse,
  validateResponse,
  type VerifiedAssertion,
} from '../saml/validate-response.js';
import {
  buildOidcVerdict,
  buildVerdict,
  CHECK_LABELS,
  OIDC_CHECK_LABELS,
  TRANSPORT_CHECK,
  withTransport,
} from './verdict.js';
import type {
  Account,
  Connection,
  LoginFlow,
  OidcConnection,
  SignInCheck,
  Stores,
} from '../storage/types.js';
import {
  claimsToAttributes,
  mapAttributes,
  mapOidcAttributes,
  type MappedProfile,
} from '../users/attributes.js';
import type { OidcConnectionService } from '../connections/oidc-service.js';
import { authorizationRequest, completeSignIn, type OidcTransactionSecrets } from '../oidc/client.js';
import {
  checkSignInPolicy,
  provisionUser,
  type ProvisionHook,
  type ProvisionedUser,
} from '../users/provision.js';
import { isSlug } from '../accounts/slug.js';
import type { SignInOutcome } from '../metrics.js';

/** The SP's own key pair. */
export interface SpKeys {
  privateKey: string;
  certificate: string;
}

/** Settings the SSO flows need. */
export interface SsoSettings {
  baseUrl: string;
  clockSkewMs: number;
  requestTtlMs: number;
  /** NODE_ENV=production: certificates whose key ships with saml-sp-kit are never trusted. */
  production?: boolean;
  /** Told of each SAML signature about to be verified (the metrics). */
  onSignatureCheck?: () => void;
  /** Told of each encrypted assertion about to be decrypted (the metrics). */
  onDecryption?: () => void;
}

/** A successful sign-in (at the ACS, or when the user confirmed it). */
export interface AcsSuccess {
  account: Account;
  user: ProvisionedUser;
  /** What the signed assertion said (the subset a confirmation keeps). */
  assertion: ConfirmedAssertion;
  referenceId: string;
  /** How the sign-in came: an answer to our AuthnRequest, or an unsolicited (IdP-initiated) response. */
  flow: Extract<LoginFlow, 'sp-initiated' | 'idp-initiated'>;
  /** The protocol of the connection the user signed in through. */
  protocol: 'saml' | 'oidc';
}

/**
 * The parts of a verified sign-in needed after the ACS or the OIDC callback (kept while a confirmation
 * waits). For OIDC (`protocol: 'oidc'`): `nameId` is the `sub`, `attributes` the verified claims.
 */
export type ConfirmedAssertion = Pick<
  VerifiedAssertion,
  'assertionId' | 'issuer' | 'nameId' | 'attributes'
> & {
  protocol?: 'oidc';
};

/** The browser's current login session, as far as the ACS needs to know it. */
export interface CurrentSession {
  accountSlug: string;
  nameId: string;
  via: 'sso' | 'password' | 'setup-link';
  /** For `via: 'sso'`: the protocol (absent: SAML). */
  protocol?: 'saml' | 'oidc' | undefined;
}

/** A sign-in that waits for the user to confirm it on a page of this origin. */
export interface PendingConfirmation {
  account: Account;
  /** Who the sign-in is for, as the user should recognise it (e-mail, else NameID). */
  identity: string;
  /** One-time token for the confirmation form. */
  token: string;
  /** Random value for a cookie that binds the confirmation to this browser. */
  browserNonce: string;
  expiresAt: string;
  /** Why the user is asked. */
  reason: 'unsolicited' | 'cross-site-start' | 'replaces-session';
}

/** What the ACS did with a valid response. */
export type AcsOutcome =
  | { kind: 'test'; testId: string; status: 'passed' | 'failed' }
  | { kind: 'signed-in'; success: AcsSuccess }
  | { kind: 'confirm'; pending: PendingConfirmation };

/** A pending confirmation as stored in the one-time store. */
interface StoredConfirmation {
  accountId: string;
  /** The SAML connection, or the OIDC one when `assertion.protocol` is `oidc`. */
  connectionId: string;
  browserHash: string;
  relayState: string;
  assertion: ConfirmedAssertion;
  /** Absent in confirmations stored by a version that did not record it (they live 5 minutes). */
  flow?: AcsSuccess['flow'];
}

/** How long a user has to confirm a sign-in. */
export const CONFIRMATION_TTL_MS = 5 * 60_000;

/** How much of a slug that names no account goes to the log. */
const UNKNOWN_SLUG_LOGGED = 64;

const hashNonce = (nonce: string): string => createHash('sha256').update(nonce).digest('hex');

/** Constant-time comparison of two strings (state values). */
function sameText(a: string, b: string): boolean {
  return sameHash(hashNonce(a), hashNonce(b));
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/**
 * Keys of the one-time store. Request IDs are namespaced per connection, so one connection can never
 * consume another's. Seen assertion IDs are namespaced per account (an account has one connection at a
 * time): deleting and re-importing the connection must not make a captured assertion usable again.
 */
export const oneTimeKeys = {
  request: (connectionId: string, requestId: string) => `authn:${connectionId}:${requestId}`,
  assertion: (accountId: string, assertionId: string) => `replay:${accountId}:${assertionId}`,
  confirmation: (accountId: string, tokenHash: string) => `confirm:${accountId}:${tokenHash}`,
  testRequest: (connectionId: string, requestId: string) => `testreq:${connectionId}:${requestId}`,
  /** An OIDC sign-in in flight, under the hash of the random id its browser holds in a cookie. */
  oidcTransaction: (oidcConnectionId: string, idHash: string) => `oidctx:${oidcConnectionId}:${idHash}`,
};

/** An OIDC sign-in in flight, as stored until its callback (consumed once). */
interface StoredOidcTransaction extends OidcTransactionSecrets {
  relayState: string;
  /** The login was started by a cross-site navigation (confirmed on our page before it signs in). */
  crossSite: boolean;
  /** A test sign-in's id: its callback only tests (no session, no user). */
  testId?: string;
}

/** Shape of the random transaction id an OIDC login cookie carries. */
export const OIDC_TRANSACTION_ID = /^[a-f0-9]{64}$/;

/**
 * The `state` of the OIDC sign-in whose transaction id (the browser's secret, in its cookie) is `id`:
 * a hash of it, so the callback's `state` tells which of the browser's sign-ins in flight it answers
 * (tabs), while the state, which the provider and the URL see, reveals nothing of the id.
 */
export function oidcStateOf(id: string): string {
  return createHash('sha256').update(`sspk oidc state:${id}`).digest('base64url');
}

const isOidc = (c: Connection | OidcConnection): c is OidcConnection => 'clientId' in c;

/** The profile of a confirmed sign-in, by protocol. */
function profileOf(assertion: ConfirmedAssertion): MappedProfile {
  return assertion.protocol === 'oidc'
    ? mapOidcAttributes(assertion.attributes)
    : mapAttributes(assertion.attributes, assertion.nameId);
}

const emailMissingCode = (a: ConfirmedAssertion) =>
  a.protocol === 'oidc' ? ('OIDC_EMAIL_MISSING' as const) : ('SAML_EMAIL_MISSING' as const);

/** What a `sub` may be: 1 to 255 characters, no control characters, no surrounding white space. */
const SUBJECT = /^(?!\s)[^\p{Cc}]{1,255}(?<!\s)$/u;

/** How long a test sign-in link may wait to be followed and answered. */
export const SIGN_IN_TEST_TTL_MS = 30 * 60_000;

/** A test sign-in as the admin API shows it. */
export interface SignInTestView {
  id: string;
  /** The protocol of the connection tested. */
  protocol: 'saml' | 'oidc';
  status: 'pending' | 'passed' | 'failed';
  checks: (SignInCheck & { label: string })[];
  referenceId: string | null;
  createdAt: string;
  expiresAt: string;
  finishedAt: string | null;
}

// Test sign-in request IDs (see buildLoginRedirect): only such an InResponseTo costs a store lookup.
const TEST_REQUEST_ID = /^_t[0-9a-f]{40}$/;
const TEST_IN_RESPONSE_TO = /<(?:[A-Za-z_][\w.-]*:)?Response\b[^>]*?\sInResponseTo="(_t[0-9a-f]{40})"/;

// A request ID's stored value: the browser nonce hash, plus this marker when the login was started by
// a cross-site navigation (another site sent the browser to /sso/:slug/login).
const CROSS_SITE_MARK = '|cross-site';

/**
 * The published-key verdict per certificate PEM, computed once per process (it parses the certificate
 * and hashes its key: a measurable share of a login when done on every one).
 */
const PUBLISHED_VERDICTS_MAX = 1024;
const publishedVerdicts = new Map<string, string | null>();
function publishedKeyOfPem(pem: string): string | null {
  const hit = publishedVerdicts.get(pem);
  if (hit !== undefined) return hit;
  const verdict = publishedKeyOf(pem);
  if (publishedVerdicts.size >= PUBLISHED_VERDICTS_MAX) {
    publishedVerdicts.delete(publishedVerdicts.keys().next().value!);
  }
  publishedVerdicts.set(pem, verdict);
  return verdict;
}

/**
 * The first 8,192 characters of the posted response's XML, decoded from a prefix of the base64 only
 * (at most 4 bytes a character): looking for a test sign-in's InResponseTo must not cost a second
 * decode of a body of up to MAX_SAML_RESPONSE_BYTES. Null when the field is not a string.
 */
function responseHead(samlResponse: unknown): string | null {
  if (typeof samlResponse !== 'string') return null;
  const prefix = base64Prefix(samlResponse, Math.ceil((8192 * 4) / 3 / 4) * 4);
  return Buffer.from(prefix, 'base64').toString('utf8').slice(0, 8192);
}

/** SP-initiated login, SP metadata and the Assertion Consumer Service. */
export class SsoService {
  constructor(
    private readonly stores: Stores,
    private readonly keys: SpKeys,
    private readonly settings: SsoSettings,
    private readonly logger: Logger,
    private readonly hook?: ProvisionHook,
    /** OAuth 2.0 / OpenID Connect connections (their client settings); without it OIDC sign-in is off. */
    private readonly oidc?: OidcConnectionService,
    /** The host's `onEvent`: sign-ins, refusals and activations (never test sign-ins). */
    private readonly emit: EmitEvent = () => undefined,
    /** Told of every decided sign-in (the metrics); never of sign-in tests or pending confirmations. */
    private readonly onSignIn?: (outcome: SignInOutcome) => void,
  ) {}

  /** The account with this slug; null for a slug that cannot exist or does not. */
  private async findAccount(slug: string): Promise<Account | null> {
    return isSlug(slug) ? await this.stores.accounts.getBySlug(slug) : null;
  }

  private async load(slug: string): Promise<{ account: Account; connection: Connection | null }> {
    const found = isSlug(slug) ? await this.stores.accounts.getWithConnection(slug) : null;
    if (!found) throw new SpError('ACCOUNT_NOT_FOUND');
    return found;
  }

  private context(
    account: Account,
    connection: Connection,
    idpCertificates: string[] = connection.certificates.map((c) => c.pem),
  ): SamlContext {
    const urls = spUrls(this.settings.baseUrl, account.slug);
    return {
      spEntityId: urls.spEntityId,
      acsUrl: urls.acsUrl,
      ssoUrl: connection.ssoUrl,
      idpCertificates,
      idpEntityId: connection.idpEntityId,
      spPrivateKey: this.keys.privateKey,
      spCertificate: this.keys.certificate,
      clockSkewMs: this.settings.clockSkewMs,
      allowSha1: account.settings.allowSha1,
      ...(this.settings.onSignatureCheck ? { onSignatureCheck: this.settings.onSignatureCheck } : {}),
      ...(this.settings.onDecryption ? { onDecryption: this.settings.onDecryption } : {}),
    };
  }

  /**
   * The certificates the ACS trusts for a connection. In production, a certificate whose key ships with
   * saml-sp-kit (test fixtures, the demo IdP) is ignored even when stored: a connection imported before
   * import refused them must not keep letting anyone sign in as anyone.
   */
  private trustedCertificates(connection: Connection): string[] {
    const pems = connection.certificates.map((c) => c.pem);
    if (!this.settings.production) return pems;
    const trusted = pems.filter((pem) => publishedKeyOfPem(pem) === null);
    if (trusted.length === 0) {
      throw new SpError('SAML_SIGNATURE_INVALID', {
        detail:
          'every certificate of this connection has a key published with saml-sp-kit (ignored in production): import the IdP signing certificate',
      });
    }
    return trusted;
  }

  /** SP metadata for an account (available before the IdP is imported). */
  async metadata(slug: string): Promise<string> {
    const { account } = await this.load(slug);
    const urls = spUrls(this.settings.baseUrl, account.slug);
    return spMetadataXml({
      spEntityId: urls.spEntityId,
      acsUrl: urls.acsUrl,
      spCertificate: this.keys.certificate,
      spPrivateKey: this.keys.privateKey,
    });
  }

  /**
   * Starts an SP-initiated login. The request ID is stored for this connection together with a hash of
   * the browser nonce (kept in a cookie by the caller), so the answer is accepted only in this browser.
   */
  async startLogin(
    slug: string,
    relayState: string,
    browserNonce: string,
    opts: { crossSite?: boolean } = {},
  ): Promise<string> {
    const { account, connection } = await this.load(slug);
    if (!connection) throw new SpError('SSO_NOT_CONFIGURED');
    const { url, requestId } = await buildLoginRedirect(this.context(account, connection), relayState);
    await this.stores.oneTime.put(
      oneTimeKeys.request(connection.id, requestId),
      hashNonce(browserNonce) + (opts.crossSite ? CROSS_SITE_MARK : ''),
      this.settings.requestTtlMs,
    );
    return url;
  }

  /**
   * Validates a posted SAMLResponse. When the sign-in did not start on this site (unsolicited, or
   * started by a cross-site navigation) and the account asks for confirmation, or when it would replace
   * the browser's session of another user or account, nothing is provisioned and no session is made:
   * the caller shows a confirmation page and {@link confirm} completes the sign-in. Otherwise the user
   * is provisioned and the caller establishes the session (`establish`) before the connection is
   * activated and the success audited. Every failure (session store included) is audited.
   */
  async consume(
    input: {
      slug: string;
      samlResponse: unknown;
      relayState: string;
      browserNonce: string | null;
      current: CurrentSession | null;
      clientIp: string | null;
      referenceId: string;
      /** HTTPS_REQUIRED when the answer came over what looks like plain http on an https site (asked by tests only). */
      transport?: () => SpError | null;
    },
    establish: (success: AcsSuccess) => Promise<void>,
  ): Promise<AcsOutcome> {
    let account: Account | null = null;
    let connection: Connection | null = null;
    let assertion: VerifiedAssertion | null = null;
    try {
      ({ account, connection } = await this.load(input.slug));
      if (!connection) throw new SpError('SSO_NOT_CONFIGURED');
      const test = await this.takeTestRequest(connection, input.samlResponse);
      if (test !== null) return await this.runTest(account, connection, test, input);
      assertion = await validateResponse(
        input.samlResponse,
        this.context(account, connection, this.trustedCertificates(connection)),
      );
      // Replay: an assertion ID is accepted once per account, remembered until it could no longer be
      // accepted anyway. claim() is atomic, so of concurrent posts exactly one wins. It is claimed here
      // even when the sign-in then waits for a confirmation, so the response cannot be posted again.
      const ttl = Math.max(assertion.replayUntilMs - Date.now(), 1000);
      if (!(await this.stores.oneTime.claim(oneTimeKeys.assertion(account.id, assertion.assertionId), ttl))) {
        throw new SpError('SAML_REPLAY', { detail: `assertion ${assertion.assertionId}` });
      }
      const start = await this.checkSolicitation(account, connection, assertion, input.browserNonce);
      // checkSolicitation has matched a present InResponseTo to a request of ours (or refused it).
      const flow = assertion.inResponseTo === null ? 'idp-initiated' : 'sp-initiated';
      return await this.finish(input, account, connection, assertion, start, flow, establish);
    } catch (err) {
      throw await this.failure(err, input, account, connection, assertion);
    }
  }

  /**
   * The common end of a verified sign-in, whatever the protocol: the account policy, then either a
   * confirmation page (a sign-in that did not start here, or one that would replace the browser's
   * session of someone else) or provisioning, the session and activation, audited.
   */
  private async finish(
    input: {
      slug: string;
      relayState: string;
      current: CurrentSession | null;
      clientIp: string | null;
      referenceId: string;
    },
    account: Account,
    connection: Connection | OidcConnection,
    assertion: ConfirmedAssertion,
    start: SignInStart,
    flow: AcsSuccess['flow'],
    establish: (success: AcsSuccess) => Promise<void>,
  ): Promise<AcsOutcome> {
    const profile = profileOf(assertion);
    checkSignInPolicy(account, profile, emailMissingCode(assertion));
    const reason = confirmationReason(account, assertion, start, input.current);
    if (reason !== null) {
      const pending = await this.holdForConfirmation(account, connection, assertion, profile.email, {
        reason,
        relayState: input.relayState,
        flow,
      });
      this.logger.info(
        { referenceId: input.referenceId, account: account.slug, reason },
        'sign-in waits for the user to confirm it',
      );
      return { kind: 'confirm', pending };
    }
    const success = await this.complete(account, connection, assertion, flow, input.referenceId, establish);
    await this.audit(input, account, connection, assertion, {
      outcome: 'success',
      code: 'OK',
      userId: success.user.id,
      detail: `${assertion.protocol === 'oidc' ? 'OIDC' : 'SSO'} sign-in (${flow})`,
    });
    return { kind: 'signed-in', success };
  }

  /**
   * Starts an OAuth 2.0 / OIDC sign-in: the authorization request (state, nonce, PKCE S256) and its
   * transaction, stored in the shared one-time store (any instance can take the callback) under the
   * hash of a random id the caller binds to the browser with a cookie.
   */
  async startOidcLogin(
    slug: string,
    relayState: string,
    opts: { crossSite?: boolean } = {},
  ): Promise<{ url: string; transactionId: string }> {
    const account = await this.findAccount(slug);
    if (!account) throw new SpError('ACCOUNT_NOT_FOUND');
    const connection = this.oidc ? await this.stores.oidcConnections.getByAccount(account.id) : null;
    if (!connection || !this.oidc) throw new SpError('SSO_NOT_CONFIGURED');
    return this.startOidcTransaction(account, connection, {
      relayState,
      crossSite: opts.crossSite === true,
    });
  }

  /** The authorization request of a sign-in (or a test) and its stored transaction. */
  private async startOidcTransaction(
    account: Account,
    connection: OidcConnection,
    meta: Omit<StoredOidcTransaction, keyof OidcTransactionSecrets>,
  ): Promise<{ url: string; transactionId: string }> {
    if (!this.oidc) throw new SpError('SSO_NOT_CONFIGURED');
    const transactionId = randomBytes(32).toString('hex');
    const { url, secrets } = await authorizationRequest(
      this.oidc.clientSettings(connection),
      spUrls(this.settings.baseUrl, account.slug).oidcCallbackUrl,
      oidcStateOf(transactionId),
    );
    const transaction: StoredOidcTransaction = { ...secrets, ...meta };
    await this.stores.oneTime.put(
      oneTimeKeys.oidcTransaction(connection.id, hashNonce(transactionId)),
      JSON.stringify(transaction),
      this.settings.requestTtlMs,
    );
    return { url, transactionId };
  }

  /**
   * The OIDC callback. The transaction is the one of the browser's cookie whose state the callback
   * carries (picked by the route), taken once: a replayed or cross-browser callback finds none, and
   * one that matches none of the browser's sign-ins takes none of them. `state` must be the
   * transaction's, then the code is exchanged and the ID
   * token verified (src/oidc/client.ts). An e-mail the provider does not call verified refuses the
   * sign-in. The rest is the common end of a sign-in ({@link finish}). Every failure is audited.
   */
  async consumeOidcCallback(
    input: {
      slug: string;
      /** The callback's query string, `?` included (the provider's parameters). */
      search: string;
      /** The browser's sign-in whose state the callback carries; null when none has it. */
      transactionId: string | null;
      /** How many sign-ins of this account the browser has in flight (its cookie). */
      inFlight?: number;
      /** HTTPS_REQUIRED when the answer came over what looks like plain http on an https site (asked by tests only). */
      transport?: () => SpError | null;
      current: CurrentSession | null;
      clientIp: string | null;
      referenceId: string;
    },
    establish: (success: AcsSuccess) => Promise<void>,
  ): Promise<{ outcome: AcsOutcome; relayState: string }> {
    let account: Account | null = null;
    let connection: OidcConnection | null = null;
    let subject: { nameId: string } | null = null;
    try {
      account = await this.findAccount(input.slug);
      if (!account) throw new SpError('ACCOUNT_NOT_FOUND');
      connection = this.oidc ? await this.stores.oidcConnections.getByAccount(account.id) : null;
      if (!connection || !this.oidc) throw new SpError('SSO_NOT_CONFIGURED');
      // Login CSRF and replay: only the browser that started this sign-in holds the id of its
      // transaction, and taking it is atomic, so a callback is accepted once, in that browser. A
      // browser with sign-ins in flight, none of them this callback's (its state), keeps them.
      if (input.transactionId === null && (input.inFlight ?? 0) > 0) {
        throw new SpError('OIDC_STATE_MISMATCH', {
          detail: `the state is none of this browser's sign-ins in flight (${input.inFlight})`,
        });
      }
      const raw =
        input.transactionId === null
          ? null
          : await this.stores.oneTime.take(
              oneTimeKeys.oidcTransaction(connection.id, hashNonce(input.transactionId)),
            );
      if (raw === null) {
        throw new SpError('OIDC_TRANSACTION_INVALID', {
          detail:
            input.transactionId === null ? 'no transaction cookie' : 'unknown, used or expired transaction',
        });
      }
      const transaction = JSON.parse(raw) as StoredOidcTransaction;
      const callbackUrl = new URL(
        `${spUrls(this.settings.baseUrl, account.slug).oidcCallbackUrl}${input.search.slice(0, 8192)}`,
      );
      if (transaction.testId !== undefined) {
        const testId = transaction.testId;
        const outcome = await this.runOidcTest(account, connection, testId, callbackUrl, transaction, input);
        return { outcome, relayState: '' };
      }
      const state = callbackUrl.searchParams.get('state');
      if (state === null || !sameText(state, transaction.state)) {
        throw new SpError('OIDC_STATE_MISMATCH', { detail: state === null ? 'no state' : 'state differs' });
      }
      const signIn = await completeSignIn(this.oidc.clientSettings(connection), callbackUrl, transaction);
      if (!SUBJECT.test(signIn.sub)) {
        throw new SpError('OIDC_ID_TOKEN_INVALID', {
          detail: 'sub empty, too long or with control characters',
        });
      }
      subject = { nameId: signIn.sub };
      // An unverified e-mail is whatever someone typed at sign-up: it must never sign anyone in, nor
      // pass the account's domain allow-list.
      if (signIn.claims.email !== undefined && signIn.claims.email_verified !== true) {
        throw new SpError('OIDC_EMAIL_NOT_VERIFIED', {
          detail: `email_verified is ${JSON.stringify(signIn.claims.email_verified ?? null)}`,
          received: `email_verified: ${JSON.stringify(signIn.claims.email_verified ?? null)}`,
        });
      }
      const assertion: ConfirmedAssertion = {
        // Unique per sign-in, for the record only (the one-time transaction stops replays).
        assertionId: `oidc:${hashNonce(input.transactionId ?? '').slice(0, 32)}`,
        issuer: signIn.issuer,
        nameId: signIn.sub,
        attributes: claimsToAttributes(signIn.claims),
        protocol: 'oidc',
      };
      const outcome = await this.finish(
        { ...input, relayState: transaction.relayState },
        account,
        connection,
        assertion,
        transaction.crossSite ? 'cross-site-start' : 'same-site-start',
        'sp-initiated',
        establish,
      );
      return { outcome, relayState: transaction.relayState };
    } catch (err) {
      throw await this.failure(err, { ...input, protocol: 'oidc' }, account, connection, subject);
    }
  }

  /**
   * Completes a sign-in the user confirmed: the one-time token must name a pending sign-in of this
   * account, made in this browser (the cookie nonce), and not yet used or expired. The account policy
   * is applied again (it may have changed in the meantime).
   */
  async confirm(
    input: {
      slug: string;
      token: unknown;
      browserNonce: string | null;
      clientIp: string | null;
      referenceId: string;
    },
    establish: (success: AcsSuccess) => Promise<void>,
  ): Promise<{ success: AcsSuccess; relayState: string }> {
    let account: Account | null = null;
    let connection: Connection | OidcConnection | null = null;
    let held: StoredConfirmation | null = null;
    try {
      ({ account, connection } = await this.load(input.slug));
      const token = typeof input.token === 'string' && TOKEN.test(input.token) ? input.token : null;
      const raw =
        token === null
          ? null
          : await this.stores.oneTime.take(oneTimeKeys.confirmation(account.id, hashNonce(token)));
      if (raw === null) throw new SpError('LOGIN_CONFIRMATION_INVALID', { detail: 'unknown or used token' });
      held = JSON.parse(raw) as StoredConfirmation;
      if (input.browserNonce === null || !sameHash(held.browserHash, hashNonce(input.browserNonce))) {
        throw new SpError('LOGIN_CONFIRMATION_INVALID', { detail: 'confirmation from another browser' });
      }
      if (held.assertion.protocol === 'oidc') {
        connection = await this.stores.oidcConnections.getByAccount(account.id);
      }
      // The IdP connection the response was checked against must still be the one in place.
      if (!connection || connection.id !== held.connectionId) {
        throw new SpError('LOGIN_CONFIRMATION_INVALID', { detail: 'the IdP connection changed' });
      }
      // Confirmations stored before the flow was recorded were all answers the user had to confirm
      // because they were unsolicited or came from elsewhere; only an InResponseTo would tell.
      const flow = held.flow ?? 'idp-initiated';
      const success = await this.complete(
        account,
        connection,
        held.assertion,
        flow,
        input.referenceId,
        establish,
      );
      await this.audit(input, account, connection, held.assertion, {
        outcome: 'success',
        code: 'OK',
        userId: success.user.id,
        detail: `${held.assertion.protocol === 'oidc' ? 'OIDC' : 'SSO'} sign-in (${flow}), confirmed by the user`,
      });
      return { success, relayState: held.relayState };
    } catch (err) {
      throw await this.failure(err, input, account, connection, held?.assertion ?? null);
    }
  }

  /** Audits a failed sign-in (with its diagnosis) and returns the catalogued error to throw. */
  private async failure(
    err: unknown,
    input: AuditInput,
    account: Account | null,
    connection: Connection | OidcConnection | null,
    subject: Pick<VerifiedAssertion, 'nameId'> | null,
  ): Promise<SpError> {
    const error = toSsoError(err);
    await this.audit(input, account, connection, subject, {
      outcome: 'failure',
      code: error.code,
      userId: null,
      detail: error.detail ?? null,
      error,
    });
    return error;
  }

  /** Starts a test sign-in: a one-time login link that only tests (no session, no user). */
  async createTest(
    slug: string,
    protocol: 'saml' | 'oidc' = 'saml',
  ): Promise<{ id: string; loginUrl: string; expiresAt: string; status: 'pending' }> {
    const { account, connection: saml } = await this.load(slug);
    const connection =
      protocol === 'oidc' ? await this.stores.oidcConnections.getByAccount(account.id) : saml;
    if (!connection) {
      throw new SpError(protocol === 'oidc' ? 'OIDC_CONNECTION_NOT_FOUND' : 'CONNECTION_NOT_FOUND');
    }
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + SIGN_IN_TEST_TTL_MS).toISOString();
    const test = await this.stores.signInTests.create({
      id: randomUUID(),
      accountId: account.id,
      connectionId: connection.id,
      tokenHash: hashNonce(token),
      expiresAt,
      protocol,
    });
    const loginUrl = `${spUrls(this.settings.baseUrl, account.slug).loginUrl.replace(/\/login$/, '')}/tests/${token}`;
    return { id: test.id, loginUrl, expiresAt, status: 'pending' };
  }

  /** A test sign-in of this account with its verdict (of this protocol's connection, when given). */
  async getTest(slug: string, id: string, protocol?: 'saml' | 'oidc'): Promise<SignInTestView> {
    const { account } = await this.load(slug);
    const found = /^[0-9a-f-]{36}$/.test(id) ? await this.stores.signInTests.get(account.id, id) : null;
    const test = found && (protocol === undefined || found.protocol === protocol) ? found : null;
    if (!test) throw new SpError('NOT_FOUND', { detail: `sign-in test ${id.slice(0, 64)}` });
    const labels: Readonly<Record<string, string>> =
      test.protocol === 'oidc' ? OIDC_CHECK_LABELS : CHECK_LABELS;
    return {
      id: test.id,
      protocol: test.protocol,
      status: test.status === 'started' ? 'pending' : test.status,
      checks: test.checks.map((c) => ({
        ...c,
        label: c.name === TRANSPORT_CHECK.name ? TRANSPORT_CHECK.label : (labels[c.name] ?? c.name),
      })),
      referenceId: test.referenceId,
      createdAt: test.createdAt,
      expiresAt: test.expiresAt,
      finishedAt: test.finishedAt,
    };
  }

  /**
   * Follows a test link: once, in any browser, before it expires, for the connection it was made
   * for. SAML: the IdP URL carrying an AuthnRequest whose ID marks the answer as a test's. OIDC: the
   * authorization URL of a transaction marked as this test's, whose id the caller binds to the browser
   * (as for a sign-in).
   */
  async startTest(slug: string, token: string): Promise<{ url: string; oidcTransactionId?: string }> {
    const { account, connection: saml } = await this.load(slug);
    const test = /^[A-Za-z0-9_-]{43}$/.test(token)
      ? await this.stores.signInTests.start(hashNonce(token), new Date().toISOString())
      : null;
    const connection =
      test?.protocol === 'oidc' && this.oidc
        ? await this.stores.oidcConnections.getByAccount(account.id)
        : saml;
    if (!test || test.accountId !== account.id || !connection || connection.id !== test.connectionId) {
      throw new SpError('SIGN_IN_TEST_LINK_INVALID');
    }
    if (isOidc(connection)) {
      const { url, transactionId } = await this.startOidcTransaction(account, connection, {
        relayState: '',
        crossSite: false,
        testId: test.id,
      });
      return { url, oidcTransactionId: transactionId };
    }
    const { url, requestId } = await buildLoginRedirect(this.context(account, connection), '', {
      test: true,
    });
    await this.stores.oneTime.put(
      oneTimeKeys.testRequest(connection.id, requestId),
      test.id,
      Math.max(Date.parse(test.expiresAt) - Date.now(), 1000),
    );
    return { url };
  }

  /** The test a response answers (by its unsigned InResponseTo, only to route it), consumed once. */
  private async takeTestRequest(
    connection: Connection,
    samlResponse: unknown,
  ): Promise<{ testId: string; requestId: string } | null> {
    const head = responseHead(samlResponse);
    const requestId = head === null ? undefined : TEST_IN_RESPONSE_TO.exec(head)?.[1];
    if (!requestId || !TEST_REQUEST_ID.test(requestId)) return null;
    // Only a test's answer is decoded whole here (as before: one that does not decode is no test).
    try {
      if (!decodeSamlResponse(samlResponse).xml.slice(0, 8192).includes(requestId)) return null;
    } catch {
      return null;
    }
    const testId = await this.stores.oneTime.take(oneTimeKeys.testRequest(connection.id, requestId));
    return testId === null ? null : { testId, requestId };
  }

  /**
   * Evaluates a test's response: every check, recorded as the test's verdict and audited. It never
   * provisions a user nor makes a session; a passing test activates a pending connection.
   */
  private async runTest(
    account: Account,
    connection: Connection,
    test: { testId: string; requestId: string },
    input: {
      clientIp: string | null;
      referenceId: string;
      slug: string;
      samlResponse: unknown;
      transport?: () => SpError | null;
    },
  ): Promise<AcsOutcome> {
    const hints = hintContext(this.settings.baseUrl, account, connection, this.settings.clockSkewMs / 1000);
    const evaluation = await evaluateResponse(
      input.samlResponse,
      this.context(account, connection, this.trustedCertificates(connection)),
    );
    const { checks, passed, firstFailure } = withTransport(
      buildVerdict(evaluation, { requestId: test.requestId, account, hints }),
      input.transport?.() ?? null,
      hints,
    );
    const status = passed ? 'passed' : 'failed';
    await this.stores.signInTests.finish(test.testId, { status, checks, referenceId: input.referenceId });
    if (passed && evaluation.assertion) {
      await this.stores.connections.recordSuccessfulLogin(
        connection.id,
        connection.idpEntityId === null ? evaluation.assertion.issuer : null,
      );
      if (connection.status === 'pending') this.emitActivated(account, connection);
    }
    await this.audit(input, account, connection, evaluation.assertion, {
      outcome: passed ? 'success' : 'failure',
      code: passed ? 'OK' : (firstFailure?.code ?? 'SAML_RESPONSE_INVALID'),
      userId: null,
      detail: `test sign-in ${test.testId}: ${status} (no session, no user)`,
      test: true,
      ...(firstFailure ? { error: firstFailure } : {}),
    });
    return { kind: 'test', testId: test.testId, status };
  }

  /**
   * Runs an OIDC test's callback: every step of a sign-in (state, provider answer, code exchange, ID
   * token, userinfo, e-mail, claims), judged as a checklist, recorded as the test's verdict and audited.
   * It never provisions a user nor makes a session; a passing test activates a pending connection.
   */
  private async runOidcTest(
    account: Account,
    connection: OidcConnection,
    testId: string,
    callbackUrl: URL,
    transaction: StoredOidcTransaction,
    input: {
      clientIp: string | null;
      referenceId: string;
      slug: string;
      transport?: () => SpError | null;
    },
  ): Promise<AcsOutcome> {
    const oidc = this.oidc!;
    let error: SpError | null = null;
    let signIn: Awaited<ReturnType<typeof completeSignIn>> | null = null;
    const state = callbackUrl.searchParams.get('state');
    if (state === null || !sameText(state, transaction.state)) {
      error = new SpError('OIDC_STATE_MISMATCH', { detail: state === null ? 'no state' : 'state differs' });
    } else {
      try {
        signIn = await completeSignIn(oidc.clientSettings(connection), callbackUrl, transaction);
        if (!SUBJECT.test(signIn.sub)) {
          throw new SpError('OIDC_ID_TOKEN_INVALID', {
            detail: 'sub empty, too long or with control characters',
          });
        }
      } catch (err) {
        error = toSsoError(err);
        signIn = null;
      }
    }
    const providerError = callbackUrl.searchParams.get('error');
    const hints = hintContext(
      this.settings.baseUrl,
      account,
      null,
      this.settings.clockSkewMs / 1000,
      connection,
    );
    const { checks, passed, firstFailure } = withTransport(
      buildOidcVerdict(
        {
          error,
          signIn,
          clientId: connection.clientId,
          userinfo: connection.userinfoUrl !== null,
          providerError: providerError === null ? null : providerError.slice(0, 100),
        },
        { account, hints },
      ),
      input.transport?.() ?? null,
      hints,
    );
    const status = passed ? 'passed' : 'failed';
    await this.stores.signInTests.finish(testId, { status, checks, referenceId: input.referenceId });
    if (passed) await this.stores.oidcConnections.recordSuccessfulLogin(connection.id);
    await this.audit(input, account, connection, signIn ? { nameId: signIn.sub } : null, {
      outcome: passed ? 'success' : 'failure',
      code: passed ? 'OK' : (firstFailure?.code ?? 'OIDC_ID_TOKEN_INVALID'),
      userId: null,
      detail: `OIDC test sign-in ${testId}: ${status} (no session, no user)`,
      ...(firstFailure ? { error: firstFailure } : {}),
    });
    return { kind: 'test', testId, status };
  }

  /** Provisions the user, lets the caller make the session, then activates the connection. */
  private async complete(
    account: Account,
    connection: Connection | OidcConnection,
    assertion: ConfirmedAssertion,
    flow: AcsSuccess['flow'],
    referenceId: string,
    establish: (success: AcsSuccess) => Promise<void>,
  ): Promise<AcsSuccess> {
    const profile = profileOf(assertion);
    const protocol = isOidc(connection) ? 'oidc' : 'saml';
    // Provisioning records the sign-in (last sign-in time and flow) on the user, in the same write.
    const user = await provisionUser(
      this.stores.users,
      account,
      { id: connection.id, protocol },
      assertion.nameId,
      profile,
      assertion.attributes,
      this.hook,
      flow,
    );
    const success: AcsSuccess = { account, user, assertion, referenceId, flow, protocol };
    await establish(success);
    // A write transaction (and, on SQLite, the database's one write lock) per login only when it
    // changes something: activating a pending connection, or pinning the IdP entity ID at the first
    // login. For an active connection with a known issuer, both updates would match no row.
    if (isOidc(connection)) {
      if (connection.status !== 'active')
        await this.stores.oidcConnections.recordSuccessfulLogin(connection.id);
    } else if (connection.status !== 'active' || connection.idpEntityId === null) {
      await this.stores.connections.recordSuccessfulLogin(
        connection.id,
        connection.idpEntityId === null ? assertion.issuer : null,
      );
    }
    if (connection.status === 'pending') this.emitActivated(account, connection);
    return success;
  }

  private async holdForConfirmation(
    account: Account,
    connection: Connection | OidcConnection,
    assertion: ConfirmedAssertion,
    email: string | null,
    opts: { reason: PendingConfirmation['reason']; relayState: string; flow: AcsSuccess['flow'] },
  ): Promise<PendingConfirmation> {
    const token = randomBytes(32).toString('base64url');
    const browserNonce = randomBytes(32).toString('hex');
    const held: StoredConfirmation = {
      accountId: account.id,
      connectionId: connection.id,
      browserHash: hashNonce(browserNonce),
      relayState: opts.relayState,
      flow: opts.flow,
      assertion: {
        assertionId: assertion.assertionId,
        issuer: assertion.issuer,
        nameId: assertion.nameId,
        attributes: assertion.attributes,
        ...(assertion.protocol === 'oidc' ? { protocol: 'oidc' as const } : {}),
      },
    };
    await this.stores.oneTime.put(
      oneTimeKeys.confirmation(account.id, hashNonce(token)),
      JSON.stringify(held),
      CONFIRMATION_TTL_MS,
    );
    return {
      account,
      identity: email ?? assertion.nameId,
      token,
      browserNonce,
      expiresAt: new Date(Date.now() + CONFIRMATION_TTL_MS).toISOString(),
      reason: opts.reason,
    };
  }

  /**
   * SP-initiated answers must name an outstanding request of this connection, started in this browser
   * (login CSRF defence), and are consumed once. Unsolicited answers are IdP-initiated logins.
   */
  private async checkSolicitation(
    account: Account,
    connection: Connection,
    assertion: VerifiedAssertion,
    browserNonce: string | null,
  ): Promise<SignInStart> {
    if (assertion.inResponseTo === null) {
      if (!account.settings.idpInitiated) throw new SpError('SAML_IDP_INITIATED_DISABLED');
      return 'unsolicited';
    }
    const stored = await this.stores.oneTime.take(oneTimeKeys.request(connection.id, assertion.inResponseTo));
    if (stored === null) {
      throw new SpError('SAML_IN_RESPONSE_TO_UNKNOWN', { detail: `InResponseTo ${assertion.inResponseTo}` });
    }
    const crossSite = stored.endsWith(CROSS_SITE_MARK);
    const hash = crossSite ? stored.slice(0, -CROSS_SITE_MARK.length) : stored;
    if (browserNonce === null || !sameHash(hash, hashNonce(browserNonce))) {
      throw new SpError('SAML_BROWSER_MISMATCH', {
        detail: browserNonce === null ? 'no login cookie' : 'cookie mismatch',
      });
    }
    return crossSite ? 'cross-site-start' : 'same-site-start';
  }

  /** Audits an ACS request refused before it could be read (body too large, unparsable form). */
  async auditRejection(
    input: { slug: string; clientIp: string | null; referenceId: string },
    error: SpError,
  ): Promise<void> {
    let account: Account | null = null;
    try {
      account = await this.findAccount(input.slug);
    } catch (err) {
      this.logger.error({ err, referenceId: input.referenceId }, 'audit: account lookup failed');
    }
    await this.audit(input, account, null, null, {
      outcome: 'failure',
      code: error.code,
      userId: null,
      detail: 'rejected before parsing',
      error,
    });
  }

  /**
   * Records an ACS outcome in the account's trail. A post for a slug with no account is only logged:
   * writing it would let anyone turn a flood into database writes, and attributing it by slug would
   * show it to whoever creates that account later. The store caps every free-text field.
   */
  private async audit(
    input: AuditInput,
    account: Account | null,
    connection: Connection | OidcConnection | null,
    assertion: Pick<VerifiedAssertion, 'nameId'> | null,
    outcome: {
      outcome: 'success' | 'failure';
      code: string;
      userId: string | null;
      detail?: string | null;
      error?: SpError;
      /** A test sign-in: audited, but no event for the host (nobody signed in). */
      test?: boolean;
    },
  ): Promise<void> {
    // Counted once the outcome is final: a success whose audit write fails becomes a failure (below).
    const count = () => {
      if (outcome.test) return;
      const protocol =
        connection !== null ? (isOidc(connection) ? 'oidc' : 'saml') : (input.protocol ?? 'saml');
      this.onSignIn?.({ protocol, outcome: outcome.outcome, code: outcome.code });
    };
    if (outcome.outcome === 'failure') count();
    if (account === null) {
      this.logger.warn(
        {
          referenceId: input.referenceId,
          slug: input.slug.slice(0, UNKNOWN_SLUG_LOGGED),
          code: outcome.code,
          clientIp: input.clientIp?.slice(0, 64) ?? null,
        },
        'ACS post for no known account: logged only, not audited',
      );
      return;
    }
    const saml = connection !== null && !isOidc(connection) ? connection : null;
    const oidc = connection !== null && isOidc(connection) ? connection : null;
    const diagnosis = outcome.error
      ? diagnose(
          outcome.error,
          hintContext(this.settings.baseUrl, account, saml, this.settings.clockSkewMs / 1000, oidc),
        )
      : null;
    try {
      await this.stores.audit.record({
        referenceId: input.referenceId,
        at: new Date().toISOString(),
        accountId: account.id,
        accountSlug: account.slug,
        connectionId: connection?.id ?? null,
        outcome: outcome.outcome,
        code: outcome.code,
        subject: assertion?.nameId ?? null,
        userId: outcome.userId,
        clientIp: input.clientIp,
        // Only our own error detail; the raw response is never stored.
        detail: outcome.detail ?? null,
        expected: diagnosis?.expected ?? null,
        received: diagnosis?.received ?? null,
        hint: diagnosis?.hint ?? null,
      });
    } catch (err) {
      // A failed audit write must not turn a rejection into a different error; it is logged instead.
      this.logger.error({ err, referenceId: input.referenceId }, 'audit write failed');
      if (outcome.outcome === 'success') throw err;
    }
    if (outcome.outcome === 'success') count();
    if (outcome.test) return;
    this.emit(
      signInEvent({
        account: account.slug,
        protocol: connection === null ? null : isOidc(connection) ? 'oidc' : 'saml',
        outcome: outcome.outcome,
        code: outcome.code,
        userId: outcome.userId,
        subject: assertion?.nameId ?? null,
        referenceId: input.referenceId,
      }),
    );
  }

  private emitActivated(account: Account, connection: Connection | OidcConnection): void {
    this.emit({
      type: 'connection.activated',
      account: account.slug,
      protocol: isOidc(connection) ? 'oidc' : 'saml',
      connectionId: connection.id,
      at: new Date().toISOString(),
    });
  }
}

/** The request side of an audited outcome. */
interface AuditInput {
  slug: string;
  clientIp: string | null;
  referenceId: string;
  /** The protocol of the endpoint, for an outcome decided before any connection was found. */
  protocol?: 'saml' | 'oidc';
}

/** How a sign-in began, as far as the ACS can tell. */
type SignInStart = 'unsolicited' | 'cross-site-start' | 'same-site-start';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Login CSRF (Barth, Jackson & Mitchell, CCS 2008): whoever holds a valid unused assertion — any user
 * of the account's IdP, or the admin of another account — can make a victim's browser post it and be
 * signed in as them. A sign-in the user did not start here is therefore confirmed on our own page
 * first (unless the account opted out), and one that would silently replace the browser's session of
 * someone else is confirmed in every mode.
 */
function confirmationReason(
  account: Account,
  assertion: ConfirmedAssertion,
  start: SignInStart,
  current: CurrentSession | null,
): PendingConfirmation['reason'] | null {
  if (account.settings.loginConfirmation && start !== 'same-site-start') {
    return start === 'unsolicited' ? 'unsolicited' : 'cross-site-start';
  }
  if (
    current !== null &&
    !(
      current.via === 'sso' &&
      current.accountSlug === account.slug &&
      current.nameId === assertion.nameId &&
      (current.protocol ?? 'saml') === (assertion.protocol ?? 'saml')
    )
  ) {
    return 'replaces-session';
  }
  return null;
}

function toSsoError(err: unknown): SpError {
  return err instanceof SpError
    ? err
    : new SpError('INTERNAL', { cause: err, detail: err instanceof Error ? err.message : String(err) });
}
