/**
 * Key types. A certificate is only as strong as its key: 1024-bit RSA, 512-bit RSA-PSS, DSA-1024 or
 * EC on secp160r1 can be forged by a determined attacker, so they are refused at import
 * (CERT_WEAK_KEY). And the SignatureMethod must fit the key: node's verifier, asked for "RSA-SHA256",
 * verifies an ECDSA signature with an EC key and a PSS signature with an RSA-PSS key, so an
 * `rsa-sha256` label once let any trusted key type sign. Only RSA keys verify `rsa-sha*` signatures.
 * Certificates are minted at test time (test/support/certs.ts) for keys generated at test time.
 */
import { generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateFor, generatedPair, type KeySpec } from '../support/certs.js';
import {
  ADMIN_TOKEN,
  createAccountWithIdp,
  postAcs,
  SSO_URL,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { idpKey } from '../support/idp.js';
import { b64, expectLoggedIn, expectRejected, mintXmlFor, VICTIM } from './support.js';

describe('certificate key types at import', () => {
  let t: TestSp;
  beforeAll(async () => {
    t = await startSp();
    await request(t.app)
      .post('/api/accounts')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ slug: 'acme', name: 'Acme' })
      .expect(201);
  });
  afterAll(async () => {
    await t.close();
  });

  const importCert = (certificate: string) =>
    request(t.app)
      .put('/api/accounts/acme/saml')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ certificate, ssoUrl: SSO_URL });

  const weak: Array<[string, KeySpec]> = [
    ['1024-bit RSA', { type: 'rsa', bits: 1024 }],
    ['512-bit RSA-PSS', { type: 'rsa-pss', bits: 512 }],
    ['1024-bit RSA-PSS', { type: 'rsa-pss', bits: 1024 }],
    ['DSA-1024', { type: 'dsa', bits: 1024 }],
    ['DSA-2048', { type: 'dsa', bits: 2048 }],
    ['EC on secp160r1', { type: 'ec', curve: 'secp160r1' }],
    ['EC on secp256k1', { type: 'ec', curve: 'secp256k1' }],
    ['EC on brainpoolP256r1', { type: 'ec', curve: 'brainpoolP256r1' }],
  ];
  for (const [name, spec] of weak) {
    it(`refuses a certificate with a ${name} key → 400 CERT_WEAK_KEY`, async () => {
      const res = await importCert(generatedPair(spec, `weak-${spec.type}.example`).cert);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('CERT_WEAK_KEY');
      expect(res.body.error.message).toContain('at least 2048 bits');
    });
  }

  it('refuses Ed448 (not an allowed type) → 400 CERT_WEAK_KEY', async () => {
    const res = await importCert(certificateFor(generateKeyPairSync('ed448').publicKey, 'ed448.example'));
    expect(res.body.error?.code).toBe('CERT_WEAK_KEY');
  });

  const allowed: Array<[string, KeySpec]> = [
    ['2048-bit RSA', { type: 'rsa', bits: 2048 }],
    ['2048-bit RSA-PSS', { type: 'rsa-pss', bits: 2048 }],
    ['EC P-256', { type: 'ec', curve: 'prime256v1' }],
    ['EC P-384', { type: 'ec', curve: 'secp384r1' }],
    ['EC P-521', { type: 'ec', curve: 'secp521r1' }],
    ['Ed25519', { type: 'ed25519' }],
  ];
  for (const [name, spec] of allowed) {
    it(`accepts a certificate with a ${name} key`, async () => {
      const res = await importCert(generatedPair(spec, `ok-${spec.type}.example`).cert);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    });
  }
});

describe('the SignatureMethod must fit the key type', () => {
  let t: TestSp;
  const ec = generatedPair({ type: 'ec', curve: 'prime256v1' }, 'test-tenant.auth0.com');
  const pss = generatedPair({ type: 'rsa-pss', bits: 2048 }, 'test-tenant.auth0.com');
  beforeAll(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000 });
    await createAccountWithIdp(t, 'ec', { certificate: ec.cert });
    await createAccountWithIdp(t, 'pss', { certificate: pss.cert });
    await createAccountWithIdp(t, 'both', { certificate: ec.cert + idpKey.cert });
  }, 30_000);
  afterAll(async () => {
    await t.close();
  });

  it('an ECDSA signature labelled rsa-sha256, by a trusted EC P-256 key → SAML_SIGNATURE_INVALID', async () => {
    // xml-crypto signs "RSA-SHA256" with whatever key it is given: with an EC key, that is ECDSA.
    const xml = mintXmlFor(t, 'ec', { key: ec, nameId: VICTIM.nameId, email: VICTIM.email });
    expect(xml).toContain('xmldsig-more#rsa-sha256');
    await expectRejected(t, await postAcs(t, 'ec', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  it('an RSA-PSS signature labelled rsa-sha256, by a trusted RSA-PSS key → SAML_SIGNATURE_INVALID', async () => {
    const xml = mintXmlFor(t, 'pss', { key: pss, nameId: VICTIM.nameId, email: VICTIM.email });
    await expectRejected(t, await postAcs(t, 'pss', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  it('the same, response-signed → SAML_SIGNATURE_INVALID', async () => {
    const xml = mintXmlFor(t, 'ec', { key: ec, sign: 'response' });
    await expectRejected(t, await postAcs(t, 'ec', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  it('next to an RSA certificate, the EC one still cannot sign; the RSA one logs in', async () => {
    await expectRejected(
      t,
      await postAcs(t, 'both', b64(mintXmlFor(t, 'both', { key: ec }))),
      'SAML_SIGNATURE_INVALID',
    );
    await expectLoggedIn(t, await postAcs(t, 'both', b64(mintXmlFor(t, 'both', { key: idpKey }))));
  });
});
