import type { ErrorCode, SpError } from '../errors.js';
import { spUrls } from '../connections/urls.js';
import type { Account, Connection, OidcConnection } from '../storage/types.js';
import { hintFor, type HintContext } from './hints.js';

/** What an admin is told about one failed sign-in. */
export interface Diagnosis {
  expected: string | null;
  /** Prefixed `unverified: ` when read from content no signature vouched for. */
  received: string | null;
  hint: string;
}

/** What a hint may quote, for one account and its connection. */
export function hintContext(
  baseUrl: string,
  account: Account,
  connection: Connection | null,
  clockSkewSeconds: number,
  oidc: OidcConnection | null = null,
): HintContext {
  const urls = spUrls(baseUrl, account.slug);
  return {
    oidcCallbackUrl: urls.oidcCallbackUrl,
    oidcLoginUrl: urls.oidcLoginUrl,
    oidcIssuer: oidc?.issuer ?? null,
    oidcClientId: oidc?.clientId ?? null,
    oidcClientType: oidc?.clientType ?? null,
    acsUrl: urls.acsUrl,
    spEntityId: urls.spEntityId,
    loginUrl: urls.loginUrl,
    idpEntityId: connection?.idpEntityId ?? null,
    trustedFingerprints: connection?.certificates.map((c) => c.fingerprintSha256) ?? [],
    clockSkewSeconds,
    allowedEmailDomains: account.settings.allowedEmailDomains,
  };
}

/** The value this SP expects, for codes where it follows from the connection alone. */
function defaultExpected(code: ErrorCode, ctx: HintContext): string | undefined {
  switch (code) {
    case 'SAML_AUDIENCE_MISMATCH':
      return ctx.spEntityId;
    case 'SAML_DESTINATION_MISMATCH':
    case 'SAML_RECIPIENT_MISMATCH':
    case 'SAML_RESPONSE_MISSING':
      return ctx.acsUrl;
    case 'SAML_WEAK_ALGORITHM':
    case 'SAML_ALGORITHM_UNSUPPORTED':
      return 'signatureAlgorithm rsa-sha256, digestAlgorithm sha256';
    case 'SAML_ISSUER_MISMATCH':
      return ctx.idpEntityId ?? undefined;
    case 'SAML_SIGNATURE_INVALID':
      return ctx.trustedFingerprints.length > 0 ? ctx.trustedFingerprints.join(', ') : undefined;
    case 'SAML_IDP_INITIATED_DISABLED':
      return `a sign-in started at ${ctx.loginUrl}`;
    case 'OIDC_CALLBACK_URL_REJECTED':
    case 'OIDC_TOKEN_REQUEST_FAILED':
      return ctx.oidcCallbackUrl;
    case 'OIDC_ID_TOKEN_ISSUER_MISMATCH':
      return ctx.oidcIssuer ?? undefined;
    case 'OIDC_ID_TOKEN_AUDIENCE_MISMATCH':
      return ctx.oidcClientId ?? undefined;
    case 'OIDC_EMAIL_NOT_VERIFIED':
      return 'email_verified: true';
    case 'USER_EMAIL_DOMAIN_NOT_ALLOWED':
      return ctx.allowedEmailDomains.join(', ');
    default:
      return undefined;
  }
}

/** Expected value, received value and hint for a failed sign-in. */
export function diagnose(error: SpError, ctx: HintContext): Diagnosis {
  const expected = error.expected ?? defaultExpected(error.code, ctx);
  const received = error.received;
  return {
    expected: expected ?? null,
    received: received === undefined ? null : `${error.unverified ? 'unverified: ' : ''}${received}`,
    hint: hintFor(error.code, { expected, received, lifetimeSeconds: error.lifetimeSeconds }, ctx),
  };
}
