import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { ConfigError } from './load.js';
import { DEV_TOKEN_KEY_FILE } from './schema.js';
import { cliCommand } from '../cli/command.js';

/**
 * SHA-256 of the public key (SPKI DER) of the dev token key shipped in certs/. Matched on the key, not
 * the path, so a copy of the dev key under another name is refused in production too.
 */
export const DEV_TOKEN_KEY_SPKI_SHA256 = '6e2d33f84830e33d6288e62c26837811dee497817f78a53148ae15bd7116c9eb';

/** The one JWS algorithm each supported key type signs and verifies with. */
export type TokenAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

/** A key bot tokens may be verified with. */
export interface TokenKey {
  /** RFC 7638 JWK thumbprint (SHA-256) of the public key: every instance computes the same id. */
  readonly kid: string;
  /** Fixed by the key type, never taken from a token. */
  readonly alg: TokenAlgorithm;
  readonly publicKey: KeyObject;
  /** The public JWK as published at /.well-known/jwks.json (no private member). */
  readonly publicJwk: Readonly<JWK>;
  /** The file the key came from (for messages). */
  readonly file: string;
}

/** The signing key and every key whose tokens are accepted. */
export interface TokenKeyRing {
  readonly signing: TokenKey & { readonly privateKey: KeyObject };
  /** The signing key first, then the verify-only keys; kids are unique. */
  readonly accepted: readonly TokenKey[];
  /** True when the signing key is the public development key of certs/. */
  readonly isDevKey: boolean;
  /** The accepted key named `kid`, if any. */
  byKid(kid: string): TokenKey | undefined;
}

const SIGNING = 'TOKEN_SIGNING_KEY_FILE';
const VERIFY = 'TOKEN_VERIFY_KEY_FILES';
const GENERATE = `generate one with: ${cliCommand('generate-token-key --out FILE')}`;

function readPem(setting: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (code !== 'ENOENT') throw new ConfigError(setting, `cannot read ${file} (${code})`);
    const where =
      setting === SIGNING && file === DEV_TOKEN_KEY_FILE
        ? '; the development key exists only in a clone of the repository, never in the npm package'
        : '';
    throw new ConfigError(setting, `cannot read ${file} (ENOENT): ${GENERATE}${where}`);
  }
}

/**
 * The algorithm a key signs with. Why one per key type and only these: a verifier that lets the token
 * header choose (`alg: none`, HS256 keyed with the public key, RS256 under an EC key) can be fooled
 * into accepting a signature nobody made with the private key (RFC 8725 §2.1, §3.1).
 */
function algorithmOf(setting: string, file: string, key: KeyObject): TokenAlgorithm {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048)
      throw new ConfigError(setting, `${file}: RSA keys need at least 2048 bits; ${GENERATE}`);
    return 'RS256';
  }
  if (type === 'ec') {
    if (details.namedCurve !== 'prime256v1')
      throw new ConfigError(
        setting,
        `${file}: EC keys must be on curve P-256 (got ${details.namedCurve ?? 'unknown'}); ${GENERATE}`,
      );
    return 'ES256';
  }
  if (type === 'ed25519') return 'EdDSA';
  throw new ConfigError(
    setting,
    `${file}: unsupported key type ${type ?? 'unknown'} (use RSA 2048+, EC P-256 or Ed25519); ${GENERATE}`,
  );
}

function isDevKey(publicKey: KeyObject): boolean {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex') === DEV_TOKEN_KEY_SPKI_SHA256;
}

/** The public JWK members of a key, built member by member: a private member can never slip in. */
async function publicMembers(key: KeyObject): Promise<JWK> {
  const { kty, crv, x, y, n, e } = await exportJWK(key.type === 'private' ? createPublicKey(key) : key);
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined));
}

/** The key id of a token key: its RFC 7638 JWK thumbprint (SHA-256, base64url), the same on every instance. */
export async function tokenKeyId(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await publicMembers(key), 'sha256');
}

async function describeKey(setting: string, file: string, publicKey: KeyObject): Promise<TokenKey> {
  const alg = algorithmOf(setting, file, publicKey);
  const members = await publicMembers(publicKey);
  const kid = await calculateJwkThumbprint(members, 'sha256');
  return Object.freeze({
    kid,
    alg,
    publicKey,
    publicJwk: Object.freeze({ ...members, kid, alg, use: 'sig' }),
    file,
  });
}

/**
 * Loads TOKEN_SIGNING_KEY_FILE (a PEM private key) and TOKEN_VERIFY_KEY_FILES (PEM public or private
 * keys; only their public part is kept). Throws a {@link ConfigError} naming the variable when a file is
 * unreadable, not a PEM key or of an unsupported type, and when NODE_ENV=production uses the shipped
 * development key, for signing or for verifying.
 */
export async function loadTokenKeys(
  signingFile: string,
  verifyFiles: readonly string[],
  production: boolean,
): Promise<TokenKeyRing> {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readPem(SIGNING, signingFile));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(SIGNING, `${signingFile} is not a PEM private key; ${GENERATE}`);
  }
  const signingPublic = createPublicKey(privateKey);
  const dev = isDevKey(signingPublic);
  if (dev && production) {
    throw new ConfigError(
      SIGNING,
      `the shipped development token key (${DEV_TOKEN_KEY_FILE}) is public and refused when NODE_ENV=production; ${GENERATE}`,
    );
  }
  const signing = { ...(await describeKey(SIGNING, signingFile, signingPublic)), privateKey };
  const accepted: TokenKey[] = [signing];
  for (const file of verifyFiles) {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(readPem(VERIFY, file));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(VERIFY, `${file} is not a PEM public or private key`);
    }
    // Anyone can sign with the dev key: accepting its tokens is as bad as signing with it.
    if (production && isDevKey(publicKey)) {
      throw new ConfigError(
        VERIFY,
        `${file} is the shipped development token key, refused when NODE_ENV=production`,
      );
    }
    const key = await describeKey(VERIFY, file, publicKey);
    if (!accepted.some((k) => k.kid === key.kid)) accepted.push(key);
  }
  const byKid = new Map(accepted.map((k) => [k.kid, k]));
  return Object.freeze({
    signing: Object.freeze(signing),
    accepted: Object.freeze(accepted),
    isDevKey: dev,
    byKid: (kid: string) => byKid.get(kid),
  });
}
