/**
 * OAuth 2.0 / OpenID Connect protocol steps (no HTTP framework, no database): discovery, the
 * authorization request, and the callback (code exchange, ID token, userinfo). Every security-relevant
 * option of openid-client is set here, in one place, and never left to a library default:
 *
 * - authorization code flow with `state`, `nonce` and PKCE S256 on every sign-in, Web clients too;
 * - the ID token signature is verified against the provider's JWKS on every sign-in
 *   (`enableNonRepudiationChecks`: openid-client v6 otherwise trusts a token-endpoint response's ID
 *   token on the strength of TLS alone), with asymmetric algorithms only (never `none`, never HS*);
 * - `iss` compared exactly with the configured issuer (Auth0's ends with a slash), `aud` with the
 *   client ID, `exp`/`iat`/`nbf` with a bounded clock tolerance, `nonce` with the transaction's;
 * - userinfo, when fetched, must name the ID token's `sub`;
 * - plain http only when the caller allows it (loopback hosts outside production).
 *
 * Errors of openid-client / oauth4webapi are translated once, here, into catalogued {@link SpError}s
 * keeping the original as `cause`.
 */
import * as client from 'openid-client';
import { SpError, type ErrorCode } from '../errors.js';
import type { OidcTokenEndpointAuthMethod } from '../storage/types.js';

/** The provider's endpoints and what the flow needs of its metadata. */
export interface OidcEndpoints {
  issuer: string;
  authorizationUrl: string;
  tokenUrl: string;
  jwksUri: string;
  userinfoUrl: string | null;
  /** Asymmetric ID token signing algorithms the provider announces; empty means RS256. */
  idTokenSigningAlgs: string[];
}

/** Everything a sign-in needs to talk to the provider. */
export interface OidcClientSettings {
  endpoints: OidcEndpoints;
  clientId: string;
  /** Null for public clients (PKCE only). */
  clientSecret: string | null;
  tokenEndpointAuthMethod: OidcTokenEndpointAuthMethod;
  /** http:// endpoints are allowed (loopback hosts outside production only). */
  allowHttp: boolean;
  /** Allowed clock difference for `exp`, `iat`, `nbf`, seconds. */
  clockToleranceSeconds: number;
  /** Timeout of each request to the provider, seconds. */
  timeoutSeconds: number;
  /**
   * The HTTP client of every request to the provider (discovery, JWKS, token, userinfo): the caller's
   * network rules (SSRF) live there. Absent: the runtime's fetch.
   */
  fetch?: ProviderFetch;
}

/** A fetch with openid-client's `customFetch` signature. */
export type ProviderFetch = (
  url: string,
  options: {
    method: string;
    headers: Record<string, string>;
    body?: unknown;
    redirect?: 'manual';
    signal?: AbortSignal;
  },
) => Promise<Response>;

/** What the callback needs back from the start of a sign-in (kept in the transaction store). */
export interface OidcTransactionSecrets {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** The verified claims of a sign-in. */
export interface OidcSignIn {
  /** ID token claims (verified), completed by userinfo claims when userinfo was fetched. */
  claims: Record<string, unknown>;
  sub: string;
  issuer: string;
}

/** Scopes requested: an ID token, the e-mail (and whether it is verified), the name. */
export const OIDC_SCOPES = 'openid email profile';

/** Algorithms an ID token may be signed with: asymmetric only, so the JWKS decides. */
const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

/** The asymmetric subset of a provider's announced ID token algorithms. */
export function asymmetricAlgs(values: unknown): string[] {
  return Array.isArray(values)
    ? values.filter((v): v is string => typeof v === 'string' && ASYMMETRIC.test(v))
    : [];
}

function clientAuth(s: OidcClientSettings): client.ClientAuth {
  switch (s.tokenEndpointAuthMethod) {
    case 'none':
      return client.None();
    case 'client_secret_post':
      return client.ClientSecretPost(s.clientSecret ?? '');
    case 'client_secret_basic':
      return client.ClientSecretBasic(s.clientSecret ?? '');
  }
}

/** The openid-client configuration of a connection, with the checks above switched on. */
export function configuration(s: OidcClientSettings): client.Configuration {
  const algs = s.endpoints.idTokenSigningAlgs.length > 0 ? s.endpoints.idTokenSigningAlgs : ['RS256'];
  const config = new client.Configuration(
    {
      issuer: s.endpoints.issuer,
      authorization_endpoint: s.endpoints.authorizationUrl,
      token_endpoint: s.endpoints.tokenUrl,
      jwks_uri: s.endpoints.jwksUri,
      ...(s.endpoints.userinfoUrl ? { userinfo_endpoint: s.endpoints.userinfoUrl } : {}),
      id_token_signing_alg_values_supported: algs,
      code_challenge_methods_supported: ['S256'],
    },
    s.clientId,
    {
      // The client metadata decides the accepted algorithms before the provider's metadata does.
      id_token_signed_response_alg: algs[0],
      [client.clockTolerance]: s.clockToleranceSeconds,
    },
    clientAuth(s),
  );
  config.timeout = s.timeoutSeconds;
  if (s.fetch) config[client.customFetch] = s.fetch;
  // Forged ID tokens (another key under the same kid, alg none, HS256 with a guessed secret): without
  // this, openid-client v6 does not verify the signature of an ID token from the token endpoint.
  client.enableNonRepudiationChecks(config);
  if (s.allowHttp) client.allowInsecureRequests(config);
  return config;
}

/**
 * Reads the issuer's discovery document. The document must name exactly the issuer given (OpenID
 * Connect Discovery 1.0 §4.3: an attacker's document cannot impersonate another issuer).
 */
export async function discover(
  issuer: string,
  clientId: string,
  opts: { allowHttp: boolean; timeoutSeconds: number; fetch?: ProviderFetch },
): Promise<OidcEndpoints> {
  let config: client.Configuration;
  try {
    config = await client.discovery(new URL(issuer), clientId, undefined, undefined, {
      timeout: opts.timeoutSeconds,
      ...(opts.fetch ? { [client.customFetch]: opts.fetch } : {}),
      ...(opts.allowHttp ? { execute: [client.allowInsecureRequests] } : {}),
    });
  } catch (err) {
    throw translateDiscoveryError(err, issuer);
  }
  const meta = config.serverMetadata();
  const missing = (['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const).filter(
    (k) => typeof meta[k] !== 'string',
  );
  if (missing.length > 0) {
    throw new SpError('OIDC_DISCOVERY_FAILED', {
      detail: `discovery document without ${missing.join(', ')}`,
      received: `no ${missing.join(', ')}`,
    });
  }
  return {
    issuer: meta.issuer,
    authorizationUrl: meta.authorization_endpoint!,
    tokenUrl: meta.token_endpoint!,
    jwksUri: meta.jwks_uri!,
    userinfoUrl: typeof meta.userinfo_endpoint === 'string' ? meta.userinfo_endpoint : null,
    idTokenSigningAlgs: asymmetricAlgs(meta.id_token_signing_alg_values_supported),
  };
}

/** The authorization request URL and the secrets the callback will need. */
export async function authorizationRequest(
  s: OidcClientSettings,
  redirectUri: string,
  /** The `state` to send (default: a random one). */
  state: string = client.randomState(),
): Promise<{ url: string; secrets: OidcTransactionSecrets }> {
  const secrets = {
    state,
    nonce: client.randomNonce(),
    codeVerifier: client.randomPKCECodeVerifier(),
  };
  const url = client.buildAuthorizationUrl(configuration(s), {
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: OIDC_SCOPES,
    state: secrets.state,
    nonce: secrets.nonce,
    code_challenge: await client.calculatePKCECodeChallenge(secrets.codeVerifier),
    code_challenge_method: 'S256',
  });
  return { url: url.href, secrets };
}

/**
 * Completes a sign-in from the callback URL (the redirect URI with the provider's query): exchanges
 * the code (with the PKCE verifier), verifies the ID token, and fetches userinfo when the provider has
 * an endpoint for it. The caller has matched `state` to the browser's transaction already; it is
 * checked here once more.
 */
export async function completeSignIn(
  s: OidcClientSettings,
  callbackUrl: URL,
  secrets: OidcTransactionSecrets,
): Promise<OidcSignIn> {
  const config = configuration(s);
  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: secrets.codeVerifier,
      expectedNonce: secrets.nonce,
      expectedState: secrets.state,
      idTokenExpected: true,
    });
  } catch (err) {
    throw translateSignInError(err);
  }
  const idClaims = tokens.claims();
  if (!idClaims) throw new SpError('OIDC_ID_TOKEN_INVALID', { detail: 'no ID token in the token response' });
  const claims: Record<string, unknown> = { ...idClaims };
  if (s.endpoints.userinfoUrl && typeof tokens.access_token === 'string') {
    try {
      const info = await client.fetchUserInfo(
        config,
        tokens.access_token,
        // Userinfo of another user must never complete this user's profile (OpenID Connect Core §5.3.2).
        idClaims.sub,
      );
      // The ID token is signed; userinfo only fills what it left out.
      for (const [k, v] of Object.entries(info)) if (!(k in claims)) claims[k] = v;
    } catch (err) {
      throw translateSignInError(err, 'userinfo');
    }
  }
  return { claims, sub: idClaims.sub, issuer: idClaims.iss };
}

interface ErrorShape {
  code?: unknown;
  error?: unknown;
  error_description?: unknown;
  cause?: unknown;
}

const text = (v: unknown): string | undefined =>
  typeof v === 'string' ? v.replace(/[\p{Cc}]/gu, ' ').slice(0, 300) : undefined;

/**
 * The details object of an openid-client error: openid-client wraps oauth4webapi's error (whose
 * `cause` holds the claim, the expected value, the header…) in a ClientError with the same code.
 */
function detailsOf(e: ErrorShape): unknown {
  return e.cause instanceof Error ? (e.cause as ErrorShape).cause : e.cause;
}

function providerText(e: ErrorShape): string {
  const description = text(e.error_description);
  return `${text(e.error) ?? 'error'}${description ? `: ${description}` : ''}`;
}

/** A network failure (refused, DNS, TLS, timeout) rather than an answer. */
function isNetworkError(err: unknown): boolean {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return true;
  if (err instanceof TypeError) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error || (typeof cause === 'object' && cause !== null && 'code' in cause);
  }
  return false;
}

function networkDetail(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  return text(cause?.code) ?? text(cause?.message) ?? (err instanceof Error ? err.name : 'network error');
}

/**
 * A catalogued error the caller's fetch threw (an address refused by the network rules), wherever
 * openid-client wrapped it.
 */
function ownError(err: unknown): SpError | null {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    if (e instanceof SpError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

function translateDiscoveryError(err: unknown, issuer: string): SpError {
  const own = ownError(err);
  if (own) return own;
  const e = (err ?? {}) as ErrorShape;
  const cause = (detailsOf(e) ?? {}) as { attribute?: unknown; body?: { issuer?: unknown } };
  if (e.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' && cause.attribute === 'issuer') {
    return new SpError('OIDC_ISSUER_MISMATCH', {
      cause: err,
      detail: 'discovery document names another issuer',
      expected: issuer,
      received: text(cause.body?.issuer) ?? '(none)',
    });
  }
  const received = isNetworkError(err)
    ? `unreachable: ${networkDetail(err)}`
    : err instanceof Error
      ? text(err.message)
      : undefined;
  return new SpError('OIDC_DISCOVERY_FAILED', {
    cause: err,
    detail: `discovery of ${issuer}: ${received ?? 'failed'}`,
    ...(received ? { received } : {}),
  });
}

const ID_TOKEN_REQUIRED = ['iss', 'sub', 'aud', 'exp', 'iat'];

function claimCode(claim: unknown): ErrorCode {
  switch (claim) {
    case 'iss':
      return 'OIDC_ID_TOKEN_ISSUER_MISMATCH';
    case 'aud':
    case 'azp':
      return 'OIDC_ID_TOKEN_AUDIENCE_MISMATCH';
    case 'nonce':
      return 'OIDC_ID_TOKEN_NONCE_MISMATCH';
    default:
      return 'OIDC_ID_TOKEN_INVALID';
  }
}

/** Translates an error of the callback steps (code exchange, ID token, userinfo). */
export function translateSignInError(err: unknown, step: 'token' | 'userinfo' = 'token'): SpError {
  const own = ownError(err);
  if (own) return own;
  if (err instanceof client.AuthorizationResponseError) {
    return providerError(err, 'authorization');
  }
  if (err instanceof client.ResponseBodyError) {
    return providerError(err, step);
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    // A 401 with WWW-Authenticate (RFC 6749 §5.2: how a token endpoint refuses client credentials).
    const params = (err.cause as { parameters?: { error?: unknown; error_description?: unknown } }[])
      .map((c) => c.parameters ?? {})
      .find((p) => typeof p.error === 'string');
    return providerError(
      {
        error:
          typeof params?.error === 'string' ? params.error : err.status === 401 ? 'invalid_client' : 'error',
        error_description:
          typeof params?.error_description === 'string' ? params.error_description : undefined,
        cause: err,
      },
      step,
    );
  }
  if (isNetworkError(err)) {
    return new SpError('OIDC_PROVIDER_UNAVAILABLE', {
      cause: err,
      detail: `${step} endpoint: ${networkDetail(err)}`,
      received: networkDetail(err),
    });
  }
  const e = (err ?? {}) as ErrorShape;
  const cause = (detailsOf(e) ?? {}) as {
    claim?: unknown;
    attribute?: unknown;
    expected?: unknown;
    claims?: Record<string, unknown>;
    body?: Record<string, unknown>;
    header?: { alg?: unknown; kid?: unknown };
    signature?: unknown;
  };
  const detail = err instanceof Error ? text(err.message) : undefined;
  const base = { cause: err, ...(detail ? { detail: `${step}: ${detail}` } : {}) };
  if (step === 'userinfo') {
    if (e.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' && cause.attribute === 'sub') {
      return new SpError('OIDC_USERINFO_SUBJECT_MISMATCH', {
        ...base,
        expected: text(cause.expected) ?? '',
        received: text(cause.body?.sub) ?? '(none)',
      });
    }
    return new SpError('OIDC_USERINFO_INVALID', base);
  }
  switch (e.code) {
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED': {
      const claimed = cause.claims?.[typeof cause.claim === 'string' ? cause.claim : ''];
      return new SpError(claimCode(cause.claim), {
        ...base,
        ...(typeof cause.expected === 'string' ? { expected: cause.expected } : {}),
        received: text(typeof claimed === 'string' ? claimed : JSON.stringify(claimed ?? null)) ?? '',
      });
    }
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return new SpError('OIDC_ID_TOKEN_EXPIRED', {
        ...base,
        received: `${text(cause.claim) ?? 'timestamp'} ${JSON.stringify(cause.claims?.[String(cause.claim)] ?? null)}`,
      });
    case 'OAUTH_KEY_SELECTION_FAILED':
    case 'OAUTH_UNSUPPORTED_OPERATION':
      return new SpError('OIDC_ID_TOKEN_SIGNATURE_INVALID', base);
    case 'OAUTH_INVALID_RESPONSE':
    case 'OAUTH_PARSE_ERROR': {
      if (cause.signature !== undefined || cause.header !== undefined) {
        return new SpError('OIDC_ID_TOKEN_SIGNATURE_INVALID', {
          ...base,
          ...(cause.header ? { received: `alg ${text(cause.header.alg) ?? '?'}` } : {}),
        });
      }
      // A nonce was expected (it always is): an ID token without one answers no sign-in of ours.
      const claims = cause.claims;
      if (claims && ID_TOKEN_REQUIRED.every((c) => claims[c] !== undefined) && claims.nonce === undefined) {
        return new SpError('OIDC_ID_TOKEN_NONCE_MISMATCH', { ...base, received: '(no nonce)' });
      }
      return new SpError('OIDC_ID_TOKEN_INVALID', base);
    }
    default:
      return new SpError('OIDC_ID_TOKEN_INVALID', base);
  }
}

/** An OAuth error response (RFC 6749 §4.1.2.1, §5.2) as a catalogued error naming what to fix. */
function providerError(
  err: { error: string; error_description?: string | undefined; cause?: unknown },
  step: 'authorization' | 'token' | 'userinfo',
): SpError {
  const received = providerText(err);
  const opts = { cause: err, detail: `${step} endpoint: ${received}`, received };
  if (step === 'userinfo') return new SpError('OIDC_USERINFO_INVALID', opts);
  if (err.error === 'invalid_client' || err.error === 'unauthorized_client') {
    return new SpError('OIDC_CLIENT_AUTH_FAILED', opts);
  }
  if (step === 'token') return new SpError('OIDC_TOKEN_REQUEST_FAILED', opts);
  if (err.error === 'access_denied') return new SpError('OIDC_ACCESS_DENIED', opts);
  // Providers that redirect back on a redirect_uri mismatch say so in the description; most show
  // their own error page instead (then the admin finds the hint on the connection's page).
  if (/redirect_uri|callback/i.test(err.error_description ?? '')) {
    return new SpError('OIDC_CALLBACK_URL_REJECTED', opts);
  }
  return new SpError('OIDC_PROVIDER_ERROR', opts);
}
