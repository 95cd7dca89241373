/**
 * An unsigned ID token (`alg: none`). "Critical vulnerabilities in JSON Web Token libraries" (Tim McLean,
 * 2015; CVE-2015-9235): a verifier that lets the token pick its algorithm accepts no signature at all.
 */
import { describeForgery, genuineClaims, UnsecuredJWT } from './oidc-support.js';

describeForgery('OIDC: unsigned ID token (alg none)', [
  {
    name: 'an ID token with alg none',
    answer: { idToken: (ctx) => Promise.resolve(new UnsecuredJWT(genuineClaims(ctx)).encode()) },
    code: 'OIDC_ID_TOKEN_SIGNATURE_INVALID',
  },
]);
