/**
 * Keys we publish are never trusted in production. test/fixtures/idp.key is in this repository and the
 * README's demo imports test/fixtures/idp.crt: a production connection that trusts it lets anyone sign
 * an assertion for any user, admin included. With NODE_ENV=production every certificate whose key
 * ships with saml-sp-kit is refused at import (CERT_PUBLISHED_KEY), matched on the key; and one stored
 * before this check (here: written straight into the store) is ignored at the ACS.
 */
import { rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificates } from '../../src/connections/pem.js';
import { certificateFor, generatedPair, productionKeys } from '../support/certs.js';
import { ADMIN_TOKEN, patchSettings, postAcs, SSO_URL, startSp, type TestSp } from '../support/harness.js';
import {
  attackerKey,
  idpKey,
  idpMetadataXml,
  rotatedIdpKey,
  spDevCertPem,
  TEST_TENANT_ISSUER,
} from '../support/idp.js';
import { b64, expectLoggedIn, expectRejected, mintXmlFor, VICTIM } from './support.js';

describe('published keys in production', () => {
  let t: TestSp;
  let dir: string;
  /** A real IdP's certificate: a key generated here, published nowhere. */
  const realIdp = generatedPair({ type: 'rsa', bits: 2048 }, 'real-tenant.auth0.com');

  const importCert = (slug: string, certificate: string) =>
    request(t.app)
      .put(`/api/accounts/${slug}/saml`)
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ certificate, ssoUrl: SSO_URL });

  async function createAccount(slug: string): Promise<string> {
    await request(t.app)
      .post('/api/accounts')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ slug, name: slug })
      .expect(201);
    await patchSettings(t, slug, { loginConfirmation: false });
    return (await t.sp.stores.accounts.getBySlug(slug))!.id;
  }

  /** Writes a connection straight into the store, as an import made before this check would have. */
  async function storeConnection(slug: string, pems: string[]): Promise<void> {
    const accountId = await createAccount(slug);
    await t.sp.stores.connections.upsert(accountId, {
      ssoUrl: SSO_URL,
      idpEntityId: TEST_TENANT_ISSUER,
      idpEntityIdSource: 'admin',
      certificates: pems.flatMap((pem) => parseCertificates(pem)),
    });
  }

  beforeAll(async () => {
    // Production refuses the shipped dev keys: the test's own.
    const keys = productionKeys('sspk-prod-');
    dir = keys.dir;
    t = await startSp({
      ...keys.config,
      rateLimitAcsPerMinute: 1_000_000,
    });
    await createAccount('acme');
  }, 30_000);
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, pem] of [
    ['the demo/test IdP certificate test/fixtures/idp.crt', idpKey.cert],
    ['test/fixtures/idp-rotated.crt', rotatedIdpKey.cert],
    ['test/fixtures/attacker.crt', attackerKey.cert],
    ['the development SP certificate certs/sp-dev.crt', spDevCertPem],
    [
      'a new certificate around the published idp key',
      certificateFor(new X509Certificate(idpKey.cert).publicKey, 'x'),
    ],
    ['the published certificate next to a real one', realIdp.cert + idpKey.cert],
  ] as const) {
    it(`refuses ${name} at import → 400 CERT_PUBLISHED_KEY`, async () => {
      const res = await importCert('acme', pem);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('CERT_PUBLISHED_KEY');
      expect(res.body.error.message).toMatch(/ships with saml-sp-kit/);
      expect(res.body.error.message).toMatch(/real signing certificate/);
    });
  }

  it('refuses it in uploaded metadata too', async () => {
    const res = await request(t.app)
      .put('/api/accounts/acme/saml')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .set('Content-Type', 'application/json')
      .send({
        metadataXml: idpMetadataXml({ entityId: TEST_TENANT_ISSUER, ssoUrl: SSO_URL, certs: [idpKey.cert] }),
      });
    expect(res.body.error?.code).toBe('CERT_PUBLISHED_KEY');
  });

  it('accepts a real certificate', async () => {
    expect((await importCert('acme', realIdp.cert)).status).toBe(200);
  });

  it('a stored connection that trusts only the published key does not log anyone in', async () => {
    await storeConnection('legacy', [idpKey.cert]);
    const xml = mintXmlFor(t, 'legacy', { key: idpKey, nameId: VICTIM.nameId, email: VICTIM.email });
    await expectRejected(t, await postAcs(t, 'legacy', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  it('next to a real certificate, the published one is ignored and the real one still works', async () => {
    await storeConnection('mixed', [idpKey.cert, realIdp.cert]);
    const forged = mintXmlFor(t, 'mixed', { key: idpKey, nameId: VICTIM.nameId, email: VICTIM.email });
    await expectRejected(t, await postAcs(t, 'mixed', b64(forged)), 'SAML_SIGNATURE_INVALID');
    await expectLoggedIn(t, await postAcs(t, 'mixed', b64(mintXmlFor(t, 'mixed', { key: realIdp }))));
  });
});

describe('published keys outside production', () => {
  it('the test and demo certificates import and log in (NODE_ENV=test)', async () => {
    const t = await startSp({ rateLimitAcsPerMinute: 1_000_000 });
    try {
      await request(t.app)
        .post('/api/accounts')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .send({ slug: 'demo', name: 'Demo' })
        .expect(201);
      await patchSettings(t, 'demo', { loginConfirmation: false });
      await request(t.app)
        .put('/api/accounts/demo/saml')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .send({ certificate: idpKey.cert, ssoUrl: SSO_URL })
        .expect(200);
      await expectLoggedIn(t, await postAcs(t, 'demo', b64(mintXmlFor(t, 'demo'))));
    } finally {
      await t.close();
    }
  });
});
