/**
 * The one error catalogue of saml-sp-kit.
 *
 * Every error that reaches a client carries a `code` from the closed {@link ErrorCode} union, an HTTP
 * status and a public message that is safe to show to anyone. The private `detail` (and the original
 * `cause`) go to logs and the audit trail only. Routers never match on message strings: lower-layer
 * errors are translated once, where they enter our code.
 */

interface CatalogEntry {
  readonly status: number;
  readonly message: string;
}

const catalog = {
  // configuration and caller mistakes
  REQUEST_INVALID: { status: 400, message: 'The request is invalid.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request content type is not supported.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  AUTH_REQUIRED: { status: 401, message: 'Authentication is required.' },
  FORBIDDEN: { status: 403, message: 'You are not allowed to do this.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests. Try again later.' },
  STORE_UNAVAILABLE: { status: 503, message: 'A storage backend is unavailable. Try again shortly.' },
  METRICS_UNAVAILABLE: {
    status: 503,
    message: 'The metrics of every worker could not be gathered. Try again shortly.',
  },
  INTERNAL: { status: 500, message: 'Something went wrong on our side.' },
  HTTPS_REQUIRED: {
    status: 400,
    message:
      'This sign-in reached the server over plain http, but the site is https, so no secure session could be set. Administrator: if TLS ends at a proxy or load balancer, set TRUST_PROXY to it and make it send X-Forwarded-Proto: https.',
  },

  // accounts
  ACCOUNT_SLUG_INVALID: {
    status: 400,
    message:
      'An account name has 2 to 63 lower-case letters, digits and dashes, and starts with a letter or digit.',
  },
  ACCOUNT_EXISTS: { status: 409, message: 'An account with this slug already exists.' },
  ACCOUNT_NOT_FOUND: { status: 404, message: 'No such account.' },

  // users and the account's admins
  USER_NOT_FOUND: { status: 404, message: 'This account has no such user.' },
  LAST_ADMIN: {
    status: 409,
    message:
      'This change would leave the account without an administrator who can sign in. Give another user who can sign in the admin role first.',
  },
  SSO_ONLY_NO_SSO_ADMIN: {
    status: 409,
    message:
      'SSO-only would lock every administrator out: no user with the admin role has signed in with single sign-on yet. Sign in once with single sign-on as an administrator (a member of an admin group, or a user given the admin role), or confirm that you accept recovery through the operator command line only ("acceptCliRecoveryOnly": true).',
  },

  // IdP import
  CONNECTION_NOT_FOUND: { status: 404, message: 'This account has no SAML connection.' },
  CERT_MISSING: { status: 400, message: 'An IdP signing certificate is required.' },
  CERT_INVALID: {
    status: 400,
    message: 'The certificate is not a valid X.509 certificate in PEM or DER form.',
  },
  CERT_IS_PRIVATE_KEY: {
    status: 400,
    message:
      'This is a private key, not a certificate. Never share a private key: upload the IdP signing certificate (PEM) instead, and rotate the key if it was exposed.',
  },
  CERT_EXPIRED: { status: 400, message: 'The certificate has expired.' },
  CERT_NOT_YET_VALID: { status: 400, message: 'The certificate is not valid yet.' },
  CERT_WEAK_KEY: {
    status: 400,
    message:
      'The certificate key is too weak or of an unsupported type: use RSA of at least 2048 bits, EC on P-256, P-384 or P-521, or Ed25519.',
  },
  CERT_PUBLISHED_KEY: {
    status: 400,
    message:
      "This certificate's key is public: it ships with saml-sp-kit for tests and demos, so anyone can sign with it. Upload your IdP's real signing certificate.",
  },
  SSO_URL_INVALID: {
    status: 400,
    message:
      'The SAML Protocol URL must be an absolute https:// URL (http:// is allowed for localhost only).',
  },
  IDP_ENTITY_ID_INVALID: { status: 400, message: 'The IdP entity ID is invalid.' },
  METADATA_INVALID: { status: 400, message: 'The IdP metadata XML is invalid.' },
  METADATA_DOCTYPE_FORBIDDEN: {
    status: 400,
    message: 'The IdP metadata contains a DOCTYPE, which is not allowed.',
  },
  METADATA_URL_INVALID: {
    status: 400,
    message: 'The metadata URL must be an absolute https:// URL without credentials or a fragment.',
  },
  METADATA_URL_FORBIDDEN: {
    status: 400,
    message:
      'The metadata URL leads to an address that may not be fetched (private, loopback, link-local or another non-public address).',
  },
  METADATA_FETCH_FAILED: { status: 400, message: 'The IdP metadata could not be fetched from its URL.' },
  METADATA_FETCH_TIMEOUT: { status: 400, message: 'The metadata URL did not answer in time.' },
  METADATA_TOO_LARGE: { status: 400, message: 'The document at the metadata URL is too large.' },
  METADATA_URL_MISSING: {
    status: 409,
    message:
      'This connection was not imported from a metadata URL, so there is nothing to refresh. Import it with { "metadataUrl": "https://…" } first.',
  },
  SETTINGS_INVALID: { status: 400, message: 'The account settings are invalid.' },
  AUDIT_QUERY_INVALID: {
    status: 400,
    message:
      'The audit filter is invalid: outcome is success or failure, code is an error code or OK, limit is 1 to 500.',
  },

  // SSO
  SSO_NOT_CONFIGURED: { status: 404, message: 'Single sign-on is not configured for this account.' },
  SAML_RESPONSE_MISSING: { status: 400, message: 'The request carries no SAMLResponse.' },
  SAML_RESPONSE_MALFORMED: { status: 400, message: 'The SAML response is not well-formed.' },
  SAML_DOCTYPE_FORBIDDEN: {
    status: 400,
    message: 'The SAML response contains a DOCTYPE or entity declaration, which is not allowed.',
  },
  SAML_XML_COMMENT_FORBIDDEN: {
    status: 400,
    message: 'The SAML response contains XML comments or processing instructions, which are not allowed.',
  },
  SAML_NOT_A_RESPONSE: { status: 400, message: 'The message is not a SAML 2.0 Response.' },
  SAML_RESPONSE_TOO_COMPLEX: {
    status: 400,
    message:
      'The SAML response is too complex: too many XML elements, attributes, namespace declarations or references, nested too deeply, or a name, value or text too long.',
  },
  SAML_STATUS_NOT_SUCCESS: { status: 401, message: 'The identity provider did not sign you in.' },
  SAML_ASSERTION_COUNT: { status: 400, message: 'The SAML response must contain exactly one assertion.' },
  SAML_DUPLICATE_ID: { status: 400, message: 'The SAML response contains duplicate IDs.' },
  SAML_SIGNATURE_MISSING: { status: 401, message: 'The SAML response is not signed.' },
  SAML_SIGNATURE_INVALID: {
    status: 401,
    message: 'The SAML response signature is not valid for any certificate of this connection.',
  },
  SAML_WEAK_ALGORITHM: {
    status: 401,
    message:
      'The SAML response is signed with SHA-1. In the Auth0 SAML2 Web App addon settings set "signatureAlgorithm": "rsa-sha256" and "digestAlgorithm": "sha256".',
  },
  SAML_ALGORITHM_UNSUPPORTED: { status: 401, message: 'The SAML response uses an unsupported algorithm.' },
  SAML_ENCRYPTED_ASSERTION_INVALID: {
    status: 401,
    message: 'The encrypted assertion could not be decrypted.',
  },
  SAML_AUDIENCE_MISMATCH: {
    status: 401,
    message: 'The assertion is meant for another application (audience mismatch).',
  },
  SAML_DESTINATION_MISMATCH: { status: 401, message: 'The SAML response was sent to another destination.' },
  SAML_RECIPIENT_MISMATCH: { status: 401, message: 'The assertion was issued for another recipient.' },
  SAML_ISSUER_MISMATCH: { status: 401, message: 'The assertion comes from an unexpected issuer.' },
  SAML_NOT_YET_VALID: { status: 401, message: 'The assertion is not valid yet (check the clocks).' },
  SAML_EXPIRED: { status: 401, message: 'The assertion has expired. Sign in again.' },
  SAML_SUBJECT_CONFIRMATION_INVALID: {
    status: 401,
    message: 'The assertion has no valid bearer subject confirmation.',
  },
  SAML_NAMEID_MISSING: { status: 401, message: 'The assertion does not name a subject.' },
  SAML_NAMEID_INVALID: {
    status: 401,
    message:
      'The assertion names its subject with invisible characters at the start or end, or with control characters.',
  },
  SAML_IN_RESPONSE_TO_UNKNOWN: {
    status: 401,
    message: 'This sign-in was not started here, has expired or was already used. Sign in again.',
  },
  SAML_IN_RESPONSE_TO_MISMATCH: {
    status: 401,
    message: 'The response does not answer the expected request.',
  },
  SAML_BROWSER_MISMATCH: {
    status: 401,
    message: 'This sign-in was started in another browser. Sign in again from this browser.',
  },
  SAML_IDP_INITIATED_DISABLED: {
    status: 403,
    message:
      'Sign-in from the identity provider dashboard is turned off for this account. Use the login page.',
  },
  LOGIN_CONFIRMATION_INVALID: {
    status: 400,
    message:
      'This sign-in confirmation has expired, was already used or was opened in another browser. Sign in again.',
  },
  SETUP_LINK_INVALID: {
    status: 410,
    message: 'This setup link has expired or was revoked. Ask for a new one.',
  },
  SIGN_IN_TEST_LINK_INVALID: {
    status: 410,
    message: 'This test sign-in link was already used, has expired or belongs to a replaced connection.',
  },
  SAML_REPLAY: { status: 401, message: 'This assertion was already used. Sign in again.' },
  SAML_RESPONSE_INVALID: { status: 401, message: 'The SAML response is not valid.' },
  SAML_EMAIL_MISSING: {
    status: 403,
    message: 'Your identity provider did not send an e-mail address, which this account requires.',
  },
  USER_EMAIL_DOMAIN_NOT_ALLOWED: {
    status: 403,
    message: 'Your e-mail domain is not allowed to sign in to this account.',
  },
  PROVISIONING_REJECTED: { status: 403, message: 'Your user could not be provisioned in this account.' },
  USER_IS_DISABLED: {
    status: 403,
    message: 'Your user is disabled in this account. Ask your administrator to enable it.',
  },
  LOGIN_FAILED: { status: 401, message: 'Wrong e-mail or password.' },
  CSRF_INVALID: { status: 403, message: 'The form expired. Reload the page and try again.' },

  // OAuth 2.0 / OpenID Connect connections (admin API)
  OIDC_CONNECTION_NOT_FOUND: { status: 404, message: 'This account has no OpenID Connect connection.' },
  OIDC_CONFIG_INVALID: { status: 400, message: 'The OpenID Connect settings are invalid.' },
  OIDC_CLIENT_SECRET_REQUIRED: {
    status: 400,
    message:
      'A confidential client (Auth0 application type "Regular Web Application") needs both the client ID and the client secret: the Authorization Code flow exchanges the code for tokens with the secret. Paste the Client Secret, or choose "public" for a Single Page Application.',
  },
  OIDC_CLIENT_SECRET_FORBIDDEN: {
    status: 400,
    message:
      'A public client (Auth0 application type "Single Page Application") has only a client ID: providing both the client ID and the client secret will fail. Remove the client secret, or choose "confidential" for a Regular Web Application.',
  },
  OIDC_URL_INVALID: {
    status: 400,
    message:
      'The issuer and endpoint URLs must be absolute https:// URLs (http:// only for localhost outside production), without credentials or fragment.',
  },
  OIDC_URL_FORBIDDEN: {
    status: 400,
    message:
      'An OpenID Connect URL leads to an address that may not be fetched (private, loopback, link-local or another non-public address).',
  },
  OIDC_DISCOVERY_FAILED: {
    status: 400,
    message:
      "The issuer's discovery document (/.well-known/openid-configuration) could not be read: check the issuer URL (Auth0: https://YOUR_TENANT.auth0.com/), or give the endpoints explicitly.",
  },
  OIDC_ISSUER_MISMATCH: {
    status: 400,
    message:
      'The discovery document names another issuer than the one given. Use the issuer exactly as the provider publishes it (Auth0: with the trailing slash).',
  },

  // OAuth 2.0 / OpenID Connect sign-in
  OIDC_TRANSACTION_INVALID: {
    status: 401,
    message: 'This sign-in was not started in this browser, has expired or was already used. Sign in again.',
  },
  OIDC_STATE_MISMATCH: {
    status: 401,
    message: 'The sign-in answer does not belong to the sign-in started in this browser. Sign in again.',
  },
  OIDC_ACCESS_DENIED: { status: 403, message: 'The identity provider did not sign you in (access denied).' },
  OIDC_CALLBACK_URL_REJECTED: {
    status: 400,
    message: "The identity provider refused this site's callback URL.",
  },
  OIDC_PROVIDER_ERROR: { status: 400, message: 'The identity provider answered with an error.' },
  OIDC_CLIENT_AUTH_FAILED: {
    status: 401,
    message:
      'The identity provider refused the client credentials of this connection (invalid_client). An administrator must fix the client secret or type.',
  },
  OIDC_TOKEN_REQUEST_FAILED: {
    status: 400,
    message: 'The identity provider refused to exchange the sign-in code. Sign in again.',
  },
  OIDC_PROVIDER_UNAVAILABLE: {
    status: 502,
    message: 'The identity provider could not be reached. Try again shortly.',
  },
  OIDC_ID_TOKEN_INVALID: { status: 401, message: 'The ID token is missing or invalid.' },
  OIDC_ID_TOKEN_SIGNATURE_INVALID: {
    status: 401,
    message: "The ID token signature is not valid for any key of the provider's JWKS.",
  },
  OIDC_ID_TOKEN_ISSUER_MISMATCH: { status: 401, message: 'The ID token comes from an unexpected issuer.' },
  OIDC_ID_TOKEN_AUDIENCE_MISMATCH: {
    status: 401,
    message: 'The ID token is meant for another application (audience mismatch).',
  },
  OIDC_ID_TOKEN_EXPIRED: {
    status: 401,
    message: 'The ID token has expired or is not valid yet (check the clocks). Sign in again.',
  },
  OIDC_ID_TOKEN_NONCE_MISMATCH: {
    status: 401,
    message: 'The ID token does not answer the sign-in started here (nonce mismatch).',
  },
  OIDC_EMAIL_NOT_VERIFIED: {
    status: 403,
    message: 'Your e-mail address is not verified at the identity provider: verify it, then sign in again.',
  },
  OIDC_EMAIL_MISSING: {
    status: 403,
    message: 'Your identity provider did not send an e-mail address, which this account requires.',
  },
  OIDC_USERINFO_SUBJECT_MISMATCH: {
    status: 401,
    message: 'The user information does not belong to the user of the ID token.',
  },
  OIDC_USERINFO_INVALID: {
    status: 401,
    message: 'The user information from the identity provider is invalid.',
  },

  // bots and their tokens (admin API)
  BOT_INVALID: {
    status: 400,
    message: 'Send { "name": "<1 to 100 characters>", "role": "admin" | "member" } and nothing else.',
  },
  BOT_NOT_FOUND: { status: 404, message: 'This account has no such bot.' },
  BOT_DISABLED: { status: 409, message: 'This bot is disabled: it cannot be given new tokens.' },
  BOT_TOKEN_NOT_FOUND: { status: 404, message: 'This bot has no such token.' },
  TOKEN_LIFETIME_INVALID: {
    status: 400,
    message:
      'expiresInSeconds is an integer from 60 to 31622400 (366 days), or null for a token that never expires.',
  },

  // bot tokens presented as `Authorization: Bearer <jwt>`
  TOKEN_MALFORMED: { status: 401, message: 'The bearer token is not a well-formed bot token.' },
  TOKEN_TYPE_INVALID: { status: 401, message: 'The bearer token is not a bot token of this deployment.' },
  TOKEN_KEY_UNKNOWN: {
    status: 401,
    message: 'The bearer token is signed with a key this deployment does not (or no longer) accept.',
  },
  TOKEN_ALGORITHM_INVALID: {
    status: 401,
    message: 'The bearer token uses an algorithm its key does not allow.',
  },
  TOKEN_SIGNATURE_INVALID: { status: 401, message: 'The bearer token signature is not valid.' },
  TOKEN_ISSUER_MISMATCH: { status: 401, message: 'The bearer token was issued by another deployment.' },
  TOKEN_AUDIENCE_MISMATCH: { status: 401, message: 'The bearer token is meant for another audience.' },
  TOKEN_EXPIRED: { status: 401, message: 'The bearer token has expired. Ask an admin for a new one.' },
  TOKEN_CLAIMS_INVALID: { status: 401, message: 'The bearer token claims are invalid.' },
  TOKEN_UNKNOWN: { status: 401, message: 'The bearer token was not issued by this deployment.' },
  TOKEN_REVOKED: { status: 401, message: 'The bearer token was revoked.' },
  TOKEN_BOT_DISABLED: { status: 401, message: 'The bot of this bearer token is disabled.' },
} as const satisfies Record<string, CatalogEntry>;

/** Every error code the kit can emit. */
export type ErrorCode = keyof typeof catalog;

/** All error codes with their HTTP status and public message (for documentation and tests). */
export const errorCatalog: Readonly<Record<ErrorCode, CatalogEntry>> = catalog;

/** Options for {@link SpError}. */
export interface SpErrorOptions {
  /** Private detail for logs and the audit trail; never shown to end users. */
  detail?: string;
  /** The lower-layer error this one translates. */
  cause?: unknown;
  /** Overrides the catalogue's public message (must stay safe to show). */
  message?: string;
  /** For diagnosis (admins only): the value this SP expected. */
  expected?: string;
  /**
   * For diagnosis (admins only): the value the message carried. Read from content no signature has
   * vouched for when the check ran before signature verification: shown to admins as unverified.
   */
  received?: string;
  /** For diagnosis: how long the response was valid (NotOnOrAfter − IssueInstant), in seconds. */
  lifetimeSeconds?: number;
  /** `received` was read from content no signature had vouched for (yet). */
  unverified?: boolean;
}

/** The error type of saml-sp-kit: a catalogued code, an HTTP status and a public message. */
export class SpError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly expected: string | undefined;
  readonly received: string | undefined;
  readonly lifetimeSeconds: number | undefined;
  readonly unverified: boolean;

  constructor(code: ErrorCode, options: SpErrorOptions = {}) {
    super(
      options.message ?? catalog[code].message,
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.name = 'SpError';
    this.code = code;
    this.status = catalog[code].status;
    this.detail = options.detail;
    this.expected = options.expected;
    this.received = options.received;
    this.lifetimeSeconds = options.lifetimeSeconds;
    this.unverified = options.unverified ?? false;
  }
}

/** True for a {@link SpError}, optionally of one code. */
export function isSpError(value: unknown, code?: ErrorCode): value is SpError {
  return value instanceof SpError && (code === undefined || value.code === code);
}
