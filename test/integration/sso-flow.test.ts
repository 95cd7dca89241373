import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  responseFor,
  startLogin,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { idpKey, spDevCertPem, TEST_TENANT_ISSUER, verifyRedirectSignature } from '../support/idp.js';

describe('SSO end to end on the embedded default', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
  });
  afterEach(async () => t.close());

  it('logs a new user in IdP-initiated (Auth0 default: assertion signed) and provisions them', async () => {
    const res = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { email: 'new.user@acme.test', nameId: 'auth0|new1' }),
      {
        relayState: '/dashboard?tab=1',
      },
    );
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/dashboard?tab=1');
    const who = await me(t, cookiesFrom(res)).expect(200);
    expect(who.body).toEqual({
      email: 'new.user@acme.test',
      nameId: 'auth0|new1',
      account: 'acme',
      role: 'member',
    });
    const users = await request(t.app)
      .get('/api/accounts/acme/users')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(200);
    expect(users.body.users).toHaveLength(1);
    expect(users.body.users[0]).toMatchObject({
      nameId: 'auth0|new1',
      email: 'new.user@acme.test',
      role: 'member',
    });
  });

  it('accepts a response signed only on the Response (Auth0 signResponse: true) and one signed twice', async () => {
    for (const sign of ['response', 'both'] as const) {
      const res = await postAcs(t, 'acme', responseFor(t, 'acme', { sign }));
      expect(res.status, sign).toBe(303);
      await me(t, cookiesFrom(res)).expect(200);
    }
  });

  it('logs an existing user in SP-initiated by following the real redirect', async () => {
    await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { nameId: 'auth0|existing', email: 'old@acme.test' }),
    ).expect(303);

    const login = await startLogin(t, 'acme', '/reports/42');
    expect(login.location.startsWith('https://test-tenant.auth0.com/samlp/TestClientId123?')).toBe(true);
    expect(login.request.acsUrl).toBe(t.urls('acme').acsUrl);
    expect(login.request.issuer).toBe(t.urls('acme').audience);
    expect(login.request.relayState).toBe('/reports/42');
    expect(login.request.sigAlg).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    expect(verifyRedirectSignature(login.location, spDevCertPem)).toBe(true);
    const loginCookie = login.cookies.find((c) => c.startsWith('sspk_login='));
    expect(loginCookie).toBeDefined();

    const answer = responseFor(t, 'acme', {
      inResponseTo: login.request.id,
      nameId: 'auth0|existing',
      email: 'renamed@acme.test',
    });
    const res = await postAcs(t, 'acme', answer, {
      cookie: login.cookies,
      relayState: login.request.relayState!,
    });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/reports/42');
    const who = await me(t, cookiesFrom(res)).expect(200);
    expect(who.body.email).toBe('renamed@acme.test');
    const users = await request(t.app)
      .get('/api/accounts/acme/users')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    expect(users.body.users).toHaveLength(1);
  });

  it('marks the connection active and pins the issuer at the first successful login', async () => {
    const before = await request(t.app)
      .get('/api/accounts/acme/saml')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(200);
    expect(before.body.status).toBe('pending');
    expect(before.body.idpEntityId).toBeNull();
    await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303);
    const after = await request(t.app)
      .get('/api/accounts/acme/saml')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(200);
    expect(after.body.status).toBe('active');
    expect(after.body.idpEntityId).toBe(TEST_TENANT_ISSUER);
    expect(after.body.idpEntityIdSource).toBe('first-login');
    const other = await postAcs(t, 'acme', responseFor(t, 'acme', { issuer: 'urn:other-tenant.auth0.com' }));
    expect(other.status).toBe(401);
    expect(other.body.error.code).toBe('SAML_ISSUER_MISMATCH');
  });

  it('records every ACS outcome in the audit trail without the raw response', async () => {
    await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|audited' })).expect(303);
    const bad = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', {
        key: { ...idpKey, privateKey: (await import('../support/idp.js')).attackerKey.privateKey },
      }),
    );
    expect(bad.status).toBe(401);
    const audit = await request(t.app)
      .get('/api/accounts/acme/audit')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(200);
    const [failure, success] = audit.body.events;
    expect(success).toMatchObject({
      outcome: 'success',
      code: 'OK',
      subject: 'auth0|audited',
      accountSlug: 'acme',
    });
    expect(success.clientIp).toBeTruthy();
    expect(failure).toMatchObject({
      outcome: 'failure',
      code: 'SAML_SIGNATURE_INVALID',
      referenceId: bad.body.error.referenceId,
    });
    expect(JSON.stringify(audit.body)).not.toMatch(/Assertion|SAMLResponse|BEGIN CERTIFICATE/);
    const byRef = await request(t.app)
      .get(`/api/audit/${bad.body.error.referenceId}`)
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(200);
    expect(byRef.body.code).toBe('SAML_SIGNATURE_INVALID');
  });

  it('ends the session on logout', async () => {
    const res = await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303);
    const cookies = cookiesFrom(res);
    await me(t, cookies).expect(200);
    // Logout is CSRF-protected: a script of this origin says so with Origin (or Fetch Metadata).
    await request(t.app)
      .post('/logout')
      .set('Cookie', cookies)
      .set('Origin', 'http://localhost:3000')
      .set('Accept', 'application/json')
      .expect(204);
    await me(t, cookies).expect(401);
  });

  it('shows a browser a plain error page with a reference, and an API client JSON', async () => {
    const page = await postAcs(t, 'acme', 'not base64!!', { html: true });
    expect(page.status).toBe(400);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.text).toMatch(/SAML_RESPONSE_MALFORMED/);
    expect(page.text).toMatch(/ref_[0-9a-f]{16}/);
    expect(page.text).not.toMatch(/at .*\.ts:\d+/);
    const json = await postAcs(t, 'acme', 'not base64!!');
    expect(json.body.error.code).toBe('SAML_RESPONSE_MALFORMED');
  });
});
