/**
 * Account takeover by an unverified e-mail: anyone can sign up at a provider with the victim's address
 * and no proof of owning it ("nOAuth", Descope, 2023). `email_verified` must be true, else the sign-in is
 * refused (not just the e-mail dropped).
 */
import { describeForgery, genuineClaims, sign } from './oidc-support.js';

describeForgery('OIDC: unverified e-mail', [
  {
    name: 'email_verified false',
    answer: { idToken: (ctx) => sign({ ...genuineClaims(ctx), email_verified: false }) },
    code: 'OIDC_EMAIL_NOT_VERIFIED',
  },
  {
    name: 'email_verified absent',
    answer: {
      idToken: (ctx) => {
        const { email_verified: _v, ...claims } = genuineClaims(ctx);
        return sign(claims);
      },
    },
    code: 'OIDC_EMAIL_NOT_VERIFIED',
  },
  {
    name: 'email_verified as the string "true"',
    answer: { idToken: (ctx) => sign({ ...genuineClaims(ctx), email_verified: 'true' }) },
    code: 'OIDC_EMAIL_NOT_VERIFIED',
  },
]);
