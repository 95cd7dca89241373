/**
 * Userinfo of another user: the userinfo response must name the ID token's `sub`, else its claims
 * (e-mail, groups) would be another user's (token substitution at the userinfo endpoint). OpenID
 * Connect Core 1.0 §5.3.2.
 */
import { describeForgery, genuineClaims, sign } from './oidc-support.js';

describeForgery('OIDC: userinfo for another subject', [
  {
    name: 'userinfo with another sub',
    userinfo: true,
    answer: {
      idToken: (ctx) => {
        const { email: _e, email_verified: _v, ...claims } = genuineClaims(ctx);
        return sign(claims);
      },
      userinfo: () => ({ sub: 'auth0|admin', email: 'admin@example.com', email_verified: true }),
    },
    code: 'OIDC_USERINFO_SUBJECT_MISMATCH',
  },
]);
