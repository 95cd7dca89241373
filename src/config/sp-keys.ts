import { X509Certificate, createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from './load.js';
import { DEV_SP_CERT_FILE, DEV_SP_KEY_FILE } from './schema.js';

/**
 * SHA-256 of the public key (SPKI DER) of the dev pair shipped in certs/. Matching on the key, not
 * the path, catches a copy of the dev pair under another name.
 */
export const DEV_SP_KEY_SPKI_SHA256 = '901ceaaa3626c1cced703155e14f3fdb5d48546e19ff224c78426ac3360a42a5';

/** Why a key or certificate file could not be read, with what to do about it. */
function unreadable(file: string, err: unknown, isDefault: boolean): string {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  if (code !== 'ENOENT') return `cannot read ${file} (${code})`;
  const fix = 'set SP_KEY_FILE and SP_CERT_FILE to your SP key pair (certs/README.md shows how to make one)';
  return isDefault
    ? `cannot read ${file} (ENOENT): ${fix}; the development pair exists only in a clone of the repository, never in the npm package`
    : `cannot read ${file} (ENOENT): ${fix}`;
}

/** The SP key pair, validated. */
export interface LoadedSpKeys {
  privateKey: string;
  certificate: string;
  isDevPair: boolean;
}

/** Loads and checks SP_KEY_FILE / SP_CERT_FILE: readable, parsable, matching, and not the dev pair in production. */
export function loadSpKeys(keyFile: string, certFile: string, production: boolean): LoadedSpKeys {
  let privateKey: string;
  let certificate: string;
  try {
    privateKey = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw new ConfigError('SP_KEY_FILE', unreadable(keyFile, err, keyFile === DEV_SP_KEY_FILE));
  }
  try {
    certificate = readFileSync(certFile, 'utf8');
  } catch (err) {
    throw new ConfigError('SP_CERT_FILE', unreadable(certFile, err, certFile === DEV_SP_CERT_FILE));
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(privateKey);
  } catch {
    throw new ConfigError('SP_KEY_FILE', `${keyFile} is not a PEM private key`);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certificate);
  } catch {
    throw new ConfigError('SP_CERT_FILE', `${certFile} is not a PEM certificate`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new ConfigError('SP_KEY_FILE', `${keyFile} does not match the certificate in SP_CERT_FILE`);
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const isDevPair = createHash('sha256').update(spki).digest('hex') === DEV_SP_KEY_SPKI_SHA256;
  if (isDevPair && production) {
    throw new ConfigError(
      'SP_KEY_FILE',
      'the shipped development key pair (certs/sp-dev.*) is public and refused when NODE_ENV=production; generate your own (see certs/README.md)',
    );
  }
  return { privateKey, certificate, isDevPair };
}
