/**
 * Ciphertext-tampering oracle on encrypted assertions: Jager & Somorovsky, "How to Break XML
 * Encryption" (ACM CCS 2011). With a CBC block cipher, flipping ciphertext bits flips chosen
 * plaintext bits; if the SP answers differently depending on whether the decrypted bytes have valid
 * padding, are well-formed XML, or parse into something else, an attacker who captured an
 * EncryptedAssertion can decrypt it with adaptive queries. The ACS must therefore answer every
 * tampered ciphertext the same way (or refuse CBC outright, which also makes the answers equal).
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountWithIdp, postAcs, startSp, type TestSp } from '../support/harness.js';
import { spDevCertPem } from '../support/idp.js';
import { expectRejected, mintXmlFor } from './support.js';

type Encrypt = (
  content: string,
  options: Record<string, unknown>,
  cb: (err: Error | null, result: string) => void,
) => void;
const xmlenc = createRequire(import.meta.url)('xml-encryption') as { encrypt: Encrypt };

const AES128_CBC = 'http://www.w3.org/2001/04/xmlenc#aes128-cbc';
const OAEP = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';

describe('XML Encryption CBC oracle (Jager & Somorovsky, CCS 2011)', () => {
  let t: TestSp;
  let xml: string;
  let assertion: string;
  let encrypted: string;
  let content: string;

  beforeAll(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000 });
    await createAccountWithIdp(t, 'acme');
    xml = mintXmlFor(t, 'acme');
    assertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0];
    encrypted = await new Promise<string>((resolve, reject) =>
      xmlenc.encrypt(
        assertion,
        {
          rsa_pub: spDevCertPem,
          pem: spDevCertPem,
          encryptionAlgorithm: AES128_CBC,
          keyEncryptionAlgorithm: OAEP,
          warnInsecureAlgorithm: false,
        },
        (err, result) => (err ? reject(err) : resolve(result)),
      ),
    );
    // The last CipherValue is the content (the first one is the encrypted key).
    const values = [...encrypted.matchAll(/<xenc:CipherValue>([^<]+)<\/xenc:CipherValue>/g)];
    content = values[values.length - 1]![1]!;
  });
  afterAll(async () => {
    await t.close();
  });

  /** The captured response with the content ciphertext changed by `tamper` (IV || C1 || … || Cn). */
  function tampered(tamper: (bytes: Buffer) => void): string {
    const bytes = Buffer.from(content, 'base64');
    tamper(bytes);
    const enc = encrypted.replace(content, bytes.toString('base64'));
    const wrapped = `<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${enc}</saml:EncryptedAssertion>`;
    return Buffer.from(xml.replace(assertion, wrapped)).toString('base64');
  }

  it('every tampered AES-CBC ciphertext gets one and the same answer, and none logs in', async () => {
    const probes: Record<string, (b: Buffer) => void> = {
      // IV byte 0 → first plaintext byte: "<" becomes another character (not well-formed).
      'first plaintext byte changed': (b) => {
        b[0]! ^= 0x01;
      },
      // Last byte of the second-to-last block → the padding-length byte of the last block.
      'padding length byte changed (x01)': (b) => {
        b[b.length - 17]! ^= 0x01;
      },
      'padding length byte changed (x40)': (b) => {
        b[b.length - 17]! ^= 0x40;
      },
      'a middle block changed': (b) => {
        b[Math.floor(b.length / 2)]! ^= 0x01;
      },
      'the last block changed': (b) => {
        b[b.length - 1]! ^= 0x80;
      },
    };
    const answers: Record<string, string> = {};
    for (const [name, tamper] of Object.entries(probes)) {
      const res = await postAcs(t, 'acme', tampered(tamper));
      expect(res.status, name).toBeGreaterThanOrEqual(400);
      expect(res.status, name).toBeLessThan(500);
      answers[name] = `${res.status} ${res.body?.error?.code as string}`;
      await expectRejected(t, res, res.body.error.code);
    }
    // BUG (src/saml/constants.ts ENCRYPTION_ALGORITHMS allows aes128/256-cbc; validate-response.ts
    // maps decryption failures to SAML_ENCRYPTED_ASSERTION_INVALID but parse failures of the decrypted
    // bytes to SAML_RESPONSE_MALFORMED): the answers differ, which is the oracle.
    expect(new Set(Object.values(answers)), JSON.stringify(answers, null, 2)).toHaveProperty('size', 1);
  });
});
