import { createHash, X509Certificate, type KeyObject } from 'node:crypto';

/**
 * Every key pair that ships with saml-sp-kit, by SHA-256 of its SubjectPublicKeyInfo (DER): their
 * private keys are in this repository, so anyone can sign with them. A connection that trusts one of
 * them lets anybody log in as anybody (the README's demo imports `test/fixtures/idp.crt`), so in
 * production they are refused at import and ignored at the ACS. Matching on the key, not the file or
 * the certificate, also catches a new certificate wrapped around a published key.
 *
 * The npm package does not ship `test/`, hence hashes here rather than a directory scan.
 * `test/unit/published-keys.test.ts` walks the repository and fails when a key or certificate file is
 * missing from this list: add it here when you add a fixture.
 */
export const PUBLISHED_KEYS: ReadonlyMap<string, string> = new Map([
  [
    '901ceaaa3626c1cced703155e14f3fdb5d48546e19ff224c78426ac3360a42a5',
    'certs/sp-dev.* (development SP pair)',
  ],
  [
    '696430578dc81203414dc2901cc49704d6d14257342f8a36712545714697872e',
    'test/fixtures/idp.* (test IdP; scripts/demo-idp.ts signs with it)',
  ],
  ['0604059480b8b3a4de781d82aeb3b889a39bcdfbbf24c5ebc6c3dd0b0ee36829', 'test/fixtures/idp-rotated.*'],
  ['54c2d35bcc8790c1dc0a10bc78ace8d0fe50c80e4790467efd1b169ecc35a05a', 'test/fixtures/attacker.*'],
  ['5e517e382c1eb7aa089aedd43e868bce95f5c5882464e61a87f82d6ce6b2ce29', 'test/fixtures/expired.*'],
  [
    '6e2d33f84830e33d6288e62c26837811dee497817f78a53148ae15bd7116c9eb',
    'certs/token-dev.key (development bot-token key)',
  ],
]);

/** SHA-256 (hex) of a public key's SubjectPublicKeyInfo, DER-encoded. */
export function spkiSha256(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** Where the certificate's key ships with saml-sp-kit, or null when it does not. */
export function publishedKeyOf(cert: X509Certificate | string): string | null {
  let x509: X509Certificate;
  try {
    x509 = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  } catch {
    return null; // not a certificate: it cannot verify anything either
  }
  return PUBLISHED_KEYS.get(spkiSha256(x509.publicKey)) ?? null;
}
