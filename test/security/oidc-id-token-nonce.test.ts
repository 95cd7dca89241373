/**
 * ID token injection / replay: a token without the nonce of this browser's sign-in, or with another
 * sign-in's nonce, answers no sign-in started here. OpenID Connect Core 1.0 §15.5.2 (nonce
 * implementation notes), §3.1.3.7 step 11.
 */
import { describeForgery, genuineClaims, sign } from './oidc-support.js';

describeForgery('OIDC: ID token without the transaction nonce', [
  {
    name: 'no nonce',
    answer: {
      idToken: (ctx) => {
        const { nonce: _nonce, ...claims } = genuineClaims(ctx);
        return sign(claims);
      },
    },
    code: 'OIDC_ID_TOKEN_NONCE_MISMATCH',
  },
  {
    name: 'the nonce of another sign-in',
    answer: { idToken: (ctx) => sign({ ...genuineClaims(ctx), nonce: 'nonce-of-another-sign-in' }) },
    code: 'OIDC_ID_TOKEN_NONCE_MISMATCH',
  },
]);
