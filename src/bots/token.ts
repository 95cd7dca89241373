/**
 * Bot tokens as JWTs (RFC 7519), signed and verified with jose. Protocol only: strings, keys and
 * options in, claims or a catalogued error out; no HTTP, no database (the issued/revoked/disabled checks
 * are the service's, against the shared store).
 */
import { SignJWT, decodeProtectedHeader, errors as jose, jwtVerify } from 'jose';
import type { TokenKeyRing } from '../config/token-keys.js';
import { SpError, type ErrorCode } from '../errors.js';

/** The `typ` header of a bot token (RFC 8725 §3.11: explicit typing, so no other JWT passes as one). */
export const BOT_TOKEN_TYPE = 'sspk-bot+jwt';
/** How far apart the clocks of the instances may be when `exp` and `iat` are checked. */
export const BOT_TOKEN_CLOCK_SKEW_SECONDS = 30;
/** Longer than any token we sign (an RSA-4096 signature included); a bound on what we parse. */
const MAX_TOKEN_LENGTH = 4096;
/** Three base64url parts: the only serialisation we sign (compact JWS). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Issuer and audience of this deployment's bot tokens. */
export interface BotTokenAudience {
  /** `BASE_URL`. */
  issuer: string;
  /** `${BASE_URL}/api`. */
  audience: string;
}

/** What a bot token says, once its signature and claims have been checked. */
export interface BotTokenClaims {
  /** `jti`: the id of the issued token (stored with its expiry and revocation state). */
  tokenId: string;
  /** `sub`: the bot. */
  botId: string;
  /** `kid` of the key that verified it. */
  kid: string;
  /** `exp` in seconds since the epoch, null for a token issued without expiry. */
  exp: number | null;
}

/** Issuer and audience for `baseUrl` (the audience is the API under it). */
export function botTokenAudience(baseUrl: string): BotTokenAudience {
  return { issuer: baseUrl, audience: `${baseUrl}/api` };
}

/** True when `value` has the shape of a compact JWS (what a bearer value must look like to be a bot token). */
export function looksLikeJwt(value: string): boolean {
  return value.length <= MAX_TOKEN_LENGTH && COMPACT_JWS.test(value);
}

/** Signs a bot token with the ring's signing key. `exp` null: a token that never expires. */
export async function signBotToken(
  keys: TokenKeyRing,
  aud: BotTokenAudience,
  claims: { tokenId: string; botId: string; iat: number; exp: number | null },
): Promise<string> {
  const { signing } = keys;
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: BOT_TOKEN_TYPE })
    .setIssuer(aud.issuer)
    .setAudience(aud.audience)
    .setSubject(claims.botId)
    .setJti(claims.tokenId)
    .setIssuedAt(claims.iat);
  if (claims.exp !== null) jwt.setExpirationTime(claims.exp);
  return jwt.sign(signing.privateKey);
}

const fail = (code: ErrorCode, detail: string, cause?: unknown): SpError =>
  new SpError(code, { detail, ...(cause === undefined ? {} : { cause }) });

/** jose's errors, translated once into the catalogue. */
function translate(err: unknown): SpError {
  if (err instanceof jose.JOSEAlgNotAllowed || err instanceof jose.JOSENotSupported)
    return fail('TOKEN_ALGORITHM_INVALID', err.message, err);
  if (err instanceof jose.JWSSignatureVerificationFailed)
    return fail('TOKEN_SIGNATURE_INVALID', err.message, err);
  if (err instanceof jose.JWTExpired) return fail('TOKEN_EXPIRED', err.message, err);
  if (err instanceof jose.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return fail('TOKEN_ISSUER_MISMATCH', err.message, err);
    if (err.claim === 'aud') return fail('TOKEN_AUDIENCE_MISMATCH', err.message, err);
    if (err.claim === 'typ') return fail('TOKEN_TYPE_INVALID', err.message, err);
    return fail('TOKEN_CLAIMS_INVALID', err.message, err);
  }
  // JWSInvalid, JWTInvalid, and TypeErrors from keys that cannot be used the way the header asks.
  return fail('TOKEN_MALFORMED', err instanceof Error ? err.message : String(err), err);
}

/**
 * Verifies a bot token: compact JWS, `kid` naming one of the ring's keys, the algorithm of THAT key
 * (never the header's choice), the signature, `typ`, issuer and audience exactly, `exp` (when present)
 * and `iat` within {@link BOT_TOKEN_CLOCK_SKEW_SECONDS}, `sub` and `jti` present. Throws a catalogued
 * `TOKEN_*` error (401) otherwise. Whether the token was issued, is revoked or its bot disabled is for
 * the caller to check against the store.
 */
export async function verifyBotToken(
  token: string,
  keys: TokenKeyRing,
  aud: BotTokenAudience,
  nowMs: number = Date.now(),
): Promise<BotTokenClaims> {
  if (!looksLikeJwt(token)) throw fail('TOKEN_MALFORMED', 'not a compact JWS');
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch (err) {
    throw fail('TOKEN_MALFORMED', 'unreadable protected header', err);
  }
  // The key is chosen by kid among OUR keys only; a key carried in the token (jwk, jku, x5c headers) is
  // never looked at (CVE-2018-0114: node-jose trusted an embedded jwk).
  const key = typeof kid === 'string' ? keys.byKid(kid) : undefined;
  if (!key) throw fail('TOKEN_KEY_UNKNOWN', `kid ${typeof kid === 'string' ? kid.slice(0, 64) : 'missing'}`);
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key.publicKey, {
      algorithms: [key.alg],
      typ: BOT_TOKEN_TYPE,
      issuer: aud.issuer,
      audience: aud.audience,
      clockTolerance: BOT_TOKEN_CLOCK_SKEW_SECONDS,
      currentDate: new Date(nowMs),
    }));
  } catch (err) {
    throw translate(err);
  }
  // jose accepts an audience list that merely contains ours; ours is one string, alone (a token made for
  // several audiences could be replayed here by any of them).
  if (Array.isArray(payload.aud)) throw fail('TOKEN_AUDIENCE_MISMATCH', 'aud is a list');
  // Checked here, not with jose's requiredClaims: presence and form at once.
  const { sub, jti, iat, exp } = payload;
  if (typeof sub !== 'string' || !UUID.test(sub)) throw fail('TOKEN_CLAIMS_INVALID', 'sub is not a bot id');
  if (typeof jti !== 'string' || !UUID.test(jti)) throw fail('TOKEN_CLAIMS_INVALID', 'jti is not a token id');
  // jose checks iat only with maxTokenAge; a token "issued" in the future was not issued by us.
  if (typeof iat !== 'number' || iat > nowMs / 1000 + BOT_TOKEN_CLOCK_SKEW_SECONDS)
    throw fail('TOKEN_CLAIMS_INVALID', 'iat in the future');
  return { tokenId: jti, botId: sub, kid: key.kid, exp: typeof exp === 'number' ? exp : null };
}
