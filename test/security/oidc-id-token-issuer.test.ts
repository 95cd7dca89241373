/**
 * An ID token naming another issuer (IdP mix-up: Fett, Küsters & Schmitz, "A Comprehensive Formal
 * Security Analysis of OAuth 2.0", CCS 2016). The issuer is compared character for character with the
 * configured one: Auth0's ends with a slash, and the same URL without it is another issuer.
 */
import { describeForgery, genuineClaims, sign } from './oidc-support.js';

describeForgery('OIDC: ID token from another issuer', [
  {
    name: 'iss of another tenant',
    answer: { idToken: (ctx) => sign({ ...genuineClaims(ctx), iss: 'https://evil.auth0.com/' }) },
    code: 'OIDC_ID_TOKEN_ISSUER_MISMATCH',
  },
  {
    name: 'iss without the trailing slash',
    answer: { idToken: (ctx) => sign({ ...genuineClaims(ctx), iss: ctx.issuer.replace(/\/$/, '') }) },
    code: 'OIDC_ID_TOKEN_ISSUER_MISMATCH',
  },
]);
