/**
 * The admin page's OAuth 2.0 / OpenID Connect part, used through a setup-link session (as an admin
 * with no password would): the protocol switch, the values for Auth0, the form (same schema, messages
 * and audit as `PUT /api/accounts/:slug/oidc`), the secret never echoed, the test sign-in button and
 * the remove button; CSRF on every post.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, adminGet, startSp, type TestSp } from '../support/harness.js';
import { SPA_CLIENT, WEB_CLIENT, startOidcRig, type OidcRig } from '../support/oidc-provider-rig.js';
import { createAccount } from '../support/oidc.js';

const AUTH = `Bearer ${ADMIN_TOKEN}`;
const csrfOf = (text: string): string => {
  const m = /name="_csrf" value="([^"]+)"/.exec(text);
  if (!m) throw new Error('no _csrf field in page');
  return m[1]!;
};

let t: TestSp;
let rig: OidcRig;

beforeAll(async () => {
  t = await startSp();
  rig = await startOidcRig([`${t.sp.config.baseUrl}/sso/acme/oidc/callback`]);
  await createAccount(t, 'acme');
});
afterAll(async () => {
  await rig?.close();
  await t?.close();
});

/** A browser signed in through a setup link. */
async function setupLinkAgent() {
  const link = await request(t.app)
    .post('/api/accounts/acme/setup-links')
    .set('Authorization', AUTH)
    .send({})
    .expect(201);
  const agent = request.agent(t.app);
  const opened = await agent.get(new URL(link.body.url as string).pathname);
  if (opened.status === 200) {
    // The link's page confirms with a same-origin form post.
    const action = /<form method="post" action="([^"]+)"/.exec(opened.text)?.[1];
    const token = /name="token" value="([^"]+)"/.exec(opened.text)?.[1];
    if (action) {
      await agent
        .post(action)
        .set('Origin', 'http://localhost:3000')
        .type('form')
        .send({
          ...(token ? { token } : {}),
          _csrf: /name="_csrf" value="([^"]+)"/.exec(opened.text)?.[1] ?? '',
        });
    }
  }
  const page = await agent.get('/admin').expect(200);
  expect(page.text).toContain('a setup link');
  return agent;
}

describe('admin page: OAuth 2.0 / OpenID Connect', () => {
  let agent: Awaited<ReturnType<typeof setupLinkAgent>>;
  beforeAll(async () => {
    agent = await setupLinkAgent();
  });

  it('offers SAML or OIDC; the OIDC part shows the callback URL to copy with the comma note', async () => {
    const saml = await agent.get('/admin').expect(200);
    expect(saml.text).toContain('href="/admin?protocol=oidc"');
    expect(saml.text).toContain('Values for Auth0');
    const res = await agent.get('/admin?protocol=oidc').expect(200);
    expect(res.text).toContain('aria-current="page"');
    expect(res.text).toContain(
      'id="value-oidc-callback">http://localhost:3000/sso/acme/oidc/callback</code>',
    );
    expect(res.text).toContain('data-copy="value-oidc-callback"');
    expect(res.text).toContain('id="value-oidc-login">http://localhost:3000/sso/acme/oidc/login</code>');
    expect(res.text).toMatch(/Allowed Callback URLs/);
    expect(res.text).toMatch(/separated by commas/);
    expect(res.text).toContain('Regular Web Application');
    expect(res.text).toContain('Single Page Application');
    expect(res.text).toMatch(/Simply passing the Client ID will cause the authorization process to fail/);
    expect(res.text).toMatch(/Providing both the Client ID and the Client Secret will result in a failure/);
    expect(res.text).toContain('type="password"');
    expect(res.text).toContain('not connected');
    expect(res.text).not.toContain('Remove the connection');
  });

  it('a post without the CSRF token is refused and changes nothing', async () => {
    const res = await agent
      .post('/admin/oidc')
      .type('form')
      .send({ issuer: rig.issuer, clientId: SPA_CLIENT.clientId, clientType: 'public' });
    expect(res.status).toBe(403);
    await request(t.app).get('/api/accounts/acme/oidc').set('Authorization', AUTH).expect(404);
  });

  it('a rejected post re-renders with the values typed (never the secret) and the API message', async () => {
    const page = await agent.get('/admin?protocol=oidc').expect(200);
    const res = await agent
      .post('/admin/oidc')
      .type('form')
      .send({
        _csrf: csrfOf(page.text),
        clientType: 'public',
        issuer: rig.issuer,
        clientId: SPA_CLIENT.clientId,
        clientSecret: 'typed-secret-must-not-come-back',
        tokenEndpointAuthMethod: '',
      });
    expect(res.status).toBe(400);
    expect(res.text).toContain('OIDC_CLIENT_SECRET_FORBIDDEN');
    expect(res.text).toContain(`value="${rig.issuer}"`);
    expect(res.text).toContain(`value="${SPA_CLIENT.clientId}"`);
    expect(res.text).toMatch(/value="public"\s+checked/);
    expect(res.text).not.toContain('typed-secret-must-not-come-back');
    // The API's field-named message for a schema error, on the page.
    const bad = await agent
      .post('/admin/oidc')
      .type('form')
      .send({ _csrf: csrfOf(page.text), clientType: 'confidential', issuer: rig.issuer, clientSecret: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('OIDC_CONFIG_INVALID');
    expect(bad.text).toMatch(/clientId/);
    const audit = await adminGet(t, '/api/accounts/acme/audit');
    expect(audit.body.events[0]).toMatchObject({ code: 'OIDC_CONFIG_INVALID', outcome: 'failure' });
  });

  it('configures a Web client by discovery, audited as the setup link; shows pending and no secret', async () => {
    const page = await agent.get('/admin?protocol=oidc').expect(200);
    const res = await agent
      .post('/admin/oidc')
      .type('form')
      .send({
        _csrf: csrfOf(page.text),
        clientType: 'confidential',
        issuer: rig.issuer,
        clientId: WEB_CLIENT.clientId,
        clientSecret: WEB_CLIENT.clientSecret,
        tokenEndpointAuthMethod: '',
        authorizationUrl: '',
        tokenUrl: '',
        jwksUri: '',
        userinfoUrl: '',
      })
      .expect(303);
    expect(res.headers.location).toBe('/admin?protocol=oidc&saved=oidc');
    const after = await agent.get(res.headers.location as string).expect(200);
    expect(after.text).toContain('The OpenID Connect settings were saved');
    expect(after.text).toMatch(
      /OAuth 2\.0 \/ OpenID Connect <span class="badge badge-pending">pending<\/span>/,
    );
    expect(after.text).not.toContain(WEB_CLIENT.clientSecret);
    expect(after.text).toContain('set (stored encrypted, never shown)');
    // The test sign-in form may lead to the provider (CSP form-action).
    expect(after.headers['content-security-policy']).toContain(
      `form-action 'self' ${new URL(rig.issuer).origin}`,
    );
    const conn = await adminGet(t, '/api/accounts/acme/oidc');
    expect(conn.body).toMatchObject({ clientType: 'confidential', source: 'discovery', status: 'pending' });
    const audit = await adminGet(t, '/api/accounts/acme/audit');
    expect(audit.body.events[0]).toMatchObject({ code: 'OIDC_CONNECTION_CONFIGURED', outcome: 'success' });
    expect(audit.body.events[0].detail).toMatch(/ by .+ \(user .+\)$/);
  });

  it('Test sign-in leads to an OIDC test link; Remove deletes the connection once the admin ticked "I understand"', async () => {
    const page = await agent.get('/admin?protocol=oidc').expect(200);
    expect(page.text).toContain('name="protocol" value="oidc"');
    const test = await agent
      .post('/admin/tests')
      .type('form')
      .send({ _csrf: csrfOf(page.text), protocol: 'oidc' })
      .expect(303);
    expect(test.headers.location).toMatch(/^\/sso\/acme\/tests\/[A-Za-z0-9_-]{43}$/);
    const follow = await agent.get(test.headers.location as string).expect(302);
    expect(new URL(follow.headers.location as string).origin).toBe(new URL(rig.issuer).origin);

    // Without the "I understand" box (a page the browser did not validate, a forged form): nothing goes.
    const unconfirmed = await agent
      .post('/admin/oidc/delete')
      .type('form')
      .send({ _csrf: csrfOf(page.text) })
      .expect(400);
    expect(unconfirmed.text).toContain(
      'Tick “I understand” to remove the OpenID Connect connection: nothing was removed.',
    );
    expect(unconfirmed.text).toContain('name="confirm" value="yes" required');
    await request(t.app).get('/api/accounts/acme/oidc').set('Authorization', AUTH).expect(200);

    const removed = await agent
      .post('/admin/oidc/delete')
      .type('form')
      .send({ _csrf: csrfOf(page.text), confirm: 'yes' })
      .expect(303);
    expect(removed.headers.location).toBe('/admin?protocol=oidc&saved=oidc-deleted');
    await request(t.app).get('/api/accounts/acme/oidc').set('Authorization', AUTH).expect(404);
    const audit = await adminGet(t, '/api/accounts/acme/audit');
    expect(audit.body.events[0]).toMatchObject({ code: 'OIDC_CONNECTION_DELETED' });
  });
});
