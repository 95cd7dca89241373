import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import {
  ADMIN_TOKEN,
  cookiesFrom,
  createAccountWithIdp,
  patchSettings,
  postAcs,
  responseFor,
  SSO_URL,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { idpKey, idpMetadataXml, rotatedIdpKey } from '../support/idp.js';

const AUTH = `Bearer ${ADMIN_TOKEN}`;
const PASSWORD = 'correct horse battery staple';
const ADMIN_EMAIL = 'admin@acme.test';
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const IDP_FINGERPRINT = new X509Certificate(idpKey.cert).fingerprint256;
const ROTATED_FINGERPRINT = new X509Certificate(rotatedIdpKey.cert).fingerprint256;
const OTHER_SSO_URL = 'https://other-tenant.auth0.com/samlp/OtherClient';

/** Markers that only the admin page renders. */
const ADMIN_CONTENT = /Values for Auth0|name="_csrf"|Settings JSON|\/sso\/acme\/acs/;

const csrfOf = (text: string): string => {
  const m = /name="_csrf" value="([^"]+)"/.exec(text);
  if (!m) throw new Error('no _csrf field in page');
  return m[1]!;
};

describe('admin pages', () => {
  let t: TestSp;
  const api = () => request(t.app);
  const getSaml = (slug = 'acme') => api().get(`/api/accounts/${slug}/saml`).set('Authorization', AUTH);
  const getAccount = (slug = 'acme') => api().get(`/api/accounts/${slug}`).set('Authorization', AUTH);

  async function createAccount(slug: string, name: string): Promise<void> {
    await api().post('/api/accounts').set('Authorization', AUTH).send({ slug, name }).expect(201);
    // Tile sign-ins here expect a direct sign-in; the confirmation step has its own suite.
    await patchSettings(t, slug, { loginConfirmation: false });
  }

  /** Signs in the local admin like a browser (CSRF token + cookie from the form); returns a cookie jar. */
  async function signInAdmin(slug = 'acme', email = ADMIN_EMAIL) {
    const agent = request.agent(t.app);
    const form = await agent.get('/login/password').expect(200);
    await agent
      .post('/login/password')
      .type('form')
      .send({ _csrf: csrfOf(form.text), account: slug, email, password: PASSWORD })
      .expect(303)
      .expect('Location', '/admin');
    return agent;
  }

  async function adminPage(agent: ReturnType<typeof request.agent>, path = '/admin') {
    const res = await agent.get(path).expect(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    return { text: res.text, csrf: csrfOf(res.text) };
  }

  beforeEach(async () => {
    t = await startSp();
    await createAccount('acme', 'Acme Inc');
    await createLocalAdmin(t.sp.stores, { account: 'acme', email: ADMIN_EMAIL, password: PASSWORD });
  });
  afterEach(async () => t.close());

  describe('without an admin session', () => {
    it('GET /admin shows a sign-in page with links, no admin content', async () => {
      const res = await api().get('/admin').expect(401);
      expect(res.text).not.toMatch(ADMIN_CONTENT);
      expect(res.text).toContain('href="/login/password"');
      expect(res.text).toContain('href="/"');
    });

    it('form posts are refused and change nothing', async () => {
      const post = await api()
        .post('/admin/idp')
        .field('ssoUrl', SSO_URL)
        .attach('certificate', fixture('idp.crt'))
        .expect(401);
      expect(post.text).not.toMatch(ADMIN_CONTENT);
      await api().post('/admin/settings').type('form').send({ ssoOnly: 'on', adminGroups: 'x' }).expect(401);
      await getSaml().expect(404);
      expect((await getAccount()).body.settings.adminGroups).toEqual([]);
    });

    it('a member session (SSO login without an admin group) gets no admin content', async () => {
      await createAccountWithIdp(t, 'globex');
      const login = await postAcs(t, 'globex', responseFor(t, 'globex', { groups: ['staff'] })).expect(303);
      const cookies = cookiesFrom(login);
      const me = await api().get('/api/me').set('Cookie', cookies).expect(200);
      expect(me.body.role).toBe('member');

      const res = await api().get('/admin').set('Cookie', cookies).expect(403);
      expect(res.text).not.toMatch(ADMIN_CONTENT);
      expect(res.text).not.toContain('/sso/globex/acs');
      expect(res.text).toContain('href="/login/password"');
      await api()
        .post('/admin/settings')
        .set('Cookie', cookies)
        .type('form')
        .send({ idpInitiated: '', adminGroups: 'staff' })
        .expect(403);
      expect((await getAccount('globex')).body.settings).toMatchObject({
        idpInitiated: true,
        adminGroups: [],
      });
    });

    it('an SSO user in an admin group gets the page of their own account', async () => {
      await createAccountWithIdp(t, 'globex');
      await patchSettings(t, 'globex', { adminGroups: ['sso-admins'] });
      const login = await postAcs(t, 'globex', responseFor(t, 'globex', { groups: ['sso-admins'] })).expect(
        303,
      );
      const res = await api().get('/admin').set('Cookie', cookiesFrom(login)).expect(200);
      expect(res.text).toContain('http://localhost:3000/sso/globex/acs');
      expect(res.text).not.toContain('/sso/acme/');
      expect(res.text).toContain('jane.doe@example.com');
    });
  });

  describe('as the local admin', () => {
    it('GET /admin shows the values for Auth0 before anything is imported', async () => {
      const agent = await signInAdmin();
      const { text } = await adminPage(agent);
      expect(text).toContain('Single sign-on for Acme Inc');
      expect(text).toContain('not connected');
      expect(text).toContain('http://localhost:3000/sso/acme/acs');
      expect(text).toContain('http://localhost:3000/sso/acme/metadata');
      expect(text).toContain('http://localhost:3000/sso/acme/login');
      // the addon Settings JSON, pretty-printed (quotes escaped as entities)
      expect(text).toContain('&#34;audience&#34;: &#34;http://localhost:3000/sso/acme/metadata&#34;');
      expect(text).toContain('&#34;signatureAlgorithm&#34;: &#34;rsa-sha256&#34;');
      // the local admin is in the users table
      expect(text).toContain(ADMIN_EMAIL);
      // the admin's own password sign-in is the first event of the trail
      expect(text).not.toContain('No sign-in attempts yet.');
      expect(text).toContain('password sign-in');
      // no inline script or style anywhere
      // No inline script, style or event handler (the CSP would block them); one same-origin script.
      expect(text).not.toMatch(/style=|<style|\bon[a-z]+=/i);
      expect(text.match(/<script\b[^>]*>/g)).toEqual(['<script src="/assets/copy.js" defer>']);
    });

    it('imports the IdP with the multipart form (certificate file + URL)', async () => {
      const agent = await signInAdmin();
      const { csrf } = await adminPage(agent);
      await agent
        .post('/admin/idp')
        .field('_csrf', csrf)
        .field('ssoUrl', SSO_URL)
        .field('idpEntityId', 'urn:test-tenant.auth0.com')
        .attach('certificate', fixture('idp.crt'))
        .expect(303)
        .expect('Location', '/admin?saved=idp');
      const saml = (await getSaml().expect(200)).body;
      expect(saml).toMatchObject({
        ssoUrl: SSO_URL,
        status: 'pending',
        idpEntityId: 'urn:test-tenant.auth0.com',
      });
      const certs = saml.certificates as Array<{ fingerprintSha256: string }>;
      expect(certs.map((c) => c.fingerprintSha256)).toEqual([IDP_FINGERPRINT]);

      const { text } = await adminPage(agent, '/admin?saved=idp');
      expect(text).toContain('The identity provider was imported.');
      expect(text).toContain(IDP_FINGERPRINT);
      expect(text).toContain('badge-pending');
      expect(text).toContain('test-tenant.auth0.com');
    });

    it('imports a pasted PEM and metadata XML', async () => {
      const agent = await signInAdmin();
      const { csrf } = await adminPage(agent);
      await agent
        .post('/admin/idp')
        .field('_csrf', csrf)
        .field('ssoUrl', SSO_URL)
        .field('certificatePem', rotatedIdpKey.cert)
        .expect(303);
      expect((await getSaml()).body.certificates[0].fingerprintSha256).toBe(ROTATED_FINGERPRINT);

      const xml = idpMetadataXml({
        entityId: 'urn:meta.example',
        ssoUrl: OTHER_SSO_URL,
        certs: [idpKey.cert],
      });
      await agent
        .post('/admin/idp/metadata')
        .field('_csrf', csrf)
        .attach('metadata', Buffer.from(xml), { filename: 'metadata.xml', contentType: 'application/xml' })
        .expect(303)
        .expect('Location', '/admin?saved=metadata');
      expect((await getSaml()).body).toMatchObject({
        ssoUrl: OTHER_SSO_URL,
        idpEntityId: 'urn:meta.example',
      });
    });

    it('refuses a post without or with a wrong _csrf (403 CSRF_INVALID) and changes nothing', async () => {
      await createAccountWithIdp(t, 'tmp'); // unrelated account, must stay untouched too
      const agent = await signInAdmin();
      const { csrf } = await adminPage(agent);
      await agent
        .post('/admin/idp')
        .field('_csrf', csrf)
        .field('ssoUrl', SSO_URL)
        .attach('certificate', fixture('idp.crt'))
        .expect(303);

      for (const token of [undefined, 'wrong', `${csrf.slice(0, -1)}x`, '']) {
        const req = agent.post('/admin/idp').field('ssoUrl', OTHER_SSO_URL);
        if (token !== undefined) req.field('_csrf', token);
        const res = await req.attach('certificate', fixture('idp-rotated.crt')).expect(403);
        expect(res.text).toContain('CSRF_INVALID');
        expect(res.text).toContain('The form expired.');

        const settings = agent.post('/admin/settings').type('form');
        const r2 = await settings
          .send({ ...(token === undefined ? {} : { _csrf: token }), adminGroups: 'evil', idpInitiated: '' })
          .expect(403);
        expect(r2.text).toContain('CSRF_INVALID');
      }
      const saml = (await getSaml()).body;
      expect(saml.ssoUrl).toBe(SSO_URL);
      expect(saml.certificates[0].fingerprintSha256).toBe(IDP_FINGERPRINT);
      expect((await getAccount()).body.settings).toMatchObject({ idpInitiated: true, adminGroups: [] });
    });

    it('shows the catalogued error for a private key and keeps the old connection', async () => {
      const agent = await signInAdmin();
      const { csrf } = await adminPage(agent);
      await agent
        .post('/admin/idp')
        .field('_csrf', csrf)
        .field('ssoUrl', SSO_URL)
        .attach('certificate', fixture('idp.crt'))
        .expect(303);
      const before = (await getSaml()).body;

      const res = await agent
        .post('/admin/idp')
        .field('_csrf', csrf)
        .field('ssoUrl', OTHER_SSO_URL)
        .attach('certificate', fixture('idp.key'))
        .expect(400);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.text).toContain('This is a private key, not a certificate.');
      expect(res.text).toContain('CERT_IS_PRIVATE_KEY');
      expect(res.text).not.toContain('PRIVATE KEY-----');
      expect(res.text).not.toMatch(/\bat .*\.[jt]s:\d+/);
      // the page is re-rendered with the submitted URL, and still shows the current connection
      expect(res.text).toContain(`value="${OTHER_SSO_URL}"`);
      expect(res.text).toContain(IDP_FINGERPRINT);
      expect((await getSaml()).body).toEqual(before);

      const noCert = await agent.post('/admin/idp').field('_csrf', csrf).field('ssoUrl', SSO_URL).expect(400);
      expect(noCert.text).toContain('CERT_MISSING');
      const badUrl = await agent
        .post('/admin/idp')
        .field('_csrf', csrf)
        .field('ssoUrl', 'http://evil.example/samlp/x')
        .attach('certificate', fixture('idp.crt'))
        .expect(400);
      expect(badUrl.text).toContain('SSO_URL_INVALID');
      const expired = await agent
        .post('/admin/idp')
        .field('_csrf', csrf)
        .field('ssoUrl', SSO_URL)
        .attach('certificate', fixture('expired.crt'))
        .expect(400);
      expect(expired.text).toContain('CERT_EXPIRED');
      expect((await getSaml()).body).toEqual(before);
    });

    it('saves the settings form', async () => {
      const agent = await signInAdmin();
      const { csrf } = await adminPage(agent);
      await agent
        .post('/admin/settings')
        .type('form')
        .send({
          _csrf: csrf,
          allowedEmailDomains: 'Example.com, example.org,, acme.test',
          adminGroups: 'sso-admins\r\nOps Team\r\n',
        })
        .expect(303)
        .expect('Location', '/admin?saved=settings');
      expect((await getAccount()).body.settings).toMatchObject({
        idpInitiated: false,
        allowedEmailDomains: ['example.com', 'example.org', 'acme.test'],
        adminGroups: ['sso-admins', 'Ops Team'],
        ssoOnly: false,
        allowSha1: false,
      });
      const { text } = await adminPage(agent, '/admin?saved=settings');
      expect(text).toContain('The settings were saved.');
      expect(text).toContain('value="example.com, example.org, acme.test"');
      expect(text).toContain('sso-admins\nOps Team</textarea>');
      expect(text).not.toMatch(/name="idpInitiated" value="on"\s+checked/);

      await agent
        .post('/admin/settings')
        .type('form')
        .send({ _csrf: csrf, idpInitiated: 'on', allowedEmailDomains: '', adminGroups: '' })
        .expect(303);
      expect((await getAccount()).body.settings).toMatchObject({
        idpInitiated: true,
        allowedEmailDomains: [],
        adminGroups: [],
      });
    });

    it('refuses an invalid domain with the message and keeps the settings', async () => {
      const agent = await signInAdmin();
      const { csrf } = await adminPage(agent);
      const res = await agent
        .post('/admin/settings')
        .type('form')
        .send({ _csrf: csrf, idpInitiated: 'on', allowedEmailDomains: 'example.com, not a domain' })
        .expect(400);
      expect(res.text).toContain('SETTINGS_INVALID');
      expect(res.text).toMatch(
        /Allowed e-mail domains: (&quot;|&#34;|&#x22;)not(&quot;|&#34;|&#x22;) is not a domain name like example.com/,
      );
      expect((await getAccount()).body.settings.allowedEmailDomains).toEqual([]);
    });

    it('refuses SSO-only while the connection is pending, allows it once active', async () => {
      const agent = await signInAdmin();
      const { csrf } = await adminPage(agent);
      await agent
        .post('/admin/idp')
        .field('_csrf', csrf)
        .field('ssoUrl', SSO_URL)
        .attach('certificate', fixture('idp.crt'))
        .expect(303);

      const res = await agent
        .post('/admin/settings')
        .type('form')
        .send({ _csrf: csrf, idpInitiated: 'on', ssoOnly: 'on', adminGroups: 'sso-admins' })
        .expect(400);
      expect(res.text).toContain('SETTINGS_INVALID');
      expect(res.text).toContain('SSO-only can be turned on once single sign-on is active');
      expect((await getAccount()).body.settings).toMatchObject({ ssoOnly: false, adminGroups: [] });

      // first SSO login activates the connection
      await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303);
      expect((await getSaml()).body.status).toBe('active');
      const { text } = await adminPage(agent);
      expect(text).toContain('badge-active');
      expect(text).toContain('jane.doe@example.com');
      expect(text).toContain('auth0|5f7c8ec7c33c6c004bbafe82');

      // Active, but nobody with the admin role has signed in with SSO: the page says why it refuses, and
      // offers the explicit acceptance.
      const refused = await agent
        .post('/admin/settings')
        .type('form')
        .send({ _csrf: csrf, idpInitiated: 'on', ssoOnly: 'on' })
        .expect(409);
      expect(refused.text).toContain('SSO_ONLY_NO_SSO_ADMIN');
      expect(refused.text).toContain('No administrator has signed in with single sign-on yet.');
      expect(refused.text).toContain('name="acceptCliRecoveryOnly"');
      expect((await getAccount()).body.settings.ssoOnly).toBe(false);
      await agent
        .post('/admin/settings')
        .type('form')
        .send({ _csrf: csrf, idpInitiated: 'on', ssoOnly: 'on', acceptCliRecoveryOnly: 'on' })
        .expect(303);
      expect((await getAccount()).body.settings.ssoOnly).toBe(true);
      // password sign-in is now refused for this account
      const form = await request.agent(t.app).get('/login/password');
      const retry = await request(t.app)
        .post('/login/password')
        .set('Cookie', cookiesFrom(form))
        .type('form')
        .send({ _csrf: csrfOf(form.text), account: 'acme', email: ADMIN_EMAIL, password: PASSWORD });
      expect(retry.status).toBe(401);
      expect(retry.text).toContain('LOGIN_FAILED');
      // and the admin's own password session ended with the switch
      await agent.get('/admin').expect(401);
    });

    it('shows only messages from the fixed list', async () => {
      const agent = await signInAdmin();
      const { text } = await adminPage(agent, '/admin?saved=%3Cscript%3Ealert(1)%3C/script%3E');
      expect(text).not.toContain('alert(1)');
      expect(text).not.toContain('role="status"');
      const proto = await adminPage(agent, '/admin?saved=constructor');
      expect(proto.text).not.toContain('role="status"');
    });
  });

  describe('HTML escaping', () => {
    it('escapes the account name and the audit subject', async () => {
      const evil = '<script>alert("x")</script>';
      await createAccount('evil', `Evil ${evil} Inc`);
      await createLocalAdmin(t.sp.stores, { account: 'evil', email: ADMIN_EMAIL, password: PASSWORD });
      await api()
        .put('/api/accounts/evil/saml')
        .set('Authorization', AUTH)
        .send({ certificate: idpKey.cert, ssoUrl: SSO_URL })
        .expect(200);
      await postAcs(
        t,
        'evil',
        responseFor(t, 'evil', { nameId: evil, name: `<img src=x onerror=alert(1)>` }),
      ).expect(303);
      // a failed attempt is in the audit trail too
      await postAcs(t, 'evil', responseFor(t, 'evil', { nameId: evil, audience: 'urn:other' }));

      const agent = await signInAdmin('evil');
      const { text } = await adminPage(agent);
      // The only script is the page's own copy-button script, from this origin.
      expect(text.match(/<script\b[^>]*>/g)).toEqual(['<script src="/assets/copy.js" defer>']);
      expect(text).not.toContain('<img');
      expect(text).toContain('Evil &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; Inc');
      expect(text).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;</td>');
      expect(text).toContain('SAML_AUDIENCE_MISMATCH');
      expect(text).toContain('<title>SSO setup · Evil &#60;script&#62;');
    });
  });
});
