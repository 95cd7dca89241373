/**
 * Test sign-in for OIDC connections, against the real provider (oidc-provider on loopback, configured
 * like an Auth0 tenant): `POST /api/accounts/:slug/oidc/tests` → a one-time link through the same
 * `/sso/:slug/tests/:token` route as SAML's, a code flow that only tests (no session, no user), every
 * check reported, a passing test activating a pending connection.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, adminGet, cookiesFrom, me, startSp, type TestSp } from '../support/harness.js';
import { SPA_CLIENT, WEB_CLIENT, startOidcRig, type OidcRig } from '../support/oidc-provider-rig.js';
import { callback, createAccount, putOidc } from '../support/oidc.js';

interface Check {
  name: string;
  label: string;
  ok: boolean;
  evaluated: boolean;
  expected?: string;
  received?: string;
  hint?: string;
}

const SLUGS = ['web', 'spa', 'unverified', 'denied', 'secret', 'samlonly', 'cross'];
let t: TestSp;
let rig: OidcRig;
const AUTH = `Bearer ${ADMIN_TOKEN}`;

beforeAll(async () => {
  t = await startSp();
  rig = await startOidcRig(SLUGS.map((s) => `${t.sp.config.baseUrl}/sso/${s}/oidc/callback`));
});
afterAll(async () => {
  await rig?.close();
  await t?.close();
});

async function configure(slug: string, client: 'web' | 'spa', secret = WEB_CLIENT.clientSecret) {
  await createAccount(t, slug, { loginConfirmation: true });
  await putOidc(
    t,
    slug,
    client === 'web'
      ? {
          issuer: rig.issuer,
          clientId: WEB_CLIENT.clientId,
          clientSecret: secret,
          clientType: 'confidential',
        }
      : { issuer: rig.issuer, clientId: SPA_CLIENT.clientId, clientType: 'public' },
  ).expect(200);
}

async function newTest(slug: string) {
  const res = await request(t.app)
    .post(`/api/accounts/${slug}/oidc/tests`)
    .set('Authorization', AUTH)
    .expect(201);
  expect(res.body.loginUrl).toMatch(
    new RegExp(`^http://localhost:3000/sso/${slug}/tests/[A-Za-z0-9_-]{43}$`),
  );
  expect(Date.parse(res.body.expiresAt)).toBeGreaterThan(Date.now());
  return res.body as { id: string; loginUrl: string; expiresAt: string };
}

/** Follows the link like a fresh browser, signs `sub` in at the provider, delivers the callback. */
async function run(slug: string, sub: string, opts: { cancel?: boolean } = {}) {
  const test = await newTest(slug);
  const start = await request(t.app).get(new URL(test.loginUrl).pathname).expect(302);
  const cookies = cookiesFrom(start);
  expect(cookies.some((c) => c.startsWith('sspk_oidc='))).toBe(true);
  const back = await rig.signIn(start.headers.location as string, sub, opts);
  const res = await callback(t, back, cookies);
  return { test, res, cookies: [...cookies, ...cookiesFrom(res)] };
}

async function verdict(slug: string, id: string) {
  const res = await adminGet(t, `/api/accounts/${slug}/oidc/tests/${id}`);
  return res.body as { id: string; protocol: string; status: string; checks: Check[]; referenceId: string };
}

const ALL = [
  'provider',
  'state',
  'token',
  'signature',
  'issuer',
  'audience',
  'expiry',
  'nonce',
  'email',
  'userinfo',
  'attributes',
];

describe('OIDC test sign-in', () => {
  it('Web client: passes every check, activates the connection, makes no session and no user', async () => {
    await configure('web', 'web');
    const { test, res, cookies } = await run('web', 'auth0|tester');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ test: { id: test.id, status: 'passed' } });
    await me(t, cookies).expect(401);
    const v = await verdict('web', test.id);
    expect(v.protocol).toBe('oidc');
    expect(v.status).toBe('passed');
    expect(v.checks.map((c) => c.name)).toEqual(ALL);
    expect(v.checks.every((c) => c.ok && c.evaluated)).toBe(true);
    expect(v.checks.find((c) => c.name === 'issuer')?.received).toBe(rig.issuer);
    expect(v.checks.find((c) => c.name === 'email')?.received).toMatch(/auth0\.tester@example\.com/);
    expect(v.checks.find((c) => c.name === 'attributes')?.received).toMatch(/groups staff; role member/);
    const users = await adminGet(t, '/api/accounts/web/users').expect(200);
    expect(users.body.users).toEqual([]);
    expect((await adminGet(t, '/api/accounts/web/oidc')).body.status).toBe('active');
    // The SAML route does not read an OIDC test, and the link works once.
    await request(t.app)
      .get(`/api/accounts/web/saml/tests/${test.id}`)
      .set('Authorization', AUTH)
      .expect(404);
    await request(t.app).get(new URL(test.loginUrl).pathname).expect(410);
  });

  it('SPA client (public, PKCE only): passes', async () => {
    await configure('spa', 'spa');
    const { test } = await run('spa', 'auth0|spa-tester');
    expect((await verdict('spa', test.id)).status).toBe('passed');
  });

  it('email_verified false: fails at the e-mail check with the hint, the connection stays pending', async () => {
    await configure('unverified', 'web');
    rig.setUser('auth0|unverified', { email_verified: false });
    const { test, res } = await run('unverified', 'auth0|unverified');
    expect(res.body.test.status).toBe('failed');
    const v = await verdict('unverified', test.id);
    const email = v.checks.find((c) => c.name === 'email')!;
    expect(email).toMatchObject({ ok: false, evaluated: true, received: 'email_verified: false' });
    expect(email.hint).toMatch(/^OIDC_EMAIL_NOT_VERIFIED: /);
    expect(v.checks.filter((c) => c.name !== 'email').every((c) => c.ok || !c.evaluated)).toBe(true);
    expect(v.checks.find((c) => c.name === 'signature')!.ok).toBe(true);
    expect((await adminGet(t, '/api/accounts/unverified/oidc')).body.status).toBe('pending');
    const audit = await adminGet(t, '/api/accounts/unverified/audit').expect(200);
    expect(audit.body.events[0]).toMatchObject({
      code: 'OIDC_EMAIL_NOT_VERIFIED',
      referenceId: v.referenceId,
    });
  });

  it('access_denied at the provider: the provider check fails, the rest is not evaluated', async () => {
    await configure('denied', 'web');
    const { test } = await run('denied', 'auth0|nobody', { cancel: true });
    const v = await verdict('denied', test.id);
    expect(v.status).toBe('failed');
    expect(v.checks[0]).toMatchObject({ name: 'provider', ok: false, evaluated: true });
    expect(v.checks[0]!.hint).toMatch(/^OIDC_ACCESS_DENIED/);
    expect(v.checks[1]).toMatchObject({ name: 'state', ok: true });
    expect(v.checks.slice(2).every((c) => !c.evaluated)).toBe(true);
  });

  it('a wrong client secret: the token exchange fails with invalid_client named', async () => {
    await configure('secret', 'web', 'not-the-secret');
    const { test } = await run('secret', 'auth0|tester');
    const v = await verdict('secret', test.id);
    const token = v.checks.find((c) => c.name === 'token')!;
    expect(token).toMatchObject({ ok: false, evaluated: true });
    expect(token.hint).toMatch(/^OIDC_CLIENT_AUTH_FAILED: /);
    expect(token.received).toMatch(/invalid_client/);
  });

  it('no OIDC connection: 404 with the code; a SAML test link is not an OIDC one', async () => {
    await createAccount(t, 'samlonly');
    const res = await request(t.app).post('/api/accounts/samlonly/oidc/tests').set('Authorization', AUTH);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('OIDC_CONNECTION_NOT_FOUND');
  });

  it('an OIDC test cannot be read through another account', async () => {
    await configure('cross', 'spa');
    const test = await newTest('cross');
    await request(t.app)
      .get(`/api/accounts/web/oidc/tests/${test.id}`)
      .set('Authorization', AUTH)
      .expect(404);
  });
});
