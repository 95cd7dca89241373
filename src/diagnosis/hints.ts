/**
 * What an admin should change when a sign-in fails: one entry per error code, next to the catalogue
 * (src/errors.ts), naming the IdP setting (Auth0's SAML2 Web App addon first) and the exact value.
 * `test/unit/hints.test.ts` keeps every code covered and checks that the SAML hints carry values.
 */
import { MAX_CLOCK_SKEW_SECONDS } from '../config/schema.js';
import type { ErrorCode } from '../errors.js';

/** What a hint may quote about the connection. */
export interface HintContext {
  /** This account's ACS URL (Auth0: Application Callback URL, addon `recipient` / `destination`). */
  acsUrl: string;
  /** This account's SP entity ID (Auth0: addon `audience`). */
  spEntityId: string;
  /** Where an SP-initiated sign-in starts. */
  loginUrl: string;
  /** The issuer this connection trusts, when known. */
  idpEntityId: string | null;
  /** SHA-256 fingerprints of the trusted IdP certificates. */
  trustedFingerprints: readonly string[];
  /** Allowed clock difference, seconds. */
  clockSkewSeconds: number;
  /** The account's e-mail domain allow-list. */
  allowedEmailDomains: readonly string[];
  /** This account's OIDC callback URL (Auth0: "Allowed Callback URLs"). */
  oidcCallbackUrl: string;
  /** Where an OIDC sign-in starts. */
  oidcLoginUrl: string;
  /** The OIDC issuer this account trusts, when configured. */
  oidcIssuer: string | null;
  /** The OIDC client ID, when configured. */
  oidcClientId: string | null;
  /** The OIDC client type, when configured. */
  oidcClientType: 'confidential' | 'public' | null;
}

/** The facts of one failure: the value expected and the value received (either may be unknown). */
export interface Facts {
  expected?: string | undefined;
  received?: string | undefined;
  /** How long the response was valid (NotOnOrAfter − IssueInstant), when known. */
  lifetimeSeconds?: number | undefined;
}

const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
const ADDON =
  'In Auth0, open Applications > Applications > your application > Addons > SAML2 Web App > Settings';
const CERT_DOWNLOAD =
  'Download the current signing certificate from Auth0 (Applications > your application > Settings > Advanced Settings > Certificates, "Download Certificate" as PEM, or https://YOUR_TENANT.auth0.com/pem) and import it here';

const AUTH0_APP = 'In Auth0, open Applications > Applications > your application > Settings';

const oidcCallbackHint: Hint = (f, c) =>
  `${AUTH0_APP}: add ${c.oidcCallbackUrl} to "Allowed Callback URLs" (several URLs are separated by commas) and save.` +
  (f.received ? ` The provider said: ${f.received}.` : '');

const seconds = (n: number): string => `${n} second${Math.abs(n) === 1 ? '' : 's'}`;

/** Seconds between two ISO instants, when both parse. */
function secondsBetween(a: string | undefined, b: string | undefined): number | null {
  const x = a === undefined ? NaN : Date.parse(a);
  const y = b === undefined ? NaN : Date.parse(b);
  return Number.isFinite(x) && Number.isFinite(y) ? Math.round((x - y) / 1000) : null;
}

type Hint = (facts: Facts, ctx: HintContext) => string;

const generic =
  (text: string): Hint =>
  () =>
    text;

const callbackHint: Hint = (f, c) => {
  const other = otherAccountOf(f.received, c.acsUrl);
  if (other !== null) {
    // Another account's IdP application posts to this account's ACS: nothing to change here.
    return `This response was addressed to the ACS of another account of this site, "${other}" (${f.received}), and posted here: in the Auth0 application of "${other}", Addons > SAML2 Web App > Settings, "Application Callback URL" names this account's ACS instead of ${f.received}. Its admin sets it to ${f.received}; nothing changes for this account.`;
  }
  return (
    `${ADDON}: set "recipient" and "destination" to "${c.acsUrl}" (or remove both: they default to the Application Callback URL), and on the addon's Settings tab set "Application Callback URL" to ${c.acsUrl}.` +
    (f.received ? ` The response was addressed to ${f.received}.` : '')
  );
};

/** The slug of another account of this site whose ACS `received` is, or null. */
function otherAccountOf(received: string | undefined, acsUrl: string): string | null {
  const ours = /^(.*\/sso\/)([^/]+)\/acs$/.exec(acsUrl);
  if (!ours || received === undefined || !received.startsWith(ours[1]!)) return null;
  const slug = /^([a-z0-9-]{2,63})\/acs$/.exec(received.slice(ours[1]!.length))?.[1];
  return slug !== undefined && slug !== ours[2] ? slug : null;
}

/** One hint per code of the catalogue. */
export const hints: Readonly<Record<ErrorCode, Hint>> = {
  REQUEST_INVALID: generic(
    'Check the request against the API documentation; the message says what is wrong.',
  ),
  PAYLOAD_TOO_LARGE: generic(
    'Send a smaller body; SAML responses larger than MAX_SAML_RESPONSE_BYTES are refused.',
  ),
  UNSUPPORTED_MEDIA_TYPE: generic('Send application/json or multipart/form-data.'),
  NOT_FOUND: generic('Check the URL.'),
  AUTH_REQUIRED: generic('Sign in, or send Authorization: Bearer with a valid token.'),
  FORBIDDEN: generic('Use an account admin of this account, or the operator token.'),
  RATE_LIMITED: generic(
    'Wait for the Retry-After delay; raise the RATE_LIMIT_* settings if real traffic hits them.',
  ),
  STORE_UNAVAILABLE: generic(
    'A storage backend (database or Redis) did not answer: check GET /readyz and the server logs. Nothing was half-written; the user can try again.',
  ),
  METRICS_UNAVAILABLE: generic(
    'A worker process did not send its metrics to the primary in time (WEB_CONCURRENCY > 1): scrape again; if it persists, check the server log for a stuck or restarting worker.',
  ),
  INTERNAL: generic('This is a bug: report it with the reference id (the server log has the details).'),
  HTTPS_REQUIRED: generic(
    'BASE_URL is https, but this request did not arrive over https as far as the kit can tell, so the browser would get no session cookie (it is Secure). If TLS ends at a proxy or load balancer: set TRUST_PROXY to it (e.g. 1) and make it send X-Forwarded-Proto: https (embedded: the host app\'s "trust proxy" decides when TRUST_PROXY is unset). Otherwise open the site at its https address.',
  ),
  ACCOUNT_SLUG_INVALID: generic('Use 2–63 lower-case letters, digits and dashes, not starting with a dash.'),
  ACCOUNT_EXISTS: generic('Pick another slug, or use the existing account.'),
  ACCOUNT_NOT_FOUND: generic(
    'Check the account slug in the URL (the Auth0 callback URL must name an existing account).',
  ),
  USER_NOT_FOUND: generic(
    'Use the id from GET /api/accounts/:slug/users (or the users list of the admin page); users exist once they have signed in.',
  ),
  LAST_ADMIN: generic(
    'Give the admin role to another user who can sign in (role override on the users list, or an IdP group in adminGroups) before taking it away here; an operator can force it with the command line (disable-user, set-role).',
  ),
  SSO_ONLY_NO_SSO_ADMIN: generic(
    'Sign in once with single sign-on as a member of an adminGroups group (or give an SSO user the admin role on the users list), then switch SSO-only on; or send "acceptCliRecoveryOnly": true if recovery through the operator command line (npx saml-sp-kit sso-only SLUG off) is acceptable.',
  ),
  CONNECTION_NOT_FOUND: generic('Import the IdP first (certificate and SAML Protocol URL, or metadata).'),
  CERT_MISSING: generic('Upload the IdP signing certificate (PEM).'),
  CERT_INVALID: generic(`${CERT_DOWNLOAD}.`),
  CERT_IS_PRIVATE_KEY: generic(
    'Upload the certificate, never the private key; rotate the key in your IdP if it was exposed.',
  ),
  CERT_EXPIRED: generic(`The certificate has expired. ${CERT_DOWNLOAD}.`),
  CERT_NOT_YET_VALID: generic(
    "The certificate is not valid yet: check its dates, or this server's clock (use NTP).",
  ),
  CERT_PUBLISHED_KEY: generic(
    `This key ships with saml-sp-kit for tests and demos, so anyone can sign with it. ${CERT_DOWNLOAD}.`,
  ),
  CERT_WEAK_KEY: generic('Use a signing key of RSA 2048 bits or more (Auth0 tenants use RSA 2048).'),
  SSO_URL_INVALID: generic(
    'Copy the "SAML Protocol URL" from Auth0 (Applications > your application > Addons > SAML2 Web App > Usage), e.g. https://YOUR_TENANT.auth0.com/samlp/CLIENT_ID.',
  ),
  IDP_ENTITY_ID_INVALID: generic('Use the issuer of the IdP metadata, e.g. urn:YOUR_TENANT.auth0.com.'),
  METADATA_INVALID: generic(
    'Download the IdP metadata from Auth0 (Addons > SAML2 Web App > Usage > "Identity Provider Metadata") and upload that file unchanged.',
  ),
  METADATA_DOCTYPE_FORBIDDEN: generic('Upload the metadata file as the IdP publishes it, without a DOCTYPE.'),
  METADATA_URL_INVALID: generic(
    'Give the IdP metadata URL as https://… (Auth0: Addons > SAML2 Web App > Usage > Identity Provider Metadata, https://YOUR_TENANT.auth0.com/samlp/metadata/CLIENT_ID).',
  ),
  METADATA_URL_FORBIDDEN: generic(
    "Metadata is fetched from public addresses only (never private, loopback or link-local ones, also not through a redirect). Use the IdP's public metadata URL, or upload the metadata file instead.",
  ),
  METADATA_FETCH_FAILED: generic(
    "Open the metadata URL in a browser: it must answer 200 with the metadata XML (Auth0: https://YOUR_TENANT.auth0.com/samlp/metadata/CLIENT_ID, with the application's Client ID). Until it does, the last good metadata stays in use.",
  ),
  METADATA_FETCH_TIMEOUT: generic(
    'The IdP did not answer in time: check the host name and try again later; the last good metadata stays in use.',
  ),
  METADATA_TOO_LARGE: generic(
    'The URL must point at the IdP metadata document itself (at most 512 KiB), not at a page or a file listing many entities.',
  ),
  METADATA_URL_MISSING: generic(
    'Import the IdP from its metadata URL (PUT /api/accounts/:slug/saml { "metadataUrl": "https://…" } or the admin page) to have it refreshed.',
  ),
  SETTINGS_INVALID: generic('Fix the setting the message names.'),
  AUDIT_QUERY_INVALID: generic('Use outcome=success|failure, a catalogued code and limit between 1 and 500.'),
  SSO_NOT_CONFIGURED: generic(
    'Import the IdP for this account first (PUT /api/accounts/:slug/saml or the admin page).',
  ),
  SAML_RESPONSE_MISSING: (_f, c) =>
    `The IdP must POST a SAMLResponse form field to ${c.acsUrl} (Auth0's SAML2 Web App uses HTTP-POST to the Application Callback URL).`,
  SAML_RESPONSE_MALFORMED: generic(
    'The response is not a well-formed SAML message (or not base64 XML at all): make sure the IdP posts with the HTTP-POST binding and nothing between them rewrites the form.',
  ),
  SAML_DOCTYPE_FORBIDDEN: generic(
    'Responses with a DOCTYPE are refused; no real IdP sends one: check what is posting to the ACS.',
  ),
  SAML_XML_COMMENT_FORBIDDEN: generic(
    'Responses with XML comments are refused; Auth0 sends none: check what is posting to the ACS.',
  ),
  SAML_NOT_A_RESPONSE: generic(
    'Only SAML 2.0 Responses are accepted at the ACS (not SAML 1.1, not a LogoutResponse).',
  ),
  SAML_RESPONSE_TOO_COMPLEX: generic(
    'The response is far larger or deeper than any sign-in needs: if Auth0 sends many groups, map fewer attributes in the addon "mappings".',
  ),
  SAML_STATUS_NOT_SUCCESS: (f) =>
    `The IdP refused the sign-in${f.received ? ` (status ${f.received})` : ''}. In Auth0, look up this login under Monitoring > Logs: common causes are a user without access to the application, a Rule/Action that denied it, or a disabled connection for the application.`,
  SAML_ASSERTION_COUNT: generic(
    'The response must carry exactly one assertion: Auth0 sends one; check what is posting to the ACS.',
  ),
  SAML_DUPLICATE_ID: generic(
    'The response carries the same ID twice: it was tampered with or is not from your IdP.',
  ),
  SAML_SIGNATURE_MISSING: () =>
    `${ADDON}: Auth0 signs the assertion by default; make sure nothing removes the signature, and do not turn off signing. Keep "signatureAlgorithm": "rsa-sha256", "digestAlgorithm": "sha256".`,
  SAML_SIGNATURE_INVALID: (f, c) =>
    f.received
      ? `The response was signed with a certificate this connection does not trust: ${f.received} (read from the response, unverified). This connection trusts ${c.trustedFingerprints.join(', ') || 'no certificate'}. If your Auth0 tenant rotated its signing key, ${CERT_DOWNLOAD.charAt(0).toLowerCase()}${CERT_DOWNLOAD.slice(1)}: you may import old and new together (two PEM blocks) during a rotation.`
      : `The signature does not verify with the trusted certificate(s) ${c.trustedFingerprints.join(', ') || '(none)'}: the response was altered on the way, or signed by another key. ${CERT_DOWNLOAD}.`,
  SAML_WEAK_ALGORITHM: () =>
    `${ADDON}: set "signatureAlgorithm": "rsa-sha256" and "digestAlgorithm": "sha256".`,
  SAML_ALGORITHM_UNSUPPORTED: () =>
    `${ADDON}: set "signatureAlgorithm": "rsa-sha256" and "digestAlgorithm": "sha256" (encrypted assertions: AES with RSA-OAEP key transport).`,
  SAML_ENCRYPTED_ASSERTION_INVALID: () =>
    "The encrypted assertion could not be used: encrypt it for this SP's certificate (from the SP metadata), with AES-CBC or AES-GCM and RSA-OAEP key transport; or do not encrypt assertions.",
  SAML_AUDIENCE_MISMATCH: (f, c) =>
    `${ADDON}: set "audience": "${c.spEntityId}".` +
    (f.received ? ` The response named the audience ${f.received}.` : ' The response named no audience.'),
  SAML_DESTINATION_MISMATCH: callbackHint,
  SAML_RECIPIENT_MISMATCH: callbackHint,
  SAML_ISSUER_MISMATCH: (f, c) =>
    `The response comes from issuer ${f.received ?? '(none)'}, but this connection trusts ${f.expected ?? c.idpEntityId ?? '(unknown)'}. If you moved to another Auth0 tenant or custom domain, re-import the IdP metadata (Addons > SAML2 Web App > Usage > "Identity Provider Metadata"); otherwise the response is not from your IdP.`,
  SAML_NOT_YET_VALID: (f, c) => {
    const ahead = secondsBetween(f.received, f.expected);
    const clock = `${ahead === null ? "The IdP's clock is ahead of this server's" : `The IdP's clock is ${seconds(ahead)} ahead of this server's`} (allowed: ${c.clockSkewSeconds} s). Make sure this server keeps time with NTP (chrony or systemd-timesyncd)`;
    // Raising the allowance helps only while the difference is within its maximum.
    return ahead !== null && ahead > MAX_CLOCK_SKEW_SECONDS
      ? `${clock}: SAML_CLOCK_SKEW_SECONDS goes up to ${MAX_CLOCK_SKEW_SECONDS} s only, so setting the clock right is the fix.`
      : `${clock}, or raise SAML_CLOCK_SKEW_SECONDS (at most ${MAX_CLOCK_SKEW_SECONDS}).`;
  },
  SAML_EXPIRED: (f, c) => {
    const late = secondsBetween(f.expected, f.received);
    const arrived =
      late === null
        ? 'The response had expired when it arrived'
        : `The response arrived ${seconds(late)} after it expired`;
    if (f.lifetimeSeconds !== undefined && f.lifetimeSeconds < 300) {
      return `${arrived}: it was valid for only ${seconds(f.lifetimeSeconds)}. ${ADDON}: set "lifetimeInSeconds": 3600 (Auth0's default).`;
    }
    return `${arrived} (allowed clock difference: ${c.clockSkewSeconds} s). ${ADDON}: keep "lifetimeInSeconds" at 3600${f.lifetimeSeconds === undefined ? '' : ` (this response was valid for ${seconds(f.lifetimeSeconds)})`}; if it already is, this server's clock is ahead of the IdP's: keep it in time with NTP. A user who reloaded an old page just signs in again from ${c.loginUrl}.`;
  },
  SAML_SUBJECT_CONFIRMATION_INVALID: (_f, c) =>
    `The assertion needs a bearer SubjectConfirmation with NotOnOrAfter and Recipient ${c.acsUrl}: Auth0 sends one when the Application Callback URL is ${c.acsUrl}.`,
  SAML_NAMEID_MISSING: () =>
    `${ADDON}: set "nameIdentifierProbes": ["${CLAIMS}/nameidentifier"] so every user gets a NameID.`,
  SAML_NAMEID_INVALID: (f) =>
    `The NameID${f.received ? ` ${JSON.stringify(f.received)}` : ''} starts or ends with invisible characters or holds control characters: fix the user identifier in the IdP (in Auth0, the attribute "nameIdentifierProbes" picks, usually user_id), so that it is sent exactly as stored.`,
  SAML_IN_RESPONSE_TO_UNKNOWN: (_f, c) =>
    `The response answers a sign-in this deployment did not start, that expired or that was already used. Start again from ${c.loginUrl}; if it keeps happening, check that the Auth0 Application Callback URL is ${c.acsUrl} (not another deployment's).`,
  SAML_IN_RESPONSE_TO_MISMATCH: generic(
    'The Response and its assertion name different requests: the message was altered or is not from your IdP.',
  ),
  SAML_BROWSER_MISMATCH: (_f, c) =>
    `The sign-in was started in another browser (or cookies are blocked for this site). The user should start again from ${c.loginUrl} in the same browser.`,
  SAML_IDP_INITIATED_DISABLED: (_f, c) =>
    `Sign-in from the Auth0 application tile is turned off for this account (idpInitiated: false). Users start from ${c.loginUrl}; or turn idpInitiated on.`,
  LOGIN_CONFIRMATION_INVALID: (_f, c) =>
    `The confirmation expired or was used already: sign in again from ${c.loginUrl}.`,
  SETUP_LINK_INVALID: generic(
    'Ask the operator for a new setup link (POST /api/accounts/:slug/setup-links or the CLI).',
  ),
  SIGN_IN_TEST_LINK_INVALID: generic('Start a new test sign-in: each link works once, for 30 minutes.'),
  SAML_REPLAY: (_f, c) =>
    `Each response can be used once: the browser posted it again (Back or reload). Sign in again from ${c.loginUrl}.`,
  SAML_RESPONSE_INVALID: (_f, c) =>
    `${ADDON}: compare with the values this SP needs ("audience": "${c.spEntityId}", callback ${c.acsUrl}, "signatureAlgorithm": "rsa-sha256", "digestAlgorithm": "sha256").`,
  SAML_EMAIL_MISSING: () =>
    `${ADDON}: map the e-mail, "mappings": { "email": "${CLAIMS}/emailaddress" } (Auth0's default mapping; check the user has an e-mail), or send it as the NameID: "nameIdentifierFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "nameIdentifierProbes": ["${CLAIMS}/emailaddress"]. An account that does not need e-mails can turn requireEmail off.`,
  USER_EMAIL_DOMAIN_NOT_ALLOWED: (f, c) =>
    `The user's e-mail ${f.received ? `domain ${f.received} ` : ''}is not in this account's allowedEmailDomains (${c.allowedEmailDomains.join(', ') || 'none'}): add the domain in the account settings if it belongs to you, or check the e-mail the IdP sends for this user.`,
  PROVISIONING_REJECTED: generic(
    'The host application’s provisioning hook refused this user: its rules decide who may be created.',
  ),
  USER_IS_DISABLED: generic(
    'An administrator disabled this user: enable it in the Users table of the admin page (or PATCH /api/accounts/ACCOUNT/users/ID with "disabled": false) if they should sign in.',
  ),
  LOGIN_FAILED: generic(
    'Wrong account, e-mail or password, or password sign-in is off for the account (SSO-only).',
  ),
  CSRF_INVALID: generic('Reload the page and submit again; posts from other sites are refused.'),
  OIDC_CONNECTION_NOT_FOUND: generic(
    'Configure the OpenID Connect connection first (PUT /api/accounts/:slug/oidc with the issuer, client ID and client type).',
  ),
  OIDC_CONFIG_INVALID: generic('Fix the field the message names (PUT /api/accounts/:slug/oidc).'),
  OIDC_CLIENT_SECRET_REQUIRED: () =>
    `${AUTH0_APP}: a "Regular Web Application" (confidential client) has a Client Secret under Basic Information: copy it with the Client ID. For a "Single Page Application", send "clientType": "public" and no secret.`,
  OIDC_CLIENT_SECRET_FORBIDDEN: () =>
    `A "Single Page Application" (public client) authenticates with its Client ID alone and PKCE: remove the secret. If the Auth0 application is a "Regular Web Application", send "clientType": "confidential" with its Client Secret.`,
  OIDC_URL_INVALID: generic(
    'Use the https:// URLs Auth0 shows under Applications > your application > Settings > Advanced Settings > Endpoints (the issuer is https://YOUR_TENANT.auth0.com/); http:// works only for localhost outside production.',
  ),
  OIDC_URL_FORBIDDEN: (f) =>
    `${f.received ? `${f.received}: ` : ''}discovery, keys, tokens and userinfo are fetched from public addresses only (never private, loopback or link-local ones such as 169.254.169.254). Use the provider's public URLs (Auth0: https://YOUR_TENANT.auth0.com/).`,
  OIDC_DISCOVERY_FAILED: (f) =>
    `The discovery document could not be read${f.received ? ` (${f.received})` : ''}. Check the issuer: in Auth0 it is https://YOUR_TENANT.auth0.com/ (Advanced Settings > Endpoints > "OpenID Configuration" without /.well-known/openid-configuration); or send authorizationUrl, tokenUrl and jwksUri explicitly.`,
  OIDC_ISSUER_MISMATCH: (f) =>
    `The discovery document names the issuer ${f.received ?? '(none)'} but ${f.expected ?? 'another'} was given: use the issuer exactly as published (Auth0's ends with a slash).`,
  OIDC_TRANSACTION_INVALID: (_f, c) =>
    `The sign-in answer reached this site without the sign-in it answers: started in another browser, expired, cookies blocked, or the answer was delivered twice (Back or reload). Start again from ${c.oidcLoginUrl} in the same browser.`,
  OIDC_STATE_MISMATCH: (_f, c) =>
    `The "state" of the answer is none of the sign-ins this browser has in flight: most often the answer was delivered again (Back or reload) while another sign-in of the account was under way in this browser, else it was altered or belongs to another browser's sign-in. Start again from ${c.oidcLoginUrl}.`,
  OIDC_ACCESS_DENIED: (f) =>
    `The provider refused the sign-in (error=access_denied${f.received ? `: ${f.received}` : ''}). In Auth0, look up the login under Monitoring > Logs: common causes are a user who declined consent, a Rule/Action that denied access, or a connection not enabled for the application (Applications > your application > Connections).`,
  OIDC_CALLBACK_URL_REJECTED: oidcCallbackHint,
  OIDC_PROVIDER_ERROR: (f, c) =>
    `The provider answered with an error${f.received ? ` (${f.received})` : ''}. In Auth0, look up the login under Monitoring > Logs, and check that ${c.oidcCallbackUrl} is in "Allowed Callback URLs".`,
  OIDC_CLIENT_AUTH_FAILED: (f, c) =>
    `The token endpoint refused the client credentials (invalid_client${f.received ? `: ${f.received}` : ''}). ${AUTH0_APP}: copy the Client ID${c.oidcClientId ? ` (${c.oidcClientId})` : ''} and Client Secret again, and check that "Token Endpoint Authentication Method" (Credentials tab) matches this connection's tokenEndpointAuthMethod (Post = client_secret_post, Basic = client_secret_basic). A "Single Page Application" uses "None": configure it as "clientType": "public".`,
  OIDC_TOKEN_REQUEST_FAILED: (f, c) =>
    `The token endpoint refused the code${f.received ? ` (${f.received})` : ''}: the code expired or was used, or the redirect URI differs. ${AUTH0_APP}: "Allowed Callback URLs" must contain ${c.oidcCallbackUrl}, and "Grant Types" (Advanced Settings) must include Authorization Code.`,
  OIDC_PROVIDER_UNAVAILABLE: (f) =>
    `The provider's endpoint did not answer${f.received ? ` (${f.received})` : ''}: check the endpoint URLs of the connection and this server's outbound network.`,
  OIDC_ID_TOKEN_INVALID: (f) =>
    `The provider sent no usable ID token${f.received ? ` (${f.received})` : ''}: the "openid" scope is always requested; check the application's Grant Types include Authorization Code and the token endpoint is the provider's.`,
  OIDC_ID_TOKEN_SIGNATURE_INVALID: (f, c) =>
    `The ID token signature does not verify with the provider's JWKS${f.received ? ` (${f.received})` : ''}: it was forged or altered, or signed with HS256. ${AUTH0_APP} > Advanced Settings > OAuth: set "JSON Web Token (JWT) Signature Algorithm" to RS256. The issuer is ${c.oidcIssuer ?? '(not configured)'}.`,
  OIDC_ID_TOKEN_ISSUER_MISMATCH: (f, c) =>
    `The ID token comes from issuer ${f.received ?? '(none)'}, but this connection trusts ${c.oidcIssuer ?? f.expected ?? '(unknown)'}: if the tenant or custom domain changed, configure the connection again with the new issuer (exactly as published, with Auth0's trailing slash).`,
  OIDC_ID_TOKEN_AUDIENCE_MISMATCH: (f, c) =>
    `The ID token is meant for ${f.received ?? 'another client'}, not the client ID ${c.oidcClientId ?? f.expected ?? '(unknown)'}: copy the Client ID of the Auth0 application the users sign in to.`,
  OIDC_ID_TOKEN_EXPIRED: (_f, c) =>
    `The ID token had expired when it arrived (or was issued in the future): make sure this server keeps time with NTP (allowed difference: ${c.clockSkewSeconds} s); a user who reloaded an old page signs in again from ${c.oidcLoginUrl}.`,
  OIDC_ID_TOKEN_NONCE_MISMATCH: (_f, c) =>
    `The ID token does not carry the nonce of the sign-in started in this browser: it was replayed or belongs to another sign-in. Start again from ${c.oidcLoginUrl}.`,
  OIDC_EMAIL_NOT_VERIFIED: generic(
    'The provider says the e-mail is not verified (email_verified is not true): the user verifies it (Auth0 sends a verification e-mail; an admin can resend it under User Management > Users), then signs in again.',
  ),
  OIDC_EMAIL_MISSING: generic(
    'The provider sent no e-mail: the "email" scope is requested; check the user has an e-mail at the provider (Auth0: User Management > Users). An account that does not need e-mails can turn requireEmail off.',
  ),
  OIDC_USERINFO_SUBJECT_MISMATCH: generic(
    "The userinfo endpoint answered for another user than the ID token: check the connection's userinfoUrl is the provider's own (Auth0: https://YOUR_TENANT.auth0.com/userinfo).",
  ),
  OIDC_USERINFO_INVALID: generic(
    "The userinfo endpoint answered with something that is not the user's claims: check the connection's userinfoUrl (Auth0: https://YOUR_TENANT.auth0.com/userinfo).",
  ),
  BOT_INVALID: generic('Send { "name": "…", "role": "admin" | "member" }.'),
  BOT_NOT_FOUND: generic('Check the bot id (GET /api/accounts/:slug/bots).'),
  BOT_DISABLED: generic('Disabled bots get no new tokens: create a new bot.'),
  BOT_TOKEN_NOT_FOUND: generic('Check the token id (GET …/bots/:botId/tokens).'),
  TOKEN_LIFETIME_INVALID: generic(
    'expiresInSeconds: 60 to 31622400, or null for a token that never expires.',
  ),
  TOKEN_MALFORMED: generic('Send the token exactly as it was issued: Authorization: Bearer <token>.'),
  TOKEN_TYPE_INVALID: generic('Use a bot token issued by this deployment (POST …/bots/:botId/tokens).'),
  TOKEN_KEY_UNKNOWN: generic(
    'The token was signed with a key this deployment no longer accepts: issue a new token (or keep the old key in TOKEN_VERIFY_KEY_FILES during a rotation).',
  ),
  TOKEN_ALGORITHM_INVALID: generic(
    'Use a token issued by this deployment: the algorithm is fixed by its key.',
  ),
  TOKEN_SIGNATURE_INVALID: generic('The token was altered or signed by another key: issue a new one.'),
  TOKEN_ISSUER_MISMATCH: generic(
    'The token was issued by another deployment (BASE_URL differs): issue one here.',
  ),
  TOKEN_AUDIENCE_MISMATCH: generic('The token is meant for another deployment: issue one here.'),
  TOKEN_EXPIRED: generic('Issue a new token for the bot.'),
  TOKEN_CLAIMS_INVALID: generic('Use a token issued by this deployment, unchanged.'),
  TOKEN_UNKNOWN: generic('The token was never issued here (or its record was deleted): issue a new one.'),
  TOKEN_REVOKED: generic('The token was revoked: issue a new one if the bot still needs access.'),
  TOKEN_BOT_DISABLED: generic('The bot is disabled: create a new bot if access is still needed.'),
};

/** The hint for a failure. */
export function hintFor(code: ErrorCode, facts: Facts, ctx: HintContext): string {
  return hints[code](facts, ctx);
}
