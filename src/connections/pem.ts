import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { SpError } from '../errors.js';
import type { StoredCertificate } from '../storage/types.js';
import { publishedKeyOf } from './published-keys.js';

const MAX_CERTIFICATES = 10;
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Curves allowed for EC keys, by node's names: P-256, P-384, P-521. */
const EC_CURVES: ReadonlySet<string> = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/**
 * Why a certificate's key is not acceptable, or null. Allowed: RSA and RSA-PSS of at least 2048 bits,
 * EC on P-256/P-384/P-521, Ed25519. Anything else — 1024-bit RSA, 512-bit RSA-PSS, DSA, small or exotic
 * curves (secp160r1 offers ~80-bit security), Ed448, X25519 — is refused: a signature verifies with
 * whatever key the certificate holds, so a weak key is a forgeable one.
 */
export function keyWeakness(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = details?.modulusLength ?? 0;
    return bits >= 2048 ? null : `${bits}-bit ${type.toUpperCase()}`;
  }
  if (type === 'ec') {
    return EC_CURVES.has(details?.namedCurve ?? '')
      ? null
      : `EC on ${details?.namedCurve ?? 'an unnamed curve'}`;
  }
  if (type === 'ed25519') return null;
  return `${type ?? 'unknown'} key`;
}

/** Options of {@link parseCertificates}. */
export interface ParseCertificatesOptions {
  /** Refuse certificates whose key ships with saml-sp-kit (production: anyone holds the private key). */
  refusePublishedKeys?: boolean;
}

/**
 * Parses the IdP signing certificate(s) an admin uploaded: one or more PEM blocks, a DER file, or a
 * bare base64 body as copied from metadata. Rejects private keys (never stored, never echoed),
 * anything that is not an X.509 certificate, expired or not-yet-valid certificates, weak or unsupported
 * keys and, when asked (production), keys published with saml-sp-kit.
 */
export function parseCertificates(
  input: string | Buffer,
  now: Date = new Date(),
  options: ParseCertificatesOptions = {},
): StoredCertificate[] {
  const text = typeof input === 'string' ? input : input.toString('latin1');
  if (/PRIVATE KEY-----/.test(text)) throw new SpError('CERT_IS_PRIVATE_KEY');
  if (text.trim() === '') throw new SpError('CERT_MISSING');

  const ders: Buffer[] = [];
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length > 0) {
    for (const [, label, body] of blocks) {
      if (label !== 'CERTIFICATE' && label !== 'TRUSTED CERTIFICATE') {
        throw new SpError('CERT_INVALID', { detail: `PEM block ${label ?? ''} is not a certificate` });
      }
      ders.push(Buffer.from((body ?? '').replace(/\s+/g, ''), 'base64'));
    }
  } else if (typeof input !== 'string' && input[0] === 0x30) {
    ders.push(input);
  } else if (/^[A-Za-z0-9+/=\s]+$/.test(text)) {
    ders.push(Buffer.from(text.replace(/\s+/g, ''), 'base64'));
  } else {
    throw new SpError('CERT_INVALID', { detail: 'no PEM certificate block found' });
  }
  if (ders.length > MAX_CERTIFICATES) {
    throw new SpError('CERT_INVALID', { detail: `at most ${MAX_CERTIFICATES} certificates` });
  }

  const out = new Map<string, StoredCertificate>();
  for (const der of ders) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch (err) {
      if (looksLikePrivateKey(der)) throw new SpError('CERT_IS_PRIVATE_KEY');
      throw new SpError('CERT_INVALID', { cause: err, detail: 'not a parsable X.509 certificate' });
    }
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    const subject = cert.subject.split('\n').join(', ');
    if (notAfter.getTime() <= now.getTime()) {
      throw new SpError('CERT_EXPIRED', {
        message: `The certificate "${subject}" expired on ${notAfter.toISOString()}.`,
      });
    }
    if (notBefore.getTime() > now.getTime()) {
      throw new SpError('CERT_NOT_YET_VALID', {
        message: `The certificate "${subject}" is valid only from ${notBefore.toISOString()}.`,
      });
    }
    const weakness = keyWeakness(cert.publicKey);
    if (weakness) throw new SpError('CERT_WEAK_KEY', { detail: `${subject}: ${weakness}` });
    const published = options.refusePublishedKeys ? publishedKeyOf(cert) : null;
    if (published) {
      throw new SpError('CERT_PUBLISHED_KEY', { detail: `${subject}: key of ${published}` });
    }
    out.set(cert.fingerprint256, {
      pem: cert.toString(),
      fingerprintSha256: cert.fingerprint256,
      subject,
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
    });
  }
  return [...out.values()];
}

/** True when DER bytes parse as a private key (a key uploaded without PEM armour). */
function looksLikePrivateKey(der: Buffer): boolean {
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch {
      // not this encoding
    }
  }
  return false;
}
