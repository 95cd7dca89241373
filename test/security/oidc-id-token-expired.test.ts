/**
 * An expired ID token (a captured old token replayed). OpenID Connect Core 1.0 §3.1.3.7 step 9; the clock
 * tolerance is SAML_CLOCK_SKEW_SECONDS (60 s by default).
 */
import { describeForgery, genuineClaims, sign } from './oidc-support.js';

describeForgery('OIDC: expired ID token', [
  {
    name: 'exp an hour ago',
    answer: { idToken: (ctx) => sign({ ...genuineClaims(ctx), iat: ctx.now - 7200, exp: ctx.now - 3600 }) },
    code: 'OIDC_ID_TOKEN_EXPIRED',
  },
]);
