/**
 * OAuth 2.0 / OpenID Connect connections end to end, against a real OpenID provider on loopback
 * (oidc-provider configured like an Auth0 tenant): both client types, discovery and explicit
 * endpoints, provisioning, /api/me, audit and activation, and the provider's own refusals.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, adminGet, cookiesFrom, me, startSp, type TestSp } from '../support/harness.js';
import { SPA_CLIENT, WEB_CLIENT, startOidcRig, type OidcRig } from '../support/oidc-provider-rig.js';
import { callback, createAccount, mergeCookies, putOidc, startOidcLogin } from '../support/oidc.js';

const SLUGS = ['confirm2', 'web', 'spa', 'manual', 'denied', 'wrongsecret', 'admins', 'confirm'];
let t: TestSp;
let rig: OidcRig;

beforeAll(async () => {
  t = await startSp();
  rig = await startOidcRig(SLUGS.map((s) => `${t.sp.config.baseUrl}/sso/${s}/oidc/callback`));
});
afterAll(async () => {
  await rig?.close();
  await t?.close();
});

async function signIn(slug: string, sub: string, returnTo = '/after') {
  const start = await startOidcLogin(t, slug, returnTo);
  const back = await rig.signIn(start.location, sub);
  const res = await callback(t, back, start.cookies);
  return { res, cookies: mergeCookies(start.cookies, res), start, back };
}

describe('OIDC connection with a confidential (Web) client, by discovery', () => {
  it('configures, signs a user in, provisions it, and activates the connection', async () => {
    await createAccount(t, 'web', { adminGroups: ['staff'] });
    const put = await putOidc(t, 'web', {
      issuer: rig.issuer,
      clientId: WEB_CLIENT.clientId,
      clientSecret: WEB_CLIENT.clientSecret,
      clientType: 'confidential',
    }).expect(200);
    expect(put.body).toMatchObject({
      protocol: 'oidc',
      status: 'pending',
      clientType: 'confidential',
      tokenEndpointAuthMethod: 'client_secret_basic',
      issuer: rig.issuer,
      source: 'discovery',
      loginUrl: `${t.sp.config.baseUrl}/sso/web/oidc/login`,
      callbackUrl: `${t.sp.config.baseUrl}/sso/web/oidc/callback`,
    });
    expect(put.body.callbackUrlNote).toMatch(/comma/);
    expect(JSON.stringify(put.body)).not.toContain(WEB_CLIENT.clientSecret);

    const start = await startOidcLogin(t, 'web', '/after');
    const auth = new URL(start.location);
    expect(auth.origin + '/').toBe(rig.issuer);
    for (const p of ['state', 'nonce', 'code_challenge']) expect(auth.searchParams.get(p)).toBeTruthy();
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('redirect_uri')).toBe(put.body.callbackUrl);
    const cookie = start.cookies.find((c) => c.startsWith('sspk_oidc='));
    expect(cookie).toBeDefined();

    const back = await rig.signIn(start.location, 'auth0|alice');
    const res = await callback(t, back, start.cookies).expect(303);
    expect(res.headers.location).toBe('/after');
    const cookies = mergeCookies(start.cookies, res);
    const who = await me(t, cookies).expect(200);
    expect(who.body).toEqual({
      email: 'auth0.alice@example.com',
      nameId: 'auth0|alice',
      account: 'web',
      role: 'admin',
    });

    const conn = await adminGet(t, '/api/accounts/web/oidc');
    expect(conn.body.status).toBe('active');
    const users = await adminGet(t, '/api/accounts/web/users');
    expect(users.body.users).toHaveLength(1);
    expect(users.body.users[0]).toMatchObject({
      nameId: 'auth0|alice',
      protocol: 'oidc',
      kind: 'sso',
      groups: ['staff'],
      oidcConnectionId: expect.any(String),
      connectionId: null,
    });
    const audit = await adminGet(t, '/api/accounts/web/audit');
    const codes = (audit.body.events as { code: string }[]).map((e) => e.code);
    expect(codes).toContain('OK');
    expect(codes).toContain('OIDC_CONNECTION_CONFIGURED');
    expect(JSON.stringify(audit.body)).not.toContain(WEB_CLIENT.clientSecret);

    // The same user again: same row, no duplicate.
    await signIn('web', 'auth0|alice');
    expect((await adminGet(t, '/api/accounts/web/users')).body.users).toHaveLength(1);
  });
});

describe('OIDC connection with a public (SPA) client', () => {
  it('signs in with the client ID alone (PKCE), never sending a secret', async () => {
    await createAccount(t, 'spa');
    const put = await putOidc(t, 'spa', {
      issuer: rig.issuer,
      clientId: SPA_CLIENT.clientId,
      clientType: 'public',
    }).expect(200);
    expect(put.body).toMatchObject({
      clientType: 'public',
      tokenEndpointAuthMethod: 'none',
      clientSecretSet: false,
    });
    expect(put.body.auth0.applicationType).toBe('Single Page Application');
    rig.setUser('auth0|bob', { name: 'Bob B' });
    const { res, cookies } = await signIn('spa', 'auth0|bob');
    expect(res.status).toBe(303);
    const who = await me(t, cookies).expect(200);
    expect(who.body).toMatchObject({ nameId: 'auth0|bob', role: 'member', account: 'spa' });
    expect((await adminGet(t, '/api/accounts/spa/oidc')).body.status).toBe('active');
  });
});

describe('OIDC connection with explicit endpoints', () => {
  it('signs in with the authorization, token, JWKS and userinfo URLs given by the admin', async () => {
    await createAccount(t, 'manual');
    const put = await putOidc(t, 'manual', {
      issuer: rig.issuer,
      clientId: WEB_CLIENT.clientId,
      clientSecret: WEB_CLIENT.clientSecret,
      clientType: 'confidential',
      tokenEndpointAuthMethod: 'client_secret_basic',
      authorizationUrl: `${rig.issuer}auth`,
      tokenUrl: `${rig.issuer}token`,
      jwksUri: `${rig.issuer}jwks`,
      userinfoUrl: `${rig.issuer}me`,
    }).expect(200);
    expect(put.body.source).toBe('manual');
    const { res, cookies } = await signIn('manual', 'auth0|carol');
    expect(res.status).toBe(303);
    expect((await me(t, cookies).expect(200)).body.nameId).toBe('auth0|carol');
  });
});

describe('provider refusals', () => {
  it('access_denied (the user cancelled at the provider) is a coded 403 with a hint, and no session', async () => {
    await createAccount(t, 'denied');
    await putOidc(t, 'denied', {
      issuer: rig.issuer,
      clientId: SPA_CLIENT.clientId,
      clientType: 'public',
    }).expect(200);
    const start = await startOidcLogin(t, 'denied');
    const back = await rig.signIn(start.location, 'auth0|dan', { cancel: true });
    expect(back.searchParams.get('error')).toBe('access_denied');
    const res = await callback(t, back, start.cookies).expect(403);
    expect(res.body.error.code).toBe('OIDC_ACCESS_DENIED');
    await me(t, mergeCookies(start.cookies, res)).expect(401);
    const audit = await adminGet(t, '/api/accounts/denied/audit?code=OIDC_ACCESS_DENIED');
    expect(audit.body.events[0].hint).toMatch(/Monitoring > Logs/);
  });

  it('a wrong client secret (invalid_client at the token endpoint) names the Auth0 setting', async () => {
    await createAccount(t, 'wrongsecret');
    await putOidc(t, 'wrongsecret', {
      issuer: rig.issuer,
      clientId: WEB_CLIENT.clientId,
      clientSecret: 'not-the-secret',
      clientType: 'confidential',
    }).expect(200);
    const { res, cookies } = await signIn('wrongsecret', 'auth0|erin');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('OIDC_CLIENT_AUTH_FAILED');
    await me(t, cookies).expect(401);
    const audit = await adminGet(t, '/api/accounts/wrongsecret/audit?code=OIDC_CLIENT_AUTH_FAILED');
    expect(audit.body.events[0].hint).toMatch(/Client Secret/);
    expect(audit.body.events[0].hint).toMatch(/Token Endpoint Authentication Method/);
    expect((await adminGet(t, '/api/accounts/wrongsecret/oidc')).body.status).toBe('pending');
  });
});

describe('the start page', () => {
  it('sends an account connected over OpenID Connect only to its OIDC login', async () => {
    const res = await request(t.app).get('/login').query({ account: 'spa' }).expect(200);
    expect(res.text).toContain('/sso/spa/oidc/login');
  });
});

describe('the same machinery as SAML', () => {
  it('a login started by a cross-site navigation waits for the confirmation on our page', async () => {
    await createAccount(t, 'confirm', { loginConfirmation: true });
    await putOidc(t, 'confirm', {
      issuer: rig.issuer,
      clientId: SPA_CLIENT.clientId,
      clientType: 'public',
    }).expect(200);
    const start = await startOidcLogin(t, 'confirm', '/x', { 'Sec-Fetch-Site': 'cross-site' });
    const back = await rig.signIn(start.location, 'auth0|fay');
    const res = await callback(t, back, start.cookies).expect(200);
    expect(res.body.confirmation.reason).toBe('cross-site-start');
    let cookies = mergeCookies(start.cookies, res);
    await me(t, cookies).expect(401);
    const done = await request(t.app)
      .post('/sso/confirm/confirm')
      .set('Origin', new URL(t.sp.config.baseUrl).origin)
      .set('Cookie', cookies.join('; '))
      .type('form')
      .send({ token: res.body.confirmation.token })
      .expect(303);
    expect(done.headers.location).toBe('/x');
    cookies = mergeCookies(cookies, done);
    expect((await me(t, cookies).expect(200)).body.nameId).toBe('auth0|fay');
  });

  it('another site sending the browser through the start page gets the confirmation too', async () => {
    await createAccount(t, 'confirm2', { loginConfirmation: true });
    await putOidc(t, 'confirm2', {
      issuer: rig.issuer,
      clientId: SPA_CLIENT.clientId,
      clientType: 'public',
    }).expect(200);
    const forward = await request(t.app)
      .get('/login')
      .query({ account: 'confirm2' })
      .set('Sec-Fetch-Site', 'cross-site')
      .expect(200);
    const target = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(forward.text)?.[1];
    expect(target).toBe('/sso/confirm2/oidc/login?started=elsewhere');
    // The meta refresh is a navigation of our own page: same-origin.
    const started = await request(t.app).get(target!).set('Sec-Fetch-Site', 'same-origin').expect(302);
    const cookies = cookiesFrom(started);
    const back = await rig.signIn(started.headers.location as string, 'auth0|gus');
    const res = await callback(t, back, cookies).expect(200);
    expect(res.body.confirmation.reason).toBe('cross-site-start');
    await me(t, mergeCookies(cookies, res)).expect(401);
  });

  it('deleting the OIDC connection ends its sessions; the user comes back as the same user', async () => {
    await createAccount(t, 'admins');
    const body = { issuer: rig.issuer, clientId: SPA_CLIENT.clientId, clientType: 'public' };
    await putOidc(t, 'admins', body).expect(200);
    const first = await signIn('admins', 'auth0|gus');
    await me(t, first.cookies).expect(200);
    await request(t.app)
      .delete('/api/accounts/admins/oidc')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(204);
    await me(t, first.cookies).expect(401);
    await request(t.app)
      .get('/api/accounts/admins/oidc')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(404);
    const before = (await adminGet(t, '/api/accounts/admins/users')).body.users;
    expect(before[0].oidcConnectionId).toBeNull();
    await putOidc(t, 'admins', body).expect(200);
    await signIn('admins', 'auth0|gus');
    const after = (await adminGet(t, '/api/accounts/admins/users')).body.users;
    expect(after).toHaveLength(1);
    expect(after[0].id).toBe(before[0].id);
  });
});
