import { actorText, newReferenceId, type Actor, type AuditTrail } from '../audit/trail.js';
import { isSpError, SpError } from '../errors.js';
import { derBase64ToPem, parseIdpMetadata } from '../saml/idp-metadata.js';
import type {
  Account,
  AccountSettings,
  ChangeGuard,
  Connection,
  ConnectionInput,
  Stores,
} from '../storage/types.js';
import { lastAdminGuard, ssoAdmins } from '../users/roles.js';
import { parseCertificates } from './pem.js';
import { fetchMetadata, validateMetadataUrl } from './fetch-metadata.js';
import { spUrls, type SpUrls } from './urls.js';
import { SLUG } from '../accounts/slug.js';

/** What an admin sends to import the IdP: certificate + SAML Protocol URL, or metadata XML. */
/** Who changes a connection, and from where, for the audit trail (nothing is recorded without an actor). */
export interface ConnectionChange {
  actor?: Actor;
  clientIp?: string | null;
}

export type IdpImport =
  | { kind: 'manual'; certificate: string | Buffer; ssoUrl: string; idpEntityId?: string | null }
  | { kind: 'metadata'; metadataXml: string }
  /** Fetched now from the URL (SSRF-safe, see fetch-metadata.ts) and refreshed on a schedule. */
  | { kind: 'metadataUrl'; metadataUrl: string };

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Validates the IdP SSO URL: absolute https (http only for localhost), no credentials. */
export function validateSsoUrl(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) {
    throw new SpError('SSO_URL_INVALID', { detail: 'missing or too long' });
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch (err) {
    throw new SpError('SSO_URL_INVALID', { cause: err, detail: 'not an absolute URL' });
  }
  const local = LOCAL_HOSTS.has(url.hostname);
  if (!(url.protocol === 'https:' || (url.protocol === 'http:' && local))) {
    throw new SpError('SSO_URL_INVALID', { detail: `scheme ${url.protocol}` });
  }
  if (url.username || url.password) throw new SpError('SSO_URL_INVALID', { detail: 'credentials in URL' });
  if (url.hash) throw new SpError('SSO_URL_INVALID', { detail: 'fragment in URL' });
  // Auth0 shows the metadata URL right beside the SAML Protocol URL: a common mix-up that would send
  // every user to an XML document instead of a sign-in page.
  if (/\/samlp\/metadata(\/|$)/.test(url.pathname) || /\/metadata(\.xml)?$/i.test(url.pathname)) {
    throw new SpError('SSO_URL_INVALID', {
      detail: 'metadata URL given as the SAML Protocol URL',
      message: `This looks like the IdP's metadata URL, not its SAML Protocol URL. In Auth0 (Addons > SAML2 Web App > Usage) copy the "SAML Protocol URL" (https://TENANT.auth0.com/samlp/CLIENT_ID), or upload the metadata file instead.`,
    });
  }
  return url.toString();
}

/** Validates an IdP entity ID (a URI or URN, no whitespace). */
export function validateEntityId(value: unknown): string {
  if (typeof value !== 'string' || !/^[^\s\p{Cc}]{1,1024}$/u.test(value)) {
    throw new SpError('IDP_ENTITY_ID_INVALID');
  }
  return value;
}

/** The exact values an admin pastes into Auth0's SAML2 Web App addon. */
export function auth0Settings(urls: Pick<SpUrls, 'acsUrl' | 'spEntityId' | 'loginUrl'>) {
  const claims = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
  return {
    applicationCallbackUrl: urls.acsUrl,
    addonSettings: {
      audience: urls.spEntityId,
      recipient: urls.acsUrl,
      destination: urls.acsUrl,
      mappings: {
        user_id: `${claims}/nameidentifier`,
        email: `${claims}/emailaddress`,
        name: `${claims}/name`,
        given_name: `${claims}/givenname`,
        family_name: `${claims}/surname`,
        upn: `${claims}/upn`,
        groups: 'http://schemas.xmlsoap.org/claims/Group',
      },
      nameIdentifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
      nameIdentifierProbes: [`${claims}/nameidentifier`],
      signatureAlgorithm: 'rsa-sha256',
      digestAlgorithm: 'sha256',
      signResponse: false,
      lifetimeInSeconds: 3600,
    },
    steps: [
      'In Auth0, open Applications > Applications > your application > Addons and enable "SAML2 Web App".',
      `On its Settings tab, set "Application Callback URL" to ${urls.acsUrl}.`,
      'Replace the Settings JSON with addonSettings (below) and click Enable.',
      'On the application Settings tab > Advanced Settings > Certificates, download the certificate in PEM format; under Endpoints copy the "SAML Protocol URL". Import both here.',
      `Sign in once, from ${urls.loginUrl} or from the Auth0 application tile: the connection becomes active.`,
    ],
  };
}

/** An ISO instant as `YYYY-MM-DD HH:MM:SS UTC` (for messages). */
const utc = (iso: string): string => iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');

/** Connection JSON, as the admin API returns it. */
export function connectionView(baseUrl: string, account: Account, conn: Connection) {
  const { oidcLoginUrl: _oidcLogin, oidcCallbackUrl: _oidcCallback, ...urls } = spUrls(baseUrl, account.slug);
  const soon = Date.now() + 30 * 24 * 3600 * 1000;
  return {
    account: account.slug,
    ...urls,
    ssoUrl: conn.ssoUrl,
    idpEntityId: conn.idpEntityId,
    idpEntityIdSource: conn.idpEntityIdSource,
    status: conn.status,
    activatedAt: conn.activatedAt,
    createdAt: conn.createdAt,
    updatedAt: conn.updatedAt,
    certificates: conn.certificates.map(({ fingerprintSha256, subject, notBefore, notAfter }) => ({
      fingerprintSha256,
      subject,
      notBefore,
      notAfter,
    })),
    // The IdP metadata URL this connection was imported from (`metadataUrl` above is the SP's own).
    idpMetadataUrl: conn.metadataUrl,
    idpMetadataRefreshedAt: conn.metadataRefreshedAt,
    idpMetadataRefreshError: conn.metadataRefreshError,
    settings: account.settings,
    warnings: [
      ...(conn.metadataRefreshError
        ? [
            `The IdP metadata could not be refreshed on ${utc(conn.metadataRefreshError.at)}: ${conn.metadataRefreshError.message} The last good metadata${conn.metadataRefreshedAt ? ` (fetched ${utc(conn.metadataRefreshedAt)})` : ''} stays in use.`,
          ]
        : []),
      ...conn.certificates
        .filter((c) => Date.parse(c.notAfter) < soon)
        .map((c) =>
          conn.metadataUrl
            ? `Certificate ${c.fingerprintSha256} expires on ${c.notAfter}: its successor is picked up from the metadata URL once the IdP publishes it.`
            : `Certificate ${c.fingerprintSha256} expires on ${c.notAfter}: import its successor.`,
        ),
    ],
    auth0: auth0Settings(urls),
  };
}

/** Account JSON. */
export function accountView(baseUrl: string, account: Account) {
  const urls = spUrls(baseUrl, account.slug);
  return {
    id: account.id,
    slug: account.slug,
    name: account.name,
    createdAt: account.createdAt,
    settings: account.settings,
    metadataUrl: urls.metadataUrl,
    acsUrl: urls.acsUrl,
    loginUrl: urls.loginUrl,
  };
}

/** Account and IdP-connection administration. */
export class ConnectionService {
  constructor(
    private readonly stores: Stores,
    private readonly baseUrl: string,
    /**
     * `production`: certificates whose key ships with saml-sp-kit are refused (CERT_PUBLISHED_KEY).
     * `trail`: where settings changes are audited.
     */
    private readonly options: {
      production?: boolean;
      trail?: AuditTrail;
      /** Time limit of one metadata URL fetch (redirects included). */
      metadataFetchTimeoutMs?: number;
    } = {},
  ) {}

  /** Aborts metadata fetches in flight when the app closes. */
  private readonly shutdown = new AbortController();

  /** Stops: fetches in flight are aborted and record nothing. */
  stop(): void {
    this.shutdown.abort(new Error('shutting down'));
  }

  /** The IdP values of a metadata document, validated exactly as an uploaded one. */
  private metadataWrite(xml: string): ConnectionInput {
    const meta = parseIdpMetadata(xml);
    return {
      ssoUrl: validateSsoUrl(meta.ssoUrl),
      idpEntityId: validateEntityId(meta.entityId),
      idpEntityIdSource: 'metadata',
      certificates: parseCertificates(meta.signingCertificates.map(derBase64ToPem).join(''), new Date(), {
        refusePublishedKeys: this.options.production === true,
      }),
    };
  }

  /**
   * Fetches and validates the metadata at `url`. Every failure is a coded SpError whose message names
   * the URL; a document that is not valid metadata says so, with the parser's reason.
   */
  private async fetchMetadataWrite(url: string): Promise<ConnectionInput> {
    const xml = await fetchMetadata(url, {
      production: this.options.production === true,
      ...(this.options.metadataFetchTimeoutMs === undefined
        ? {}
        : { timeoutMs: this.options.metadataFetchTimeoutMs }),
      signal: this.shutdown.signal,
    });
    try {
      return { ...this.metadataWrite(xml), metadataUrl: url };
    } catch (err) {
      if (!isSpError(err)) throw err;
      throw new SpError(err.code, {
        cause: err,
        detail: err.detail ?? err.message,
        message: `metadataUrl: ${url.slice(0, 700)} did not return usable IdP metadata: ${err.message}`,
      });
    }
  }

  async createAccount(input: { slug: unknown; name: unknown }) {
    if (typeof input.slug !== 'string' || !SLUG.test(input.slug)) throw new SpError('ACCOUNT_SLUG_INVALID');
    const name = typeof input.name === 'string' ? input.name.trim() : '';
    if (!name || name.length > 200) {
      throw new SpError('REQUEST_INVALID', { message: 'name is required (1 to 200 characters).' });
    }
    return accountView(this.baseUrl, await this.stores.accounts.create({ slug: input.slug, name }));
  }

  async account(slug: string): Promise<Account> {
    const account = SLUG.test(slug) ? await this.stores.accounts.getBySlug(slug) : null;
    if (!account) throw new SpError('ACCOUNT_NOT_FOUND');
    return account;
  }

  async getAccount(slug: string) {
    return accountView(this.baseUrl, await this.account(slug));
  }

  /**
   * Changes the account's settings. Switching SSO-only on needs an active connection, and (unless the
   * caller accepts that only the operator's command line can recover access) an admin who has signed in
   * with SSO: the password admins it switches off would otherwise be the only ones (SSO_ONLY_NO_SSO_ADMIN).
   * Without that acceptance the lockout rule applies to every change (editing `adminGroups` can remove
   * the last admin too). Both are judged inside the write's transaction, so a concurrent user change
   * cannot slip between check and write.
   */
  async updateSettings(
    slug: string,
    patch: Partial<AccountSettings>,
    opts: { acceptCliRecoveryOnly?: boolean; actor?: Actor; clientIp?: string | null } = {},
  ) {
    const account = await this.account(slug);
    const next = { ...account.settings, ...patch };
    const accept = opts.acceptCliRecoveryOnly === true;
    const guard: ChangeGuard = (before, after) => {
      if (after.account.settings.ssoOnly && !before.account.settings.ssoOnly) {
        if (after.connection?.status !== 'active' && after.oidcConnection?.status !== 'active') {
          throw new SpError('SETTINGS_INVALID', {
            message:
              'SSO-only can be turned on once single sign-on is active (after a first successful SSO login).',
          });
        }
        if (!accept && ssoAdmins(after).length === 0) {
          throw new SpError('SSO_ONLY_NO_SSO_ADMIN', { detail: `account ${after.account.slug}` });
        }
      }
      if (!accept) lastAdminGuard(before, after);
    };
    const updated = await this.stores.accounts.updateSettings(account.id, next, guard);
    await this.auditSettings(account, updated, opts);
    return accountView(this.baseUrl, updated);
  }

  /** One SETTINGS_CHANGED event naming each changed setting, old and new, and who changed it. */
  private async auditSettings(
    before: Account,
    after: Account,
    opts: { acceptCliRecoveryOnly?: boolean; actor?: Actor; clientIp?: string | null },
  ): Promise<void> {
    const trail = this.options.trail;
    if (!trail || !opts.actor) return;
    const keys = Object.keys(after.settings) as (keyof AccountSettings)[];
    const changes = keys
      .filter((k) => JSON.stringify(before.settings[k]) !== JSON.stringify(after.settings[k]))
      .map((k) => `${k}: ${JSON.stringify(before.settings[k])} -> ${JSON.stringify(after.settings[k])}`);
    if (changes.length === 0) return;
    const accepted = opts.acceptCliRecoveryOnly ? ' (recovery through the command line only accepted)' : '';
    await trail.record(after, {
      referenceId: newReferenceId(),
      outcome: 'success',
      code: 'SETTINGS_CHANGED',
      clientIp: opts.clientIp ?? null,
      detail: `${changes.join('; ')} ${actorText(opts.actor)}${accepted}`,
    });
  }

  /** Validates the whole import first; only a fully valid import is written (the old one stays otherwise). */
  async importIdp(slug: string, input: IdpImport, change: ConnectionChange = {}) {
    const account = await this.account(slug);
    const certOptions = { refusePublishedKeys: this.options.production === true };
    const source =
      input.kind === 'metadataUrl'
        ? 'metadata URL'
        : input.kind === 'metadata'
          ? 'metadata'
          : 'certificate and SSO URL';
    let conn: Connection;
    try {
      let write: ConnectionInput;
      if (input.kind === 'metadata') {
        write = this.metadataWrite(input.metadataXml);
      } else if (input.kind === 'metadataUrl') {
        const url = validateMetadataUrl(input.metadataUrl, this.options.production === true).toString();
        write = await this.fetchMetadataWrite(url);
      } else {
        const entityId =
          input.idpEntityId == null || input.idpEntityId === '' ? null : validateEntityId(input.idpEntityId);
        write = {
          certificates: parseCertificates(input.certificate, new Date(), certOptions),
          ssoUrl: validateSsoUrl(input.ssoUrl),
          idpEntityId: entityId,
          idpEntityIdSource: entityId === null ? null : 'admin',
        };
      }
      conn = await this.stores.connections.upsert(account.id, write);
    } catch (err) {
      // A refused import is recorded too: the admin (or whoever else tried) finds it in the trail.
      if (err instanceof SpError && err.status < 500) {
        await this.auditConnection(account, change, {
          outcome: 'failure',
          code: err.code,
          detail: `SAML IdP not imported (${source}): ${err.detail ?? err.message}`,
          error: err,
        });
      }
      throw err;
    }
    await this.auditConnection(account, change, {
      outcome: 'success',
      code: 'IDP_CONNECTION_IMPORTED',
      detail: `SAML IdP imported (${source}): SSO URL ${conn.ssoUrl}, issuer ${conn.idpEntityId ?? '(pinned at the first sign-in)'}, certificates ${conn.certificates.map((c) => c.fingerprintSha256).join(', ')}`,
    });
    return connectionView(this.baseUrl, account, conn);
  }

  /** One event of the trail about the SAML connection, naming who made the change. */
  private async auditConnection(
    account: Account,
    change: ConnectionChange,
    event: { outcome: 'success' | 'failure'; code: string; detail: string; error?: SpError },
  ): Promise<void> {
    const trail = this.options.trail;
    if (!trail || !change.actor) return;
    await trail.record(account, {
      referenceId: newReferenceId(),
      outcome: event.outcome,
      code: event.code,
      clientIp: change.clientIp ?? null,
      detail: `${event.detail} ${actorText(change.actor)}`,
      ...(event.error ? { error: event.error } : {}),
    });
  }

  /**
   * Refreshes the account's connection from its metadata URL now (an admin's "Refresh now"). A failure
   * is recorded on the connection (the last good metadata stays) and thrown.
   */
  async refreshNow(slug: string, actor?: Actor) {
    const account = await this.account(slug);
    const conn = await this.stores.connections.getByAccount(account.id);
    if (!conn) throw new SpError('CONNECTION_NOT_FOUND');
    if (!conn.metadataUrl) throw new SpError('METADATA_URL_MISSING');
    const result = await this.refreshConnection(account, conn, actor);
    if (result.error) throw result.error;
    const current = result.connection ?? (await this.stores.connections.getByAccount(account.id));
    if (!current) throw new SpError('CONNECTION_NOT_FOUND');
    return connectionView(this.baseUrl, account, current);
  }

  /**
   * Refreshes every connection imported from a metadata URL whose last attempt is older than
   * `staleBefore` (ISO 8601). Each is claimed first, so of several instances running this at once only
   * one fetches it. Never throws; returns how many were refreshed (successfully or not).
   */
  async refreshDue(staleBefore: string, onError: (err: unknown) => void = () => {}): Promise<number> {
    let count = 0;
    let list: Connection[];
    try {
      list = await this.stores.connections.listWithMetadataUrl();
    } catch (err) {
      onError(err);
      return 0;
    }
    for (const conn of list) {
      if (this.shutdown.signal.aborted) break;
      try {
        const claimed = await this.stores.connections.claimMetadataRefresh(
          conn.id,
          conn.metadataUrl!,
          staleBefore,
          new Date().toISOString(),
        );
        if (!claimed) continue;
        const account = await this.stores.accounts.getById(conn.accountId);
        if (!account) continue;
        await this.refreshConnection(account, conn);
        count++;
      } catch (err) {
        onError(err);
      }
    }
    return count;
  }

  /**
   * One refresh: fetch, validate, and write the outcome (only while the connection still has this URL).
   * Same certificates, SSO URL and entity ID as stored: only the refresh time changes. A failure keeps
   * the stored values and records the error. Changes and failures are audited.
   */
  private async refreshConnection(
    account: Account,
    conn: Connection,
    actor?: Actor,
  ): Promise<{ connection: Connection | null; error: SpError | null }> {
    const url = conn.metadataUrl!;
    const by = actor ? actorText(actor) : 'by the scheduled refresh';
    let write: ConnectionInput;
    try {
      write = await this.fetchMetadataWrite(url);
    } catch (err) {
      if (this.shutdown.signal.aborted) return { connection: null, error: null };
      const error = isSpError(err)
        ? err
        : new SpError('METADATA_FETCH_FAILED', {
            cause: err,
            message: `metadataUrl: ${url.slice(0, 700)} could not be fetched.`,
          });
      const at = new Date().toISOString();
      const stored = await this.stores.connections.recordMetadataRefresh(conn.id, url, {
        kind: 'failed',
        error: { at, code: error.code, message: error.message },
      });
      if (stored) {
        await this.options.trail?.record(account, {
          referenceId: newReferenceId(),
          outcome: 'failure',
          code: error.code,
          detail: `IdP metadata refresh from ${url.slice(0, 300)} failed ${by}: ${error.message} (the last good metadata stays in use)`,
          error,
        });
      }
      return { connection: stored, error };
    }
    const at = new Date().toISOString();
    const fingerprints = (c: { certificates: { fingerprintSha256: string }[] }) =>
      c.certificates.map((x) => x.fingerprintSha256).sort();
    const before = fingerprints(conn);
    const after = fingerprints(write);
    const changes: string[] = [];
    const added = after.filter((f) => !before.includes(f));
    const removed = before.filter((f) => !after.includes(f));
    if (added.length > 0) changes.push(`certificates added: ${added.join(', ')}`);
    if (removed.length > 0) changes.push(`certificates removed: ${removed.join(', ')}`);
    if (write.ssoUrl !== conn.ssoUrl) changes.push(`ssoUrl: ${conn.ssoUrl} -> ${write.ssoUrl}`);
    if (write.idpEntityId !== conn.idpEntityId) {
      changes.push(`idpEntityId: ${conn.idpEntityId ?? 'none'} -> ${write.idpEntityId ?? 'none'}`);
    }
    const { metadataUrl: _url, ...input } = write;
    const stored = await this.stores.connections.recordMetadataRefresh(
      conn.id,
      url,
      changes.length === 0 ? { kind: 'unchanged', at } : { kind: 'replaced', at, input },
    );
    if (stored && changes.length > 0) {
      await this.options.trail?.record(account, {
        referenceId: newReferenceId(),
        outcome: 'success',
        code: 'IDP_METADATA_REFRESHED',
        detail: `IdP metadata refreshed from ${url.slice(0, 300)} ${by}: ${changes.join('; ')}`,
      });
    }
    return { connection: stored, error: null };
  }

  async getConnection(slug: string) {
    const account = await this.account(slug);
    const conn = await this.stores.connections.getByAccount(account.id);
    if (!conn) throw new SpError('CONNECTION_NOT_FOUND');
    return connectionView(this.baseUrl, account, conn);
  }

  async deleteConnection(slug: string, change: ConnectionChange = {}): Promise<void> {
    const account = await this.account(slug);
    if (!(await this.stores.connections.delete(account.id))) throw new SpError('CONNECTION_NOT_FOUND');
    await this.auditConnection(account, change, {
      outcome: 'success',
      code: 'IDP_CONNECTION_DELETED',
      detail: 'SAML IdP connection deleted',
    });
  }
}
