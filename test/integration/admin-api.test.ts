import { X509Certificate } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  BASE_URL,
  cookiesFrom,
  createAccountWithIdp,
  me,
  patchSettings,
  postAcs,
  responseFor,
  SSO_URL,
  startSp,
  type TestSp,
} from '../support/harness.js';
import {
  expiredCertPem,
  idpKey,
  idpMetadataXml,
  rotatedIdpKey,
  spDevCertPem,
  TEST_TENANT_ISSUER,
} from '../support/idp.js';

const AUTH = `Bearer ${ADMIN_TOKEN}`;
const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
const NS_MD = 'urn:oasis:names:tc:SAML:2.0:metadata';

type Res = { status: number; body: unknown; text: string };

/** Asserts the status and the catalogued error body `{ error: { code, message, referenceId } }`. */
function expectError(res: Res, status: number, code: string): void {
  expect({ status: res.status, code: (res.body as { error?: { code?: string } }).error?.code }).toEqual({
    status,
    code,
  });
  const body = res.body as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(['error']);
  const error = body.error as Record<string, unknown>;
  expect(Object.keys(error).sort()).toEqual(['code', 'message', 'referenceId']);
  expect(typeof error.message).toBe('string');
  expect((error.message as string).length).toBeGreaterThan(0);
  expect(error.referenceId).toMatch(/^ref_[0-9a-f]{16}$/);
  expect(res.text).not.toMatch(/\bat .*\.[jt]s:\d+/);
}

const certBody = (pem: string) =>
  pem
    .replace(/-----BEGIN CERTIFICATE-----/, '')
    .replace(/-----END CERTIFICATE-----[\s\S]*$/, '')
    .replace(/\s+/g, '');

function certView(pem: string) {
  const x = new X509Certificate(pem);
  return {
    fingerprintSha256: x.fingerprint256,
    subject: x.subject.split('\n').join(', '),
    notBefore: new Date(x.validFrom).toISOString(),
    notAfter: new Date(x.validTo).toISOString(),
  };
}

function urlsOf(slug: string) {
  return {
    spEntityId: `${BASE_URL}/sso/${slug}/metadata`,
    acsUrl: `${BASE_URL}/sso/${slug}/acs`,
    metadataUrl: `${BASE_URL}/sso/${slug}/metadata`,
    loginUrl: `${BASE_URL}/sso/${slug}/login`,
  };
}

describe('admin JSON API', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
  });
  afterEach(async () => t.close());

  const api = () => request(t.app);
  const createAccount = (slug: string, name = `${slug} Inc`) =>
    api().post('/api/accounts').set('Authorization', AUTH).send({ slug, name });
  const putSaml = (slug: string) => api().put(`/api/accounts/${slug}/saml`).set('Authorization', AUTH);
  const getSaml = (slug: string) => api().get(`/api/accounts/${slug}/saml`).set('Authorization', AUTH);

  describe('the audit trail of the SAML connection', () => {
    const events = async (slug: string) =>
      (
        (await api().get(`/api/accounts/${slug}/audit`).set('Authorization', AUTH).expect(200)).body as {
          events: { code: string; outcome: string; detail: string }[];
        }
      ).events;

    it('records each import (who, what), each refused import (its code) and the deletion', async () => {
      await createAccount('trail').expect(201);
      await putSaml('trail').send({ certificate: idpKey.cert, ssoUrl: SSO_URL }).expect(200);
      await putSaml('trail').send({ certificate: 'not a certificate', ssoUrl: SSO_URL }).expect(400);
      await api().delete('/api/accounts/trail/saml').set('Authorization', AUTH).expect(204);
      const trail = await events('trail');
      const imported = trail.find((e) => e.code === 'IDP_CONNECTION_IMPORTED');
      expect(imported).toMatchObject({ outcome: 'success' });
      expect(imported!.detail).toContain(SSO_URL);
      expect(imported!.detail).toContain(certView(idpKey.cert).fingerprintSha256);
      expect(imported!.detail).toContain('by the operator (admin API token)');
      const refused = trail.find((e) => e.outcome === 'failure');
      expect(refused?.detail).toMatch(/^SAML IdP not imported \(certificate and SSO URL\)/);
      expect(trail.find((e) => e.code === 'IDP_CONNECTION_DELETED')).toMatchObject({ outcome: 'success' });
    });
  });

  describe('POST /api/accounts', () => {
    it('creates an account: 201 with account JSON', async () => {
      const res = await createAccount('acme', 'Acme Inc');
      expect(res.status).toBe(201);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toMatchObject({
        slug: 'acme',
        name: 'Acme Inc',
        metadataUrl: urlsOf('acme').metadataUrl,
        acsUrl: urlsOf('acme').acsUrl,
        loginUrl: urlsOf('acme').loginUrl,
      });
      expect(typeof res.body.id).toBe('string');
      expect(Number.isNaN(Date.parse(res.body.createdAt as string))).toBe(false);
      const fetched = await api().get('/api/accounts/acme').set('Authorization', AUTH).expect(200);
      expect(fetched.body).toEqual(res.body);
    });

    it('trims the name', async () => {
      const res = await createAccount('acme', '  Acme Inc  ').expect(201);
      expect(res.body.name).toBe('Acme Inc');
    });

    it.each([['ab'], ['0a'], ['a-'], ['a1-b2-c3'], [`a${'b'.repeat(62)}`]])(
      'accepts slug %j',
      async (slug) => {
        const res = await createAccount(slug);
        expect(res.status).toBe(201);
        expect(res.body.slug).toBe(slug);
      },
    );

    it.each([
      ['a'],
      [''],
      ['-ab'],
      ['Acme'],
      ['ACME'],
      ['acme_inc'],
      ['acme.inc'],
      ['ac me'],
      ['acmé'],
      ['acme\n'],
      ['\nacme'],
      ['acme/x'],
      ['../x'],
      [`a${'b'.repeat(63)}`],
      [42],
      [null],
      [['acme']],
    ])('refuses slug %j with 400 ACCOUNT_SLUG_INVALID', async (slug) => {
      const res = await api().post('/api/accounts').set('Authorization', AUTH).send({ slug, name: 'X' });
      expectError(res, 400, 'ACCOUNT_SLUG_INVALID');
    });

    it('refuses a missing slug', async () => {
      const res = await api().post('/api/accounts').set('Authorization', AUTH).send({ name: 'X' });
      expectError(res, 400, 'ACCOUNT_SLUG_INVALID');
    });

    it('refuses a duplicate slug with 409 ACCOUNT_EXISTS and keeps the first account', async () => {
      await createAccount('acme', 'First').expect(201);
      expectError(await createAccount('acme', 'Second'), 409, 'ACCOUNT_EXISTS');
      const fetched = await api().get('/api/accounts/acme').set('Authorization', AUTH).expect(200);
      expect(fetched.body.name).toBe('First');
    });

    it.each([[undefined], [''], ['   '], [42], ['x'.repeat(201)]])(
      'refuses name %j with 400 REQUEST_INVALID',
      async (name) => {
        const res = await api()
          .post('/api/accounts')
          .set('Authorization', AUTH)
          .send(name === undefined ? { slug: 'acme' } : { slug: 'acme', name });
        expectError(res, 400, 'REQUEST_INVALID');
        expectError(
          await api().get('/api/accounts/acme').set('Authorization', AUTH),
          404,
          'ACCOUNT_NOT_FOUND',
        );
      },
    );

    it('refuses invalid JSON with 400 REQUEST_INVALID', async () => {
      const res = await api()
        .post('/api/accounts')
        .set('Authorization', AUTH)
        .set('Content-Type', 'application/json')
        .send('{"slug": "acme",');
      expectError(res, 400, 'REQUEST_INVALID');
    });
  });

  describe('authentication and authorisation', () => {
    beforeEach(async () => {
      await createAccountWithIdp(t, 'acme');
      await createAccountWithIdp(t, 'globex');
    });

    it('refuses a request without Authorization with 401 AUTH_REQUIRED', async () => {
      expectError(await api().get('/api/accounts/acme/saml'), 401, 'AUTH_REQUIRED');
      expectError(await api().post('/api/accounts').send({ slug: 'new', name: 'N' }), 401, 'AUTH_REQUIRED');
      expectError(
        await api().put('/api/accounts/acme/saml').send({ certificate: idpKey.cert, ssoUrl: SSO_URL }),
        401,
        'AUTH_REQUIRED',
      );
      expectError(await api().delete('/api/accounts/acme/saml'), 401, 'AUTH_REQUIRED');
      expectError(
        await api().patch('/api/accounts/acme').send({ idpInitiated: false }),
        401,
        'AUTH_REQUIRED',
      );
      // nothing changed
      await getSaml('acme').expect(200);
      expectError(await api().get('/api/accounts/new').set('Authorization', AUTH), 404, 'ACCOUNT_NOT_FOUND');
      const acct = await api().get('/api/accounts/acme').set('Authorization', AUTH).expect(200);
      expect(acct.body.settings.idpInitiated).toBe(true);
    });

    it('refuses a wrong token with 401', async () => {
      for (const header of [
        'Bearer wrong-token-0123456789abcdef',
        `Bearer ${ADMIN_TOKEN}x`,
        `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
        `bearer ${ADMIN_TOKEN}`,
        `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`,
        ADMIN_TOKEN,
      ]) {
        const res = await api().get('/api/accounts/acme/saml').set('Authorization', header);
        expectError(res, 401, 'AUTH_REQUIRED');
      }
    });

    it('refuses a malformed Bearer header with 401, never 500', async () => {
      for (const header of [
        'Bearer',
        'Bearer ',
        'Bearer    ',
        `Bearer ${ADMIN_TOKEN} extra`,
        `Bearer  ${ADMIN_TOKEN}`,
        'Bearer \u00e9\u00e9\u00e9',
        `Bearer ${'a'.repeat(600)}`,
        '',
      ]) {
        const res = await api().get('/api/accounts/acme/saml').set('Authorization', header);
        expectError(res, 401, 'AUTH_REQUIRED');
      }
    });

    it('refuses any bearer token when ADMIN_API_TOKEN is not configured', async () => {
      const bare = await startSp({ adminApiToken: undefined });
      try {
        for (const header of [AUTH, 'Bearer ', 'Bearer undefined']) {
          expectError(
            await request(bare.app)
              .post('/api/accounts')
              .set('Authorization', header)
              .send({ slug: 'x1', name: 'X' }),
            401,
            'AUTH_REQUIRED',
          );
        }
      } finally {
        await bare.close();
      }
    });

    it('refuses a logged-in member session with 403 FORBIDDEN', async () => {
      const login = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|member' })).expect(303);
      const cookies = cookiesFrom(login);
      expect((await me(t, cookies).expect(200)).body.role).toBe('member');
      expectError(await api().get('/api/accounts/acme/saml').set('Cookie', cookies), 403, 'FORBIDDEN');
      expectError(
        await api()
          .put('/api/accounts/acme/saml')
          .set('Cookie', cookies)
          .send({ certificate: rotatedIdpKey.cert, ssoUrl: SSO_URL }),
        403,
        'FORBIDDEN',
      );
      expectError(await api().delete('/api/accounts/acme/saml').set('Cookie', cookies), 403, 'FORBIDDEN');
      expectError(
        await api()
          .patch('/api/accounts/acme')
          .set('Cookie', cookies)
          .send({ adminGroups: ['x'] }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await api().post('/api/accounts').set('Cookie', cookies).send({ slug: 'new', name: 'N' }),
        403,
        'FORBIDDEN',
      );
      const conn = await getSaml('acme').expect(200);
      expect(conn.body.certificates).toEqual([certView(idpKey.cert)]);
    });

    it('lets an account admin session manage its own account only', async () => {
      await patchSettings(t, 'acme', { adminGroups: ['sp-admins'] });
      const login = await postAcs(
        t,
        'acme',
        responseFor(t, 'acme', {
          nameId: 'auth0|boss',
          email: 'boss@acme.test',
          groups: ['staff', 'sp-admins'],
        }),
      ).expect(303);
      const cookies = cookiesFrom(login);
      expect((await me(t, cookies).expect(200)).body).toMatchObject({ account: 'acme', role: 'admin' });

      const own = await api().get('/api/accounts/acme/saml').set('Cookie', cookies);
      expect(own.status).toBe(200);
      expect(own.body.spEntityId).toBe(urlsOf('acme').spEntityId);

      const put = await api()
        .put('/api/accounts/acme/saml')
        .set('Cookie', cookies)
        .send({ certificate: idpKey.cert + rotatedIdpKey.cert, ssoUrl: SSO_URL });
      expect(put.status).toBe(200);
      expect(put.body.certificates).toHaveLength(2);
      expect((await getSaml('acme').expect(200)).body.certificates).toHaveLength(2);

      // another account: refused, and unchanged
      expectError(await api().get('/api/accounts/globex/saml').set('Cookie', cookies), 403, 'FORBIDDEN');
      expectError(
        await api()
          .put('/api/accounts/globex/saml')
          .set('Cookie', cookies)
          .send({ certificate: rotatedIdpKey.cert, ssoUrl: SSO_URL }),
        403,
        'FORBIDDEN',
      );
      expectError(await api().delete('/api/accounts/globex/saml').set('Cookie', cookies), 403, 'FORBIDDEN');
      expectError(
        await api().patch('/api/accounts/globex').set('Cookie', cookies).send({ idpInitiated: false }),
        403,
        'FORBIDDEN',
      );
      expect((await getSaml('globex').expect(200)).body.certificates).toEqual([certView(idpKey.cert)]);

      // creating accounts is for the token only
      expectError(
        await api().post('/api/accounts').set('Cookie', cookies).send({ slug: 'mine', name: 'Mine' }),
        403,
        'FORBIDDEN',
      );
      expectError(await api().get('/api/accounts/mine').set('Authorization', AUTH), 404, 'ACCOUNT_NOT_FOUND');
    });

    it('a session admin of one account is not an admin of another account with the same group', async () => {
      await patchSettings(t, 'acme', { adminGroups: ['sp-admins'] });
      // globex does NOT list sp-admins: the same IdP user is a member there
      const login = await postAcs(t, 'globex', responseFor(t, 'globex', { groups: ['sp-admins'] })).expect(
        303,
      );
      const cookies = cookiesFrom(login);
      expect((await me(t, cookies).expect(200)).body.role).toBe('member');
      expectError(await api().get('/api/accounts/globex/saml').set('Cookie', cookies), 403, 'FORBIDDEN');
    });

    it('a bad bearer header is refused even with an admin session', async () => {
      await patchSettings(t, 'acme', { adminGroups: ['sp-admins'] });
      const login = await postAcs(t, 'acme', responseFor(t, 'acme', { groups: ['sp-admins'] })).expect(303);
      const res = await api()
        .get('/api/accounts/acme/saml')
        .set('Cookie', cookiesFrom(login))
        .set('Authorization', 'Bearer wrong-token-0123456789');
      expectError(res, 401, 'AUTH_REQUIRED');
    });
  });

  describe('PUT /api/accounts/:slug/saml — import', () => {
    beforeEach(async () => {
      await createAccount('acme').expect(201);
      // These tests sign in from the tile and expect a direct sign-in (the confirmation step has its
      // own suite, test/security/login-csrf.test.ts).
      await api()
        .patch('/api/accounts/acme')
        .set('Authorization', AUTH)
        .send({ loginConfirmation: false })
        .expect(200);
    });

    it('imports certificate + ssoUrl as JSON and returns the connection JSON', async () => {
      const res = await putSaml('acme').send({ certificate: idpKey.cert, ssoUrl: SSO_URL });
      expect(res.status).toBe(200);
      const urls = urlsOf('acme');
      expect(res.body).toMatchObject({
        ...urls,
        ssoUrl: SSO_URL,
        idpEntityId: null,
        status: 'pending',
      });
      expect(res.body.certificates).toEqual([certView(idpKey.cert)]);
      expect(res.body.certificates[0].fingerprintSha256).toBe(
        new X509Certificate(idpKey.cert).fingerprint256,
      );
      expect(res.body.certificates[0].subject).toBe('CN=test-tenant.auth0.com');
      // never the certificate PEM or any key material in the view
      expect(JSON.stringify(res.body)).not.toMatch(/BEGIN|PRIVATE/);

      expect(res.body.auth0.applicationCallbackUrl).toBe(urls.acsUrl);
      const s = res.body.auth0.addonSettings;
      expect(s.audience).toBe(urls.spEntityId);
      expect(s.recipient).toBe(urls.acsUrl);
      expect(s.destination).toBe(urls.acsUrl);
      expect(s.signatureAlgorithm).toBe('rsa-sha256');
      expect(s.digestAlgorithm).toBe('sha256');
      expect(s.nameIdentifierFormat).toBe('urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified');
      expect(s.nameIdentifierProbes).toEqual([`${CLAIMS}/nameidentifier`]);
      expect(s.mappings).toEqual({
        user_id: `${CLAIMS}/nameidentifier`,
        email: `${CLAIMS}/emailaddress`,
        name: `${CLAIMS}/name`,
        given_name: `${CLAIMS}/givenname`,
        family_name: `${CLAIMS}/surname`,
        upn: `${CLAIMS}/upn`,
        groups: 'http://schemas.xmlsoap.org/claims/Group',
      });
      expect(s).toEqual({
        audience: urls.spEntityId,
        recipient: urls.acsUrl,
        destination: urls.acsUrl,
        mappings: s.mappings,
        nameIdentifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
        nameIdentifierProbes: [`${CLAIMS}/nameidentifier`],
        signatureAlgorithm: 'rsa-sha256',
        digestAlgorithm: 'sha256',
        signResponse: false,
        lifetimeInSeconds: 3600,
      });

      const got = await getSaml('acme').expect(200);
      expect(got.body).toEqual(res.body);
    });

    it('the Auth0 settings it hands out make a working login', async () => {
      const res = await putSaml('acme').send({ certificate: idpKey.cert, ssoUrl: SSO_URL }).expect(200);
      const s = res.body.auth0.addonSettings;
      const login = await postAcs(
        t,
        'acme',
        responseFor(t, 'acme', { audience: s.audience, recipient: s.recipient, destination: s.destination }),
      );
      expect(login.status).toBe(303);
    });

    it('imports two concatenated PEMs (rotation) as two certificates', async () => {
      const res = await putSaml('acme').send({
        certificate: `${idpKey.cert}\n${rotatedIdpKey.cert}`,
        ssoUrl: SSO_URL,
      });
      expect(res.status).toBe(200);
      expect(res.body.certificates).toEqual([certView(idpKey.cert), certView(rotatedIdpKey.cert)]);
      // both are trusted
      await postAcs(t, 'acme', responseFor(t, 'acme', { key: idpKey })).expect(303);
      await postAcs(t, 'acme', responseFor(t, 'acme', { key: rotatedIdpKey })).expect(303);
    });

    it('imports with an idpEntityId', async () => {
      const res = await putSaml('acme').send({
        certificate: idpKey.cert,
        ssoUrl: SSO_URL,
        idpEntityId: TEST_TENANT_ISSUER,
      });
      expect(res.status).toBe(200);
      expect(res.body.idpEntityId).toBe(TEST_TENANT_ISSUER);
      expect(res.body.idpEntityIdSource).toBe('admin');
      const other = await postAcs(
        t,
        'acme',
        responseFor(t, 'acme', { issuer: 'urn:other-tenant.auth0.com' }),
      );
      expect(other.status).toBe(401);
      expect(other.body.error.code).toBe('SAML_ISSUER_MISMATCH');
    });

    it('treats idpEntityId null or "" as unset', async () => {
      for (const idpEntityId of [null, '']) {
        const res = await putSaml('acme').send({ certificate: idpKey.cert, ssoUrl: SSO_URL, idpEntityId });
        expect(res.status).toBe(200);
        expect(res.body.idpEntityId).toBeNull();
      }
    });

    it('refuses an idpEntityId with whitespace: 400 IDP_ENTITY_ID_INVALID', async () => {
      const res = await putSaml('acme').send({
        certificate: idpKey.cert,
        ssoUrl: SSO_URL,
        idpEntityId: 'urn:test tenant',
      });
      expectError(res, 400, 'IDP_ENTITY_ID_INVALID');
      expectError(await getSaml('acme'), 404, 'CONNECTION_NOT_FOUND');
    });

    it('imports a multipart certificate file (.pem) with an ssoUrl field', async () => {
      const res = await putSaml('acme')
        .attach('certificate', Buffer.from(idpKey.cert), {
          filename: 'idp.pem',
          contentType: 'application/x-pem-file',
        })
        .field('ssoUrl', SSO_URL);
      expect(res.status).toBe(200);
      expect(res.body.ssoUrl).toBe(SSO_URL);
      expect(res.body.certificates).toEqual([certView(idpKey.cert)]);
    });

    it('imports a multipart DER certificate file (.cer)', async () => {
      const der = Buffer.from(new X509Certificate(rotatedIdpKey.cert).raw);
      const res = await putSaml('acme')
        .field('ssoUrl', SSO_URL)
        .attach('certificate', der, { filename: 'idp.cer', contentType: 'application/pkix-cert' });
      expect(res.status).toBe(200);
      expect(res.body.certificates).toEqual([certView(rotatedIdpKey.cert)]);
    });

    it('imports a multipart .crt file with two certificates and an idpEntityId field', async () => {
      const res = await putSaml('acme')
        .field('ssoUrl', SSO_URL)
        .field('idpEntityId', TEST_TENANT_ISSUER)
        .attach('certificate', Buffer.from(idpKey.cert + rotatedIdpKey.cert), 'idp.crt');
      expect(res.status).toBe(200);
      expect(res.body.certificates).toHaveLength(2);
      expect(res.body.idpEntityId).toBe(TEST_TENANT_ISSUER);
    });

    it('imports JSON metadataXml', async () => {
      const metadataXml = idpMetadataXml({
        entityId: TEST_TENANT_ISSUER,
        ssoUrl: SSO_URL,
        certs: [idpKey.cert, rotatedIdpKey.cert],
      });
      const res = await putSaml('acme').send({ metadataXml });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        ...urlsOf('acme'),
        ssoUrl: SSO_URL,
        idpEntityId: TEST_TENANT_ISSUER,
        idpEntityIdSource: 'metadata',
        status: 'pending',
      });
      expect(res.body.certificates).toEqual([certView(idpKey.cert), certView(rotatedIdpKey.cert)]);
      await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303);
    });

    it('imports a multipart metadata file', async () => {
      const xml = idpMetadataXml({ entityId: TEST_TENANT_ISSUER, ssoUrl: SSO_URL, certs: [idpKey.cert] });
      const res = await putSaml('acme').attach('metadata', Buffer.from(xml), {
        filename: 'metadata.xml',
        contentType: 'application/xml',
      });
      expect(res.status).toBe(200);
      expect(res.body.idpEntityId).toBe(TEST_TENANT_ISSUER);
      expect(res.body.ssoUrl).toBe(SSO_URL);
      expect(res.body.certificates).toEqual([certView(idpKey.cert)]);
    });

    it('replaces the previous connection on a valid re-import', async () => {
      await putSaml('acme').send({ certificate: idpKey.cert, ssoUrl: SSO_URL }).expect(200);
      const res = await putSaml('acme')
        .send({ certificate: rotatedIdpKey.cert, ssoUrl: 'https://other.auth0.com/samlp/X' })
        .expect(200);
      expect(res.body.certificates).toEqual([certView(rotatedIdpKey.cert)]);
      const got = await getSaml('acme').expect(200);
      expect(got.body.ssoUrl).toBe('https://other.auth0.com/samlp/X');
      expect(got.body.certificates).toEqual([certView(rotatedIdpKey.cert)]);
      // the old certificate is no longer trusted
      const old = await postAcs(t, 'acme', responseFor(t, 'acme', { key: idpKey }));
      expect(old.status).toBe(401);
      expect(old.body.error.code).toBe('SAML_SIGNATURE_INVALID');
    });

    it('allows http:// for localhost', async () => {
      for (const ssoUrl of [
        'http://localhost:8080/samlp/abc',
        'http://127.0.0.1/samlp/abc',
        'http://[::1]:9000/sso',
      ]) {
        const res = await putSaml('acme').send({ certificate: idpKey.cert, ssoUrl });
        expect(res.status, ssoUrl).toBe(200);
        expect(res.body.ssoUrl).toBe(ssoUrl);
      }
    });
  });

  describe('PUT /api/accounts/:slug/saml — rejections keep the previous connection', () => {
    let before: Record<string, unknown>;
    beforeEach(async () => {
      await createAccountWithIdp(t, 'acme', { idpEntityId: TEST_TENANT_ISSUER });
      before = (await getSaml('acme').expect(200)).body as Record<string, unknown>;
      expect(before.certificates).toEqual([certView(idpKey.cert)]);
    });

    async function expectUnchanged(): Promise<void> {
      const after = await getSaml('acme');
      expect(after.status).toBe(200);
      expect(after.body).toEqual(before);
    }

    const manual = (certificate: string, ssoUrl = SSO_URL) => ({ certificate, ssoUrl });

    it('garbage text → 400 CERT_INVALID', async () => {
      expectError(await putSaml('acme').send(manual('this is not a certificate!')), 400, 'CERT_INVALID');
      await expectUnchanged();
      expectError(
        await putSaml('acme').send(
          manual('-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----'),
        ),
        400,
        'CERT_INVALID',
      );
      await expectUnchanged();
    });

    it('a private key → 400 CERT_IS_PRIVATE_KEY, never echoed', async () => {
      const res = await putSaml('acme').send(manual(idpKey.privateKey));
      expectError(res, 400, 'CERT_IS_PRIVATE_KEY');
      const keyLines = idpKey.privateKey.split('\n').filter((l) => l && !l.startsWith('-----'));
      for (const line of keyLines) expect(res.text).not.toContain(line);
      expect(res.text).not.toContain('BEGIN PRIVATE KEY');
      await expectUnchanged();
      // also next to a valid certificate, and as an uploaded file
      expectError(
        await putSaml('acme').send(manual(rotatedIdpKey.cert + idpKey.privateKey)),
        400,
        'CERT_IS_PRIVATE_KEY',
      );
      await expectUnchanged();
      const upload = await putSaml('acme')
        .field('ssoUrl', SSO_URL)
        .attach('certificate', Buffer.from(idpKey.privateKey), 'idp.pem');
      expectError(upload, 400, 'CERT_IS_PRIVATE_KEY');
      for (const line of keyLines) expect(upload.text).not.toContain(line);
      await expectUnchanged();
    });

    it('an expired certificate → 400 CERT_EXPIRED', async () => {
      expectError(await putSaml('acme').send(manual(expiredCertPem)), 400, 'CERT_EXPIRED');
      await expectUnchanged();
      expectError(
        await putSaml('acme').send(manual(rotatedIdpKey.cert + expiredCertPem)),
        400,
        'CERT_EXPIRED',
      );
      await expectUnchanged();
    });

    it('a missing certificate → 400 CERT_MISSING', async () => {
      expectError(await putSaml('acme').send({ ssoUrl: SSO_URL }), 400, 'CERT_MISSING');
      expectError(await putSaml('acme').send(manual('')), 400, 'CERT_MISSING');
      expectError(await putSaml('acme').field('ssoUrl', SSO_URL), 400, 'CERT_MISSING');
      await expectUnchanged();
    });

    it.each([
      ['http://test-tenant.auth0.com/samlp/x'],
      ['http://localhost.evil.com/samlp/x'],
      ['javascript:alert(1)'],
      ['https://user:pass@test-tenant.auth0.com/samlp/x'],
      ['https://user@test-tenant.auth0.com/samlp/x'],
      ['ftp://test-tenant.auth0.com/samlp/x'],
      ['data:text/html,hi'],
      ['/samlp/relative'],
      ['test-tenant.auth0.com/samlp/x'],
      ['https://test-tenant.auth0.com/samlp/x#frag'],
      [''],
      [`https://test-tenant.auth0.com/${'a'.repeat(2100)}`],
    ])('ssoUrl %j → 400 SSO_URL_INVALID', async (ssoUrl) => {
      expectError(await putSaml('acme').send(manual(rotatedIdpKey.cert, ssoUrl)), 400, 'SSO_URL_INVALID');
      await expectUnchanged();
    });

    it('a multipart upload without ssoUrl → 400 SSO_URL_INVALID', async () => {
      const res = await putSaml('acme').attach('certificate', Buffer.from(rotatedIdpKey.cert), 'idp.pem');
      expectError(res, 400, 'SSO_URL_INVALID');
      await expectUnchanged();
    });

    it('metadata with a DOCTYPE (XXE) → 400 METADATA_DOCTYPE_FORBIDDEN', async () => {
      const good = idpMetadataXml({ entityId: 'urn:evil', ssoUrl: SSO_URL, certs: [rotatedIdpKey.cert] });
      const xxe = good
        .replace(
          '<md:EntityDescriptor',
          '<!DOCTYPE md:EntityDescriptor [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><md:EntityDescriptor',
        )
        .replace('entityID="urn:evil"', 'entityID="&xxe;"');
      expect(xxe).toContain('<!DOCTYPE');
      const res = await putSaml('acme').send({ metadataXml: xxe });
      expectError(res, 400, 'METADATA_DOCTYPE_FORBIDDEN');
      expect(res.text).not.toContain('root:');
      await expectUnchanged();
      const upload = await putSaml('acme').attach('metadata', Buffer.from(xxe), 'metadata.xml');
      expectError(upload, 400, 'METADATA_DOCTYPE_FORBIDDEN');
      await expectUnchanged();
    });

    it('malformed metadata → 400 METADATA_INVALID', async () => {
      const good = idpMetadataXml({ entityId: 'urn:x', ssoUrl: SSO_URL, certs: [rotatedIdpKey.cert] });
      for (const metadataXml of [
        good.slice(0, -10),
        'not xml at all',
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:x"/>',
        '<html><body>login</body></html>',
        good.replace(/<md:SingleSignOnService Binding="[^"]*HTTP-Redirect"[^>]*\/>/, ''),
        good.replace('entityID="urn:x"', ''),
      ]) {
        const res = await putSaml('acme').send({ metadataXml });
        expectError(res, 400, 'METADATA_INVALID');
        await expectUnchanged();
      }
    });

    it('metadata without a signing certificate → 400 CERT_MISSING', async () => {
      const metadataXml = idpMetadataXml({ entityId: 'urn:x', ssoUrl: SSO_URL, certs: [] });
      expectError(await putSaml('acme').send({ metadataXml }), 400, 'CERT_MISSING');
      await expectUnchanged();
    });

    it('metadata with an expired certificate or a non-https SSO URL is refused', async () => {
      expectError(
        await putSaml('acme').send({
          metadataXml: idpMetadataXml({ entityId: 'urn:x', ssoUrl: SSO_URL, certs: [expiredCertPem] }),
        }),
        400,
        'CERT_EXPIRED',
      );
      expectError(
        await putSaml('acme').send({
          metadataXml: idpMetadataXml({
            entityId: 'urn:x',
            ssoUrl: 'http://evil.example/sso',
            certs: [rotatedIdpKey.cert],
          }),
        }),
        400,
        'SSO_URL_INVALID',
      );
      await expectUnchanged();
    });

    it('a text/plain body → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      const res = await putSaml('acme')
        .set('Content-Type', 'text/plain')
        .send(JSON.stringify(manual(rotatedIdpKey.cert)));
      expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      await expectUnchanged();
      const form = await putSaml('acme')
        .type('form')
        .send({ certificate: rotatedIdpKey.cert, ssoUrl: SSO_URL });
      expectError(form, 415, 'UNSUPPORTED_MEDIA_TYPE');
      await expectUnchanged();
    });

    it('invalid JSON → 400 REQUEST_INVALID, never 500', async () => {
      for (const body of ['{"certificate":', '{certificate: "x"}', '"just a string"', 'null', '']) {
        const res = await putSaml('acme').set('Content-Type', 'application/json').send(body);
        expect(res.status, body).toBeLessThan(500);
        expect(res.status, body).toBe(400);
      }
      expectError(
        await putSaml('acme').set('Content-Type', 'application/json').send('{"certificate":'),
        400,
        'REQUEST_INVALID',
      );
      await expectUnchanged();
    });

    it('wrongly shaped JSON → 400 REQUEST_INVALID', async () => {
      for (const body of [
        { certificate: rotatedIdpKey.cert, ssoUrl: SSO_URL, extra: 1 },
        { certificate: 42, ssoUrl: SSO_URL },
        { certificate: rotatedIdpKey.cert, ssoUrl: 42 },
        { metadataXml: 42 },
        { metadataXml: '<x/>', certificate: rotatedIdpKey.cert },
      ]) {
        expectError(await putSaml('acme').send(body), 400, 'REQUEST_INVALID');
      }
      await expectUnchanged();
    });
  });

  describe('GET / DELETE /api/accounts/:slug/saml', () => {
    it('GET is 404 CONNECTION_NOT_FOUND before any import', async () => {
      await createAccount('acme').expect(201);
      expectError(await getSaml('acme'), 404, 'CONNECTION_NOT_FOUND');
    });

    it('DELETE → 204, then GET 404, DELETE again 404', async () => {
      await createAccountWithIdp(t, 'acme');
      await createAccountWithIdp(t, 'globex');
      const del = await api().delete('/api/accounts/acme/saml').set('Authorization', AUTH);
      expect(del.status).toBe(204);
      expect(del.text).toBe('');
      expectError(await getSaml('acme'), 404, 'CONNECTION_NOT_FOUND');
      expectError(
        await api().delete('/api/accounts/acme/saml').set('Authorization', AUTH),
        404,
        'CONNECTION_NOT_FOUND',
      );
      // SSO for the account is off; the other account is untouched
      const acs = await postAcs(t, 'acme', responseFor(t, 'acme'));
      expect(acs.status).toBe(404);
      expect(acs.body.error.code).toBe('SSO_NOT_CONFIGURED');
      await getSaml('globex').expect(200);
      // the account itself still exists
      await api().get('/api/accounts/acme').set('Authorization', AUTH).expect(200);
    });

    it('an unknown account is 404 ACCOUNT_NOT_FOUND', async () => {
      expectError(await getSaml('nosuch'), 404, 'ACCOUNT_NOT_FOUND');
      expectError(
        await api().delete('/api/accounts/nosuch/saml').set('Authorization', AUTH),
        404,
        'ACCOUNT_NOT_FOUND',
      );
      expectError(
        await putSaml('nosuch').send({ certificate: idpKey.cert, ssoUrl: SSO_URL }),
        404,
        'ACCOUNT_NOT_FOUND',
      );
      expectError(
        await api().get('/api/accounts/nosuch').set('Authorization', AUTH),
        404,
        'ACCOUNT_NOT_FOUND',
      );
      expectError(
        await api().patch('/api/accounts/nosuch').set('Authorization', AUTH).send({ idpInitiated: false }),
        404,
        'ACCOUNT_NOT_FOUND',
      );
      expectError(await getSaml('No%20Such'), 404, 'ACCOUNT_NOT_FOUND');
    });
  });

  describe('PATCH /api/accounts/:slug — settings', () => {
    beforeEach(async () => {
      await createAccountWithIdp(t, 'acme');
    });

    it('updates valid settings', async () => {
      const res = await api()
        .patch('/api/accounts/acme')
        .set('Authorization', AUTH)
        .send({ idpInitiated: false, allowedEmailDomains: ['Acme.TEST'], adminGroups: ['sp-admins'] });
      expect(res.status).toBe(200);
      expect(res.body.settings).toMatchObject({
        idpInitiated: false,
        allowedEmailDomains: ['acme.test'],
        adminGroups: ['sp-admins'],
        ssoOnly: false,
      });
      const unsolicited = await postAcs(t, 'acme', responseFor(t, 'acme'));
      expect(unsolicited.status).toBe(403);
      expect(unsolicited.body.error.code).toBe('SAML_IDP_INITIATED_DISABLED');
    });

    it.each([
      [{ unknownField: true }],
      [{ idpInitiated: 'yes' }],
      [{ allowedEmailDomains: ['not a domain'] }],
      [{ allowedEmailDomains: 'acme.test' }],
      [{ adminGroups: [''] }],
      [{ ssoOnly: 1 }],
      [[]],
    ])('refuses %j with 400 SETTINGS_INVALID and changes nothing', async (body) => {
      const before = (await api().get('/api/accounts/acme').set('Authorization', AUTH).expect(200)).body;
      const res = await api().patch('/api/accounts/acme').set('Authorization', AUTH).send(body);
      expectError(res, 400, 'SETTINGS_INVALID');
      const after = (await api().get('/api/accounts/acme').set('Authorization', AUTH).expect(200)).body;
      expect(after).toEqual(before);
    });

    it('ssoOnly:true is refused before the connection is active, accepted after an SSO admin signed in', async () => {
      const early = await api()
        .patch('/api/accounts/acme')
        .set('Authorization', AUTH)
        .send({ ssoOnly: true });
      expectError(early, 400, 'SETTINGS_INVALID');
      expect((await getSaml('acme').expect(200)).body.status).toBe('pending');
      const acct = await api().get('/api/accounts/acme').set('Authorization', AUTH).expect(200);
      expect(acct.body.settings.ssoOnly).toBe(false);

      // a failed login does not activate it
      await postAcs(t, 'acme', responseFor(t, 'acme', { audience: 'urn:someone-else' })).expect(401);
      expectError(
        await api().patch('/api/accounts/acme').set('Authorization', AUTH).send({ ssoOnly: true }),
        400,
        'SETTINGS_INVALID',
      );

      await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303);
      expect((await getSaml('acme').expect(200)).body.status).toBe('active');
      // Active, but the SSO user who signed in is no admin (test/security/sso-only-lockout.test.ts).
      expectError(
        await api().patch('/api/accounts/acme').set('Authorization', AUTH).send({ ssoOnly: true }),
        409,
        'SSO_ONLY_NO_SSO_ADMIN',
      );
      await postAcs(t, 'acme', responseFor(t, 'acme', { groups: ['sp-admins'] })).expect(303);
      const ok = await api()
        .patch('/api/accounts/acme')
        .set('Authorization', AUTH)
        .send({ ssoOnly: true, adminGroups: ['sp-admins'] });
      expect(ok.status).toBe(200);
      expect(ok.body.settings.ssoOnly).toBe(true);
    });

    it('ssoOnly:true is refused for an account without a connection', async () => {
      await createAccount('bare').expect(201);
      expectError(
        await api().patch('/api/accounts/bare').set('Authorization', AUTH).send({ ssoOnly: true }),
        400,
        'SETTINGS_INVALID',
      );
    });
  });

  describe('GET /sso/:slug/metadata', () => {
    it('returns SP metadata with the entity ID, ACS, signed AuthnRequests and the SP certificate', async () => {
      await createAccount('acme').expect(201);
      const res = await api().get('/sso/acme/metadata');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/(samlmetadata\+)?xml/);
      const xml = res.text;
      const doc = new DOMParser().parseFromString(xml, 'text/xml');
      const root = doc.documentElement!;
      expect(root.localName).toBe('EntityDescriptor');
      expect(root.namespaceURI).toBe(NS_MD);
      const urls = urlsOf('acme');
      expect(root.getAttribute('entityID')).toBe(urls.spEntityId);
      const sp = doc.getElementsByTagNameNS(NS_MD, 'SPSSODescriptor')[0]!;
      expect(sp).toBeDefined();
      expect(sp.getAttribute('AuthnRequestsSigned')).toBe('true');
      const acs = doc.getElementsByTagNameNS(NS_MD, 'AssertionConsumerService')[0]!;
      expect(acs.getAttribute('Location')).toBe(urls.acsUrl);
      expect(acs.getAttribute('Binding')).toBe('urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
      expect(xml.replace(/\s+/g, '')).toContain(certBody(spDevCertPem));
      expect(xml).not.toMatch(/PRIVATE KEY/);

      // the connection JSON points at this document
      await putSaml('acme').send({ certificate: idpKey.cert, ssoUrl: SSO_URL }).expect(200);
      const conn = (await getSaml('acme').expect(200)).body;
      expect(new URL(conn.metadataUrl as string).pathname).toBe('/sso/acme/metadata');
      expect(conn.spEntityId).toBe(root.getAttribute('entityID'));
      expect(conn.acsUrl).toBe(acs.getAttribute('Location'));
    });

    it('is per account and 404 for an unknown account', async () => {
      await createAccount('acme').expect(201);
      await createAccount('globex').expect(201);
      const globex = await api().get('/sso/globex/metadata').expect(200);
      expect(globex.text).toContain(`entityID="${urlsOf('globex').spEntityId}"`);
      expect(globex.text).not.toContain('/sso/acme/');
      const missing = await api().get('/sso/nosuch/metadata').set('Accept', 'application/json');
      expectError(missing, 404, 'ACCOUNT_NOT_FOUND');
    });
  });
});

describe('admin API messages an admin can act on', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await request(t.app)
      .post('/api/accounts')
      .set('Authorization', AUTH)
      .send({ slug: 'acme', name: 'Acme' })
      .expect(201);
  });
  afterEach(async () => t.close());

  it('names the setting that is wrong, without regular expressions', async () => {
    const res = await request(t.app)
      .patch('/api/accounts/acme')
      .set('Authorization', AUTH)
      .send({ allowedEmailDomains: 'acme.example', idpInitiated: 'yes', nope: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('SETTINGS_INVALID');
    expect(res.body.error.message).toContain('unknown field "nope"');
    const other = await request(t.app)
      .patch('/api/accounts/acme')
      .set('Authorization', AUTH)
      .send({ allowedEmailDomains: 'acme.example', idpInitiated: 'yes' });
    expect(other.body.error.message).toContain('field "allowedEmailDomains": expected a list');
    expect(other.body.error.message).toContain('field "idpInitiated": expected true or false');
    const domain = await request(t.app)
      .patch('/api/accounts/acme')
      .set('Authorization', AUTH)
      .send({ allowedEmailDomains: ['not a domain'] });
    expect(domain.body.error.message).toContain(
      'field "allowedEmailDomains.0": not a domain name like example.com',
    );
    expect(domain.body.error.message).not.toMatch(/\[a-z|\^|\$\//);
  });

  it("refuses Auth0's metadata URL as the SAML Protocol URL, saying which URL to copy", async () => {
    for (const ssoUrl of [
      'https://acme.eu.auth0.com/samlp/metadata/AbCdEf123',
      'https://idp.example.com/saml/metadata',
    ]) {
      const res = await request(t.app)
        .put('/api/accounts/acme/saml')
        .set('Authorization', AUTH)
        .send({ certificate: idpKey.cert, ssoUrl });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('SSO_URL_INVALID');
      expect(res.body.error.message).toContain('SAML Protocol URL');
    }
  });
});
