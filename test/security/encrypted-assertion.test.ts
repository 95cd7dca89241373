// Encrypted assertions (SAML core 2.3.4, XML Encryption 1.1). The SP key decrypts; the decrypted
// assertion meets every rule a plain one does. RSA-1.5 key transport is refused: Bleichenbacher's
// attack on PKCS#1 v1.5 (Jager, Schinzel, Somorovsky, "One Bad Apple", ESORICS 2012).
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import {
  ADMIN_TOKEN,
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { attackerKey, mintResponseXml, spDevCertPem, type MintOptions } from '../support/idp.js';
import { sample } from '../support/metrics.js';

type Encrypt = (
  content: string,
  options: Record<string, unknown>,
  cb: (err: Error | null, result: string) => void,
) => void;
const xmlenc = createRequire(import.meta.url)('xml-encryption') as { encrypt: Encrypt };

const GCM = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';
const OAEP = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';
const RSA15 = 'http://www.w3.org/2001/04/xmlenc#rsa-1_5';

/** Mints a response and replaces its (signed) Assertion by an EncryptedAssertion for `certPem`. */
async function encryptedResponse(
  t: TestSp,
  opts: Partial<MintOptions> & { certPem?: string; keyAlgorithm?: string } = {},
): Promise<string> {
  const u = t.urls('acme');
  const xml = mintResponseXml({ acsUrl: u.acsUrl, audience: u.audience, ...opts });
  const assertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0];
  const cert = opts.certPem ?? spDevCertPem;
  const encrypted = await new Promise<string>((resolve, reject) =>
    xmlenc.encrypt(
      assertion,
      {
        rsa_pub: cert,
        pem: cert,
        encryptionAlgorithm: GCM,
        keyEncryptionAlgorithm: opts.keyAlgorithm ?? OAEP,
        warnInsecureAlgorithm: false,
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    ),
  );
  const wrapped = `<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${encrypted}</saml:EncryptedAssertion>`;
  return Buffer.from(xml.replace(assertion, wrapped)).toString('base64');
}

describe('encrypted assertions', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
  });
  afterEach(async () => t.close());

  async function expectRejected(samlResponse: string, code: string, reason?: string) {
    const res = await postAcs(t, 'acme', samlResponse);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error.code).toBe(code);
    await me(t, cookiesFrom(res)).expect(401);
    if (reason) {
      // The public answer is uniform (no decryption oracle); the admin sees the real reason.
      const event = await request(t.app)
        .get(`/api/audit/${res.body.error.referenceId as string}`)
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .expect(200);
      expect(event.body.detail).toContain(reason);
    }
  }

  it('decrypts an assertion encrypted for the SP certificate (AES-256-GCM, RSA-OAEP) and logs in', async () => {
    const res = await postAcs(t, 'acme', await encryptedResponse(t, { email: 'secret.agent@acme.test' }));
    expect(res.status).toBe(303);
    expect((await me(t, cookiesFrom(res)).expect(200)).body.email).toBe('secret.agent@acme.test');
  });

  it('counts each decryption (sspk_saml_decryptions_total), not an RSA-1.5 body refused before it', async () => {
    const m = await startSp({ metricsEnabled: true });
    try {
      await createAccountWithIdp(m, 'acme');
      const decryptions = async () =>
        sample((await request(m.app).get('/metrics').expect(200)).text, 'sspk_saml_decryptions_total');
      expect(await decryptions()).toBe(0);
      expect((await postAcs(m, 'acme', await encryptedResponse(m))).status).toBe(303);
      expect(await decryptions()).toBe(1);
      const refused = await postAcs(m, 'acme', await encryptedResponse(m, { keyAlgorithm: RSA15 }));
      expect(refused.body.error.code).toBe('SAML_ALGORITHM_UNSUPPORTED');
      expect(await decryptions()).toBe(1);
    } finally {
      await m.close();
    }
  });

  it('refuses an assertion encrypted for another key', async () => {
    await expectRejected(
      await encryptedResponse(t, { certPem: attackerKey.cert }),
      'SAML_ENCRYPTED_ASSERTION_INVALID',
    );
  });

  it('refuses RSA-1.5 key transport (Bleichenbacher)', async () => {
    await expectRejected(await encryptedResponse(t, { keyAlgorithm: RSA15 }), 'SAML_ALGORITHM_UNSUPPORTED');
  });

  it('refuses an encrypted assertion that nobody signed: encryption is not authentication', async () => {
    await expectRejected(
      await encryptedResponse(t, { sign: 'none' }),
      'SAML_ENCRYPTED_ASSERTION_INVALID',
      'SAML_SIGNATURE_MISSING',
    );
  });

  it('refuses an encrypted assertion signed by an attacker key', async () => {
    await expectRejected(
      await encryptedResponse(t, { key: attackerKey }),
      'SAML_ENCRYPTED_ASSERTION_INVALID',
      'SAML_SIGNATURE_INVALID',
    );
  });

  it('holds the decrypted assertion to the SHA-1 policy too', async () => {
    await expectRejected(
      await encryptedResponse(t, { signatureAlgorithm: 'sha1' }),
      'SAML_ENCRYPTED_ASSERTION_INVALID',
      'SAML_WEAK_ALGORITHM',
    );
  });

  it('refuses comments hidden inside the encrypted assertion (CVE-2017-11427 family)', async () => {
    const sneaky = await encryptedResponse(t, {
      beforeSign: (x) => x.replace('jane.doe@example.com', 'jane.doe@example.com<!---->.evil.test'),
    });
    await expectRejected(sneaky, 'SAML_ENCRYPTED_ASSERTION_INVALID', 'SAML_XML_COMMENT_FORBIDDEN');
  });
});
