import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { SpError } from '../errors.js';
import { publishedKeyOf } from '../connections/published-keys.js';
import { spUrls } from '../connections/urls.js';
import { buildLoginRedirect } from '../saml/authn-request.js';
import type { SamlContext } from '../saml/options.js';
import { spMetadataXml } from '../saml/sp-metadata.js';
import { validateResponse, type VerifiedAssertion } from '../saml/validate-response.js';
import type { Account, Connection, Stores } from '../storage/types.js';
import { mapAttributes } from '../users/attributes.js';
import { provisionUser, type ProvisionHook, type ProvisionedUser } from '../users/provision.js';

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
}

/** A successful ACS outcome. */
export interface AcsSuccess {
  account: Account;
  user: ProvisionedUser;
  assertion: VerifiedAssertion;
  referenceId: string;
}

const hashNonce = (nonce: string): string => createHash('sha256').update(nonce).digest('hex');

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
};

/** SP-initiated login, SP metadata and the Assertion Consumer Service. */
export class SsoService {
  constructor(
    private readonly stores: Stores,
    private readonly keys: SpKeys,
    private readonly settings: SsoSettings,
    private readonly logger: Logger,
    private readonly hook?: ProvisionHook,
  ) {}

  private async load(slug: string): Promise<{ account: Account; connection: Connection | null }> {
    const account = /^[a-z0-9][a-z0-9-]{1,62}$/.test(slug)
      ? await this.stores.accounts.getBySlug(slug)
      : null;
    if (!account) throw new SpError('ACCOUNT_NOT_FOUND');
    return { account, connection: await this.stores.connections.getByAccount(account.id) };
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
    const trusted = pems.filter((pem) => publishedKeyOf(pem) === null);
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
  async startLogin(slug: string, relayState: string, browserNonce: string): Promise<string> {
    const { account, connection } = await this.load(slug);
    if (!connection) throw new SpError('SSO_NOT_CONFIGURED');
    const { url, requestId } = await buildLoginRedirect(this.context(account, connection), relayState);
    await this.stores.oneTime.put(
      oneTimeKeys.request(connection.id, requestId),
      hashNonce(browserNonce),
      this.settings.requestTtlMs,
    );
    return url;
  }

  /**
   * Validates a posted SAMLResponse, provisions the user and lets the caller establish the session
   * (`establish`) before the connection is activated and the success audited. Every outcome is audited;
   * a failure at any step (session store included) is audited as that failure.
   */
  async consume(
    input: {
      slug: string;
      samlResponse: unknown;
      browserNonce: string | null;
      clientIp: string | null;
      referenceId: string;
    },
    establish: (success: AcsSuccess) => Promise<void>,
  ): Promise<AcsSuccess> {
    let account: Account | null = null;
    let connection: Connection | null = null;
    let assertion: VerifiedAssertion | null = null;
    try {
      ({ account, connection } = await this.load(input.slug));
      if (!connection) throw new SpError('SSO_NOT_CONFIGURED');
      assertion = await validateResponse(
        input.samlResponse,
        this.context(account, connection, this.trustedCertificates(connection)),
      );
      // Replay: an assertion ID is accepted once per connection, remembered until it could no longer
      // be accepted anyway. claim() is atomic, so of concurrent posts exactly one wins.
      const ttl = Math.max(assertion.replayUntilMs - Date.now(), 1000);
      if (!(await this.stores.oneTime.claim(oneTimeKeys.assertion(account.id, assertion.assertionId), ttl))) {
        throw new SpError('SAML_REPLAY', { detail: `assertion ${assertion.assertionId}` });
      }
      await this.checkSolicitation(account, connection, assertion, input.browserNonce);
      const profile = mapAttributes(assertion.attributes, assertion.nameId);
      const user = await provisionUser(
        this.stores.users,
        account,
        connection,
        assertion.nameId,
        profile,
        assertion.attributes,
        this.hook,
      );
      const success = { account, user, assertion, referenceId: input.referenceId };
      await establish(success);
      await this.stores.connections.recordSuccessfulLogin(
        connection.id,
        connection.idpEntityId === null ? assertion.issuer : null,
      );
      await this.audit(input, account, connection, assertion, {
        outcome: 'success',
        code: 'OK',
        userId: user.id,
      });
      return success;
    } catch (err) {
      const error =
        err instanceof SpError
          ? err
          : new SpError('INTERNAL', { cause: err, detail: err instanceof Error ? err.message : String(err) });
      await this.audit(input, account, connection, assertion, {
        outcome: 'failure',
        code: error.code,
        userId: null,
        detail: error.detail ?? null,
      });
      throw error;
    }
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
  ): Promise<void> {
    if (assertion.inResponseTo === null) {
      if (!account.settings.idpInitiated) throw new SpError('SAML_IDP_INITIATED_DISABLED');
      return;
    }
    const stored = await this.stores.oneTime.take(oneTimeKeys.request(connection.id, assertion.inResponseTo));
    if (stored === null) {
      throw new SpError('SAML_IN_RESPONSE_TO_UNKNOWN', { detail: `InResponseTo ${assertion.inResponseTo}` });
    }
    if (browserNonce === null || !sameHash(stored, hashNonce(browserNonce))) {
      throw new SpError('SAML_BROWSER_MISMATCH', {
        detail: browserNonce === null ? 'no login cookie' : 'cookie mismatch',
      });
    }
  }

  /** Audits an ACS request refused before it could be read (body too large, unparsable form). */
  async auditRejection(
    input: { slug: string; clientIp: string | null; referenceId: string },
    code: string,
  ): Promise<void> {
    await this.audit(input, null, null, null, {
      outcome: 'failure',
      code,
      userId: null,
      detail: 'rejected before parsing',
    });
  }

  private async audit(
    input: { slug: string; clientIp: string | null; referenceId: string },
    account: Account | null,
    connection: Connection | null,
    assertion: VerifiedAssertion | null,
    outcome: { outcome: 'success' | 'failure'; code: string; userId: string | null; detail?: string | null },
  ): Promise<void> {
    try {
      await this.stores.audit.record({
        referenceId: input.referenceId,
        at: new Date().toISOString(),
        accountSlug: account?.slug ?? input.slug.slice(0, 64),
        connectionId: connection?.id ?? null,
        outcome: outcome.outcome,
        code: outcome.code,
        subject: assertion?.nameId ?? null,
        userId: outcome.userId,
        clientIp: input.clientIp,
        // Only our own error detail; the raw response is never stored.
        detail: outcome.detail?.slice(0, 500) ?? null,
      });
    } catch (err) {
      // A failed audit write must not turn a rejection into a different error; it is logged instead.
      this.logger.error({ err, referenceId: input.referenceId }, 'audit write failed');
      if (outcome.outcome === 'success') throw err;
    }
  }
}
