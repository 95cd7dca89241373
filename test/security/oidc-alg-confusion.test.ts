/**
 * Algorithm confusion: an HS256 ID token whose HMAC key is the provider's public key (CVE-2016-10555,
 * CVE-2016-5431) or the public client ID. Only asymmetric algorithms verified against the JWKS count.
 */
import { createPublicKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { describeForgery, FORGE_CLIENT, genuineClaims, TRUSTED_KEY } from './oidc-support.js';

const hs256 = (claims: Record<string, unknown>, secret: string) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(secret));

describeForgery('OIDC: ID token with HS256 (algorithm confusion)', [
  {
    name: 'HS256 keyed with the public key PEM',
    answer: {
      idToken: (ctx) =>
        hs256(
          genuineClaims(ctx),
          createPublicKey(TRUSTED_KEY).export({ type: 'spki', format: 'pem' }).toString(),
        ),
    },
    code: 'OIDC_ID_TOKEN_SIGNATURE_INVALID',
  },
  {
    name: 'HS256 keyed with the (public) client ID',
    answer: { idToken: (ctx) => hs256(genuineClaims(ctx), FORGE_CLIENT.padEnd(32, '-')) },
    code: 'OIDC_ID_TOKEN_SIGNATURE_INVALID',
  },
]);
