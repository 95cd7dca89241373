/**
 * An ID token signed by another key under the trusted key's `kid`: only the JWKS decides which keys
 * sign. openid-client v6 does not verify an ID token from the token endpoint unless non-repudiation
 * checks are on (it trusts TLS), so a malicious or intercepted token endpoint could sign anyone in.
 * OpenID Connect Core 1.0 §3.1.3.7 (ID token validation, step 6); openid-client `enableNonRepudiationChecks`.
 */
import { ATTACKER_KEY, describeForgery, genuineClaims, sign } from './oidc-support.js';

describeForgery('OIDC: ID token signed by another key under the same kid', [
  {
    name: 'an ID token signed with the attacker key as kid k1',
    answer: { idToken: (ctx) => sign(genuineClaims(ctx), ATTACKER_KEY) },
    code: 'OIDC_ID_TOKEN_SIGNATURE_INVALID',
  },
]);
