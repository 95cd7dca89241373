/**
 * OAuth 2.0 / OpenID Connect connections: one schema for the settings (the admin API and, later, the
 * admin pages parse with it), validation, discovery, the encrypted client secret, the connection view,
 * and audit of every change. The client secret goes in and never comes out of here in clear, except to
 * the sign-in flow through {@link OidcConnectionService.clientSettings}.
 */
import { z } from 'zod';
import { actorText, newReferenceId, type Actor, type AuditTrail } from '../audit/trail.js';
import { SpError } from '../errors.js';
import { fieldMessage } from '../http/validation.js';
import { discover, type OidcClientSettings, type OidcEndpoints } from '../oidc/client.js';
import type { Account, OidcConnection, OidcConnectionInput, Stores } from '../storage/types.js';
import { SLUG } from '../accounts/slug.js';
import { checkOidcFetchTarget, oidcFetch } from './oidc-fetch.js';
import type { SecretBox } from './secret-box.js';
import { spUrls } from './urls.js';

const url = z.string().min(1).max(2048);

/** `PUT /api/accounts/:slug/oidc`: the one schema of the OIDC settings. */
export const oidcSettingsSchema = z
  .object({
    issuer: url,
    clientId: z.string().trim().min(1).max(512),
    clientSecret: z.string().min(1).max(2048).optional(),
    clientType: z.enum(['confidential', 'public']),
    tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post']).optional(),
    authorizationUrl: url.optional(),
    tokenUrl: url.optional(),
    jwksUri: url.optional(),
    userinfoUrl: url.optional(),
  })
  .strict();

/** The fields of {@link oidcSettingsSchema}, for messages. */
export const OIDC_SETTINGS_FIELDS = Object.keys(oidcSettingsSchema.shape);

/** Settings as sent (validated by the schema). */
export type OidcSettingsInput = z.infer<typeof oidcSettingsSchema>;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** How long discovery may take at configuration time, and each request of a sign-in, in seconds. */
export const OIDC_HTTP_TIMEOUT_SECONDS = 10;

/**
 * An issuer or endpoint URL: absolute https, or http on a loopback host outside production (a
 * provider on the admin's own machine); no credentials, no fragment (the issuer: no query either).
 */
export function validateOidcUrl(field: string, value: string, production: boolean): string {
  let parsed: URL;
  try {
    parsed = new URL(value.trim());
  } catch (err) {
    throw new SpError('OIDC_URL_INVALID', {
      cause: err,
      detail: `${field}: not an absolute URL`,
      received: field,
    });
  }
  const why =
    parsed.protocol === 'https:'
      ? null
      : parsed.protocol !== 'http:'
        ? `scheme ${parsed.protocol}`
        : !LOOPBACK.has(parsed.hostname)
          ? 'http:// outside localhost'
          : production
            ? 'http:// in production'
            : null;
  const problem =
    why ??
    (parsed.username || parsed.password
      ? 'credentials in URL'
      : parsed.hash
        ? 'fragment in URL'
        : field === 'issuer' && parsed.search
          ? 'query in issuer'
          : null);
  if (problem) {
    throw new SpError('OIDC_URL_INVALID', {
      detail: `${field}: ${problem}`,
      message: `Field "${field}": ${problem}. ${'The issuer and endpoint URLs must be absolute https:// URLs (http:// only for localhost outside production), without credentials or fragment.'}`,
    });
  }
  // The issuer is compared character for character with the ID token's `iss`: keep it as given
  // (URL#href would add a trailing slash to a bare origin, which another provider may not have).
  return field === 'issuer' ? value.trim() : parsed.href;
}

/** The token endpoint authentication method a configuration implies. */
function authMethod(input: OidcSettingsInput): OidcConnection['tokenEndpointAuthMethod'] {
  return input.clientType === 'public' ? 'none' : (input.tokenEndpointAuthMethod ?? 'client_secret_basic');
}

/** What an admin pastes into Auth0 for this connection. */
function auth0Values(
  conn: Pick<OidcConnection, 'clientType' | 'tokenEndpointAuthMethod'>,
  callbackUrl: string,
  loginUrl: string,
) {
  const web = conn.clientType === 'confidential';
  return {
    applicationType: web ? 'Regular Web Application' : 'Single Page Application',
    allowedCallbackUrls: callbackUrl,
    tokenEndpointAuthenticationMethod:
      conn.tokenEndpointAuthMethod === 'client_secret_post'
        ? 'Post'
        : conn.tokenEndpointAuthMethod === 'none'
          ? 'None'
          : 'Basic',
    steps: [
      `In Auth0, open Applications > Applications and open (or create) a ${web ? '"Regular Web Application"' : '"Single Page Application"'}.`,
      web
        ? 'Copy its Client ID and Client Secret (Settings > Basic Information): a Web application needs both.'
        : 'Copy its Client ID: a Single Page Application has no secret (it signs in with PKCE).',
      'Copy the issuer https://YOUR_TENANT.auth0.com/ (Advanced Settings > Endpoints), or the authorization, token and JSON Web Key Set endpoints.',
      `Add ${callbackUrl} to "Allowed Callback URLs" (several URLs are separated by commas) and save.`,
      `Run a test sign-in (the setup page's button, or POST /api/accounts/:slug/oidc/tests), or sign in once from ${loginUrl}: the connection becomes active.`,
    ],
  };
}

/** The OIDC connection as the admin API returns it (and the admin pages show it): never the secret. */
export function oidcConnectionView(baseUrl: string, account: Account, conn: OidcConnection) {
  const urls = spUrls(baseUrl, account.slug);
  return {
    protocol: 'oidc' as const,
    account: account.slug,
    loginUrl: urls.oidcLoginUrl,
    callbackUrl: urls.oidcCallbackUrl,
    callbackUrlNote:
      'Add callbackUrl to "Allowed Callback URLs" of the Auth0 application; several URLs are separated by commas there.',
    status: conn.status,
    activatedAt: conn.activatedAt,
    createdAt: conn.createdAt,
    updatedAt: conn.updatedAt,
    clientId: conn.clientId,
    clientType: conn.clientType,
    clientSecretSet: conn.clientSecretEnc !== null,
    tokenEndpointAuthMethod: conn.tokenEndpointAuthMethod,
    source: conn.source,
    issuer: conn.issuer,
    authorizationUrl: conn.authorizationUrl,
    tokenUrl: conn.tokenUrl,
    jwksUri: conn.jwksUri,
    userinfoUrl: conn.userinfoUrl,
    auth0: auth0Values(conn, urls.oidcCallbackUrl, urls.oidcLoginUrl),
  };
}

/** The JSON of {@link oidcConnectionView}. */
export type OidcConnectionView = ReturnType<typeof oidcConnectionView>;

/** Who changes a connection, for the audit trail. */
export interface ChangeContext {
  actor?: Actor;
  clientIp?: string | null;
}

/** OIDC connection administration, and the client settings a sign-in needs. */
export class OidcConnectionService {
  constructor(
    private readonly stores: Stores,
    private readonly box: SecretBox,
    private readonly options: {
      baseUrl: string;
      production: boolean;
      trail?: AuditTrail;
      clockSkewSeconds: number;
      timeoutSeconds?: number;
    },
  ) {}

  private async account(slug: string): Promise<Account> {
    const account = SLUG.test(slug) ? await this.stores.accounts.getBySlug(slug) : null;
    if (!account) throw new SpError('ACCOUNT_NOT_FOUND');
    return account;
  }

  private get timeout(): number {
    return this.options.timeoutSeconds ?? OIDC_HTTP_TIMEOUT_SECONDS;
  }

  /**
   * Parses and checks the settings, reads the discovery document when no endpoints are given, then
   * writes the connection (the previous one stays as it was on any error). Audited, success or not.
   */
  async configure(slug: string, body: unknown, ctx: ChangeContext = {}): Promise<OidcConnectionView> {
    const account = await this.account(slug);
    try {
      const input = this.parse(body);
      const endpoints = await this.endpoints(input);
      const write: OidcConnectionInput = {
        ...endpoints,
        clientId: input.clientId,
        clientSecretEnc:
          input.clientSecret === undefined ? null : this.box.seal(input.clientSecret, account.id),
        clientType: input.clientType,
        tokenEndpointAuthMethod: authMethod(input),
        source: input.authorizationUrl === undefined ? 'discovery' : 'manual',
      };
      const conn = await this.stores.oidcConnections.upsert(account.id, write);
      await this.audit(account, ctx, {
        outcome: 'success',
        code: 'OIDC_CONNECTION_CONFIGURED',
        detail: `OIDC connection configured: ${conn.clientType} client ${conn.clientId} of ${conn.issuer} (${conn.source})`,
      });
      return oidcConnectionView(this.options.baseUrl, account, conn);
    } catch (err) {
      if (err instanceof SpError && err.status < 500) {
        await this.audit(account, ctx, {
          outcome: 'failure',
          code: err.code,
          detail: `OIDC connection not configured: ${err.detail ?? err.message}`,
          error: err,
        });
      }
      throw err;
    }
  }

  /** The schema, then the rules that tie fields together (secret vs client type, endpoints). */
  parse(body: unknown): OidcSettingsInput {
    const parsed = oidcSettingsSchema.safeParse(body);
    if (!parsed.success) {
      throw new SpError('OIDC_CONFIG_INVALID', {
        message: `The OpenID Connect settings are invalid: ${fieldMessage(parsed.error, OIDC_SETTINGS_FIELDS)}`,
        detail: parsed.error.message,
      });
    }
    const input = parsed.data;
    if (input.clientType === 'confidential' && input.clientSecret === undefined) {
      throw new SpError('OIDC_CLIENT_SECRET_REQUIRED', {
        detail: 'confidential client without clientSecret',
      });
    }
    if (input.clientType === 'public' && input.clientSecret !== undefined) {
      throw new SpError('OIDC_CLIENT_SECRET_FORBIDDEN', { detail: 'public client with clientSecret' });
    }
    if (input.clientType === 'public' && input.tokenEndpointAuthMethod !== undefined) {
      throw new SpError('OIDC_CONFIG_INVALID', {
        message:
          'The OpenID Connect settings are invalid: field "tokenEndpointAuthMethod": a public client (Single Page Application) does not authenticate at the token endpoint; leave it out.',
        detail: 'public client with tokenEndpointAuthMethod',
      });
    }
    const explicit = (['authorizationUrl', 'tokenUrl', 'jwksUri'] as const).filter(
      (k) => input[k] !== undefined,
    );
    if (
      (explicit.length > 0 && explicit.length < 3) ||
      (explicit.length === 0 && input.userinfoUrl !== undefined)
    ) {
      const missing = (['authorizationUrl', 'tokenUrl', 'jwksUri'] as const).filter(
        (k) => input[k] === undefined,
      );
      throw new SpError('OIDC_CONFIG_INVALID', {
        message: `The OpenID Connect settings are invalid: give either "issuer" alone (discovery) or "issuer" with "authorizationUrl", "tokenUrl" and "jwksUri" (and optionally "userinfoUrl"); missing ${missing.map((m) => `"${m}"`).join(', ')}.`,
        detail: `explicit endpoints without ${missing.join(', ')}`,
      });
    }
    const production = this.options.production;
    const out: OidcSettingsInput = {
      ...input,
      issuer: validateOidcUrl('issuer', input.issuer, production),
    };
    for (const k of ['authorizationUrl', 'tokenUrl', 'jwksUri', 'userinfoUrl'] as const) {
      const v = input[k];
      if (v !== undefined) out[k] = validateOidcUrl(k, v, production);
    }
    return out;
  }

  /** The provider's HTTP client: the SSRF rules of src/connections/oidc-fetch.ts. */
  private get fetch() {
    return oidcFetch({ production: this.options.production, timeoutMs: this.timeout * 1000 });
  }

  /**
   * The endpoints this server fetches (token, JWKS, userinfo) must lead to allowed addresses: checked
   * now, so a connection that could only reach a private address is refused when configured (each
   * request of a sign-in is checked again: a name may resolve elsewhere later).
   */
  private async checkFetchTargets(endpoints: OidcEndpoints): Promise<OidcEndpoints> {
    for (const [field, value] of [
      ['tokenUrl', endpoints.tokenUrl],
      ['jwksUri', endpoints.jwksUri],
      ['userinfoUrl', endpoints.userinfoUrl],
    ] as const) {
      if (value !== null) await checkOidcFetchTarget(field, value, this.options.production);
    }
    return endpoints;
  }

  private async endpoints(input: OidcSettingsInput): Promise<OidcEndpoints> {
    if (input.authorizationUrl !== undefined && input.tokenUrl !== undefined && input.jwksUri !== undefined) {
      return this.checkFetchTargets({
        issuer: input.issuer,
        authorizationUrl: input.authorizationUrl,
        tokenUrl: input.tokenUrl,
        jwksUri: input.jwksUri,
        userinfoUrl: input.userinfoUrl ?? null,
        idTokenSigningAlgs: [],
      });
    }
    const endpoints = await discover(input.issuer, input.clientId, {
      allowHttp: !this.options.production,
      timeoutSeconds: this.timeout,
      fetch: this.fetch,
    });
    // A discovery document could point the browser or this server anywhere: its endpoints obey the
    // same rules as endpoints an admin types.
    for (const [field, value] of [
      ['authorizationUrl', endpoints.authorizationUrl],
      ['tokenUrl', endpoints.tokenUrl],
      ['jwksUri', endpoints.jwksUri],
      ['userinfoUrl', endpoints.userinfoUrl],
    ] as const) {
      if (value !== null) validateOidcUrl(field, value, this.options.production);
    }
    return this.checkFetchTargets(endpoints);
  }

  async get(slug: string): Promise<OidcConnectionView> {
    const account = await this.account(slug);
    const conn = await this.stores.oidcConnections.getByAccount(account.id);
    if (!conn) throw new SpError('OIDC_CONNECTION_NOT_FOUND');
    return oidcConnectionView(this.options.baseUrl, account, conn);
  }

  /** Deletes the connection; its users stay, orphaned (as SAML users are), until it is configured again. */
  async delete(slug: string, ctx: ChangeContext = {}): Promise<void> {
    const account = await this.account(slug);
    if (!(await this.stores.oidcConnections.delete(account.id)))
      throw new SpError('OIDC_CONNECTION_NOT_FOUND');
    await this.audit(account, ctx, {
      outcome: 'success',
      code: 'OIDC_CONNECTION_DELETED',
      detail: 'OIDC connection deleted',
    });
  }

  /** What a sign-in needs to talk to the provider: the endpoints and the client secret, opened. */
  clientSettings(conn: OidcConnection): OidcClientSettings {
    return {
      endpoints: {
        issuer: conn.issuer,
        authorizationUrl: conn.authorizationUrl,
        tokenUrl: conn.tokenUrl,
        jwksUri: conn.jwksUri,
        userinfoUrl: conn.userinfoUrl,
        idTokenSigningAlgs: conn.idTokenSigningAlgs,
      },
      clientId: conn.clientId,
      clientSecret:
        conn.clientSecretEnc === null ? null : this.openSecret(conn.clientSecretEnc, conn.accountId),
      tokenEndpointAuthMethod: conn.tokenEndpointAuthMethod,
      allowHttp: !this.options.production,
      clockToleranceSeconds: this.options.clockSkewSeconds,
      timeoutSeconds: this.timeout,
      fetch: this.fetch,
    };
  }

  private openSecret(box: string, accountId: string): string {
    try {
      return this.box.open(box, accountId);
    } catch (err) {
      // The SP key pair changed since the secret was stored (the box key derives from it).
      throw new SpError('OIDC_CLIENT_AUTH_FAILED', {
        cause: err,
        detail:
          'the stored client secret cannot be decrypted (SP_KEY_FILE changed?): configure the connection again',
      });
    }
  }

  private async audit(
    account: Account,
    ctx: ChangeContext,
    event: { outcome: 'success' | 'failure'; code: string; detail: string; error?: SpError },
  ): Promise<void> {
    const trail = this.options.trail;
    if (!trail) return;
    await trail.record(account, {
      referenceId: newReferenceId(),
      outcome: event.outcome,
      code: event.code,
      clientIp: ctx.clientIp ?? null,
      detail: `${event.detail}${ctx.actor ? ` ${actorText(ctx.actor)}` : ''}`,
      ...(event.error ? { error: event.error } : {}),
    });
  }
}
