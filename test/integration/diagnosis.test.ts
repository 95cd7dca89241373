/**
 * Every failed sign-in explains itself: for each mistake an admin can make in Auth0's SAML2 Web App
 * addon (minted here by the test IdP), the audit event names the code, what this SP expected, what
 * the response carried (marked unverified where no signature vouched for it) and a hint that names
 * the Auth0 setting and the exact value to set. End users still see only a short message.
 */
import { X509Certificate } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import {
  adminGet,
  createAccountWithIdp,
  patchSettings,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { idpKey, rotatedIdpKey, TEST_TENANT_ISSUER } from '../support/idp.js';

const PASSWORD = 'correct horse battery staple';

interface Event {
  referenceId: string;
  outcome: string;
  code: string;
  expected: string | null;
  received: string | null;
  hint: string | null;
}

describe('diagnosis of failed sign-ins (Auth0 misconfigurations)', () => {
  let t: TestSp;
  let acs: string;
  let entityId: string;
  beforeAll(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000 });
    await createAccountWithIdp(t, 'acme', { idpEntityId: TEST_TENANT_ISSUER });
    acs = t.urls('acme').acsUrl;
    entityId = t.urls('acme').audience;
  });
  afterAll(async () => t.close());

  /** Posts the response; returns the audit event of that post (by its reference id). */
  async function failWith(opts: Parameters<typeof responseFor>[2], status?: number): Promise<Event> {
    const res = await postAcs(t, 'acme', responseFor(t, 'acme', opts));
    if (status !== undefined) expect(res.status).toBe(status);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const ref = res.body.error.referenceId as string;
    // The end user sees the catalogue message only: configuration details are for admins.
    expect(JSON.stringify(res.body)).not.toContain('Addons');
    const events = (await adminGet(t, '/api/accounts/acme/audit?limit=5')).body.events as Event[];
    const event = events.find((e) => e.referenceId === ref);
    expect(event, `audit event ${ref}`).toBeDefined();
    return event!;
  }

  it('wrong audience → the addon "audience" and the SP entity ID to put there', async () => {
    const e = await failWith({ audience: 'urn:auth0:other-app' }, 401);
    expect(e).toMatchObject({ code: 'SAML_AUDIENCE_MISMATCH', expected: entityId });
    expect(e.received).toContain('urn:auth0:other-app');
    expect(e.hint).toContain(`"audience": "${entityId}"`);
  });

  it('no audience at all → the same setting and value', async () => {
    const e = await failWith({ omitAudienceRestriction: true }, 401);
    expect(e.code).toBe('SAML_AUDIENCE_MISMATCH');
    expect(e.expected).toBe(entityId);
    expect(e.hint).toContain(`"audience": "${entityId}"`);
  });

  it('another callback (Destination) → the Application Callback URL and the exact ACS URL', async () => {
    const e = await failWith({ destination: 'https://old.example/callback' }, 401);
    expect(e).toMatchObject({ code: 'SAML_DESTINATION_MISMATCH', expected: acs });
    expect(e.received).toBe('unverified: https://old.example/callback');
    expect(e.hint).toContain('Application Callback URL');
    expect(e.hint).toContain(acs);
  });

  it('another recipient → "recipient" and the exact ACS URL', async () => {
    const e = await failWith({ recipient: 'https://old.example/callback', destination: null }, 401);
    expect(e).toMatchObject({
      code: 'SAML_RECIPIENT_MISMATCH',
      expected: acs,
      received: 'https://old.example/callback',
    });
    expect(e.hint).toContain(`"recipient" and "destination" to "${acs}"`);
  });

  it('SHA-1 → "signatureAlgorithm": "rsa-sha256", "digestAlgorithm": "sha256"', async () => {
    const e = await failWith({ signatureAlgorithm: 'sha1' }, 401);
    expect(e.code).toBe('SAML_WEAK_ALGORITHM');
    expect(e.received).toMatch(/^unverified: .*rsa-sha1$/);
    expect(e.hint).toContain('"signatureAlgorithm": "rsa-sha256"');
    expect(e.hint).toContain('"digestAlgorithm": "sha256"');
  });

  it('a rotated tenant key → the certificate the response carried, the trusted ones, where to download', async () => {
    const e = await failWith({ key: rotatedIdpKey }, 401);
    const carried = new X509Certificate(rotatedIdpKey.cert).fingerprint256;
    const trusted = new X509Certificate(idpKey.cert).fingerprint256;
    expect(e.code).toBe('SAML_SIGNATURE_INVALID');
    expect(e.received).toContain(`unverified: SHA-256 ${carried}`);
    expect(e.expected).toBe(trusted);
    expect(e.hint).toContain(carried);
    expect(e.hint).toContain(trusted);
    expect(e.hint).toContain('Advanced Settings > Certificates');
  });

  it('no e-mail → the addon "mappings" entry for email', async () => {
    const e = await failWith({ email: null }, 403);
    expect(e.code).toBe('SAML_EMAIL_MISSING');
    expect(e.hint).toContain(
      '"mappings": { "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress" }',
    );
    expect(e.hint).toContain('nameIdentifierProbes');
  });

  it('an e-mail NameID counts as the e-mail', async () => {
    const res = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { email: null, nameId: 'nameid.user@acme.example' }),
    );
    expect(res.status).toBe(303);
  });

  it('IdP clock 5 minutes ahead → by how many seconds, and NTP', async () => {
    const e = await failWith({ now: new Date(Date.now() + 5 * 60_000) }, 401);
    expect(e.code).toBe('SAML_NOT_YET_VALID');
    expect(e.hint).toMatch(/IdP's clock is 30\d seconds ahead/);
    expect(e.hint).toContain('NTP');
  });

  it('IdP clock 5 minutes behind with a short lifetime → expired, lifetime and clock', async () => {
    const e = await failWith({ now: new Date(Date.now() - 5 * 60_000), lifetimeSeconds: 120 }, 401);
    expect(e.code).toBe('SAML_EXPIRED');
    expect(e.hint).toContain('"lifetimeInSeconds": 3600');
    expect(e.hint).toContain('valid for only 120 seconds');
  });

  it('a 1 s lifetime → expired on arrival, "lifetimeInSeconds" and the lifetime it had', async () => {
    const e = await failWith({ now: new Date(Date.now() - 70_000), lifetimeSeconds: 1 }, 401);
    expect(e.code).toBe('SAML_EXPIRED');
    expect(e.hint).toContain('valid for only 1 second');
    expect(e.hint).toContain('"lifetimeInSeconds": 3600');
  });

  it('another issuer → received vs trusted, re-import the metadata', async () => {
    const e = await failWith({ issuer: 'urn:other-tenant.auth0.com' }, 401);
    expect(e).toMatchObject({
      code: 'SAML_ISSUER_MISMATCH',
      expected: TEST_TENANT_ISSUER,
      received: 'urn:other-tenant.auth0.com',
    });
    expect(e.hint).toContain('re-import the IdP metadata');
  });

  it('IdP-initiated turned off → the login URL to start from', async () => {
    await patchSettings(t, 'acme', { idpInitiated: false });
    try {
      const e = await failWith({}, 403);
      expect(e.code).toBe('SAML_IDP_INITIATED_DISABLED');
      expect(e.hint).toContain(t.urls('acme').acsUrl.replace(/acs$/, 'login'));
    } finally {
      await patchSettings(t, 'acme', { idpInitiated: true });
    }
  });

  it("an error Status → Auth0's own status and message, and where to look in Auth0", async () => {
    const e = await failWith(
      { statusCode: 'urn:oasis:names:tc:SAML:2.0:status:Responder', statusMessage: 'access denied by rule' },
      401,
    );
    expect(e.code).toBe('SAML_STATUS_NOT_SUCCESS');
    expect(e.received).toContain('Responder');
    expect(e.received).toContain('access denied by rule');
    expect(e.received!.startsWith('unverified: ')).toBe(true);
    expect(e.hint).toContain('Monitoring > Logs');
  });

  it('an e-mail domain that is not allowed → the domain and the allow-list', async () => {
    await patchSettings(t, 'acme', { allowedEmailDomains: ['acme.example'] });
    try {
      const e = await failWith({ email: 'jane@elsewhere.example' }, 403);
      expect(e.code).toBe('USER_EMAIL_DOMAIN_NOT_ALLOWED');
      expect(e.hint).toContain('acme.example');
    } finally {
      await patchSettings(t, 'acme', { allowedEmailDomains: [] });
    }
  });

  it('the admin page shows the hint beside each failure', async () => {
    await createLocalAdmin(t.sp.stores, { account: 'acme', email: 'admin@acme.example', password: PASSWORD });
    const agent = request.agent(t.app);
    const form = await agent.get('/login/password').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
    await agent
      .post('/login/password')
      .type('form')
      .send({ _csrf: csrf, account: 'acme', email: 'admin@acme.example', password: PASSWORD })
      .expect(303);
    const e = await failWith({ audience: 'urn:auth0:wrong' }, 401);
    const page = await agent.get('/admin').expect(200);
    expect(page.text).toContain(e.referenceId);
    expect(page.text).toContain('class="hint"');
    expect(page.text).toContain(`&#34;audience&#34;: &#34;${entityId}&#34;`);
  });
});

describe('the reference on an error page', () => {
  it('leads an admin of that account to the event, and nobody else', async () => {
    const t = await startSp();
    try {
      await createAccountWithIdp(t, 'acme');
      await createAccountWithIdp(t, 'other');
      const res = await postAcs(t, 'acme', responseFor(t, 'acme', { audience: 'urn:wrong' }), { html: true });
      const ref = /ref_[0-9a-f]{16}/.exec(res.text)![0];
      const event = (await adminGet(t, `/api/accounts/acme/audit/${ref}`)).body as Event;
      expect(event).toMatchObject({ referenceId: ref, code: 'SAML_AUDIENCE_MISMATCH' });
      expect(event.hint).toContain('"audience"');
      // The end user's page stays short: no configuration detail.
      expect(res.text).not.toContain('Addons');
      await request(t.app)
        .get(`/api/accounts/other/audit/${ref}`)
        .set('Authorization', `Bearer test-admin-token-0123456789abcdef`)
        .expect(404);
    } finally {
      await t.close();
    }
  });
});
