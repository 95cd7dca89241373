/**
 * An https site whose sign-ins arrive over what looks like plain http (TLS ends at a proxy that the
 * kit does not trust, or that sends no X-Forwarded-Proto). The session cookie is Secure, so
 * express-session would set none, silently: the sign-in would look fine (a 303, a success in the
 * trail) and leave the user signed out, sent round in circles. The kit refuses such a sign-in with
 * HTTPS_REQUIRED instead, and its hint names the setting to fix.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createSamlSp, type SamlSp } from '../../src/index.js';
import {
  ADMIN_TOKEN,
  adminGet,
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  responseFor,
  SSO_URL,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { decodeRedirect, idpKey, mintResponse, TEST_TENANT_ISSUER } from '../support/idp.js';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { callback } from '../support/oidc.js';
import { spWithProvider } from '../security/oidc-rig-support.js';

const HTTPS_BASE = 'https://sp.example.com';

function setCookieNames(res: { headers: Record<string, unknown> }): string[] {
  return cookiesFrom(res).map((c) => c.split('=')[0]!);
}

describe('https site, sign-in over plain http', () => {
  let t: TestSp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('behind a trusted proxy that sends no X-Forwarded-Proto: HTTPS_REQUIRED, no session, a failure in the trail with the fix', async () => {
    t = await startSp({ baseUrl: HTTPS_BASE, trustProxy: '1' });
    await createAccountWithIdp(t, 'acme');
    const response = responseFor(t, 'acme');
    const res = await postAcs(t, 'acme', response);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('HTTPS_REQUIRED');
    // The page or JSON says what to fix, for whoever sees it first.
    expect(res.body.error.message).toContain('X-Forwarded-Proto: https');
    expect(setCookieNames(res)).not.toContain('__Host-sspk.sid');
    await me(t, cookiesFrom(res)).expect(401);
    const [event] = (await adminGet(t, '/api/accounts/acme/audit')).body.events as Record<string, unknown>[];
    expect(event).toMatchObject({ outcome: 'failure', code: 'HTTPS_REQUIRED' });
    expect(String(event!.hint)).toContain('TRUST_PROXY');
    expect(String(event!.hint)).toContain('X-Forwarded-Proto: https');

    // Refused as the last check: the response was valid, and is used up like any refused one.
    const replayed = await postAcs(t, 'acme', response).set('X-Forwarded-Proto', 'https');
    expect(replayed.body.error.code).toBe('SAML_REPLAY');
    // Once the proxy says https, the next sign-in goes through.
    const ok = await postAcs(t, 'acme', responseFor(t, 'acme')).set('X-Forwarded-Proto', 'https');
    expect(ok.status).toBe(303);
    expect(setCookieNames(ok)).toContain('__Host-sspk.sid');
    await me(t, cookiesFrom(ok)).expect(200);
  });

  it('keeps the session the browser has, and refuses a password sign-in the same way (audited)', async () => {
    t = await startSp({ baseUrl: HTTPS_BASE, trustProxy: '1' });
    await createAccountWithIdp(t, 'acme');
    const signedIn = await postAcs(t, 'acme', responseFor(t, 'acme')).set('X-Forwarded-Proto', 'https');
    expect(signedIn.status).toBe(303);
    const session = cookiesFrom(signedIn);
    // A second sign-in over plain http, carrying the session: refused, and the session lives on.
    const again = await postAcs(t, 'acme', responseFor(t, 'acme'), { cookie: session });
    expect(again.body.error.code).toBe('HTTPS_REQUIRED');
    await me(t, session).expect(200);

    await createLocalAdmin(t.sp.stores, {
      account: 'acme',
      email: 'root@acme.test',
      password: 'correct horse battery staple',
    });
    const form = await request(t.app).get('/login/password').set('X-Forwarded-Proto', 'https').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
    const password = await request(t.app)
      .post('/login/password')
      .set('Cookie', cookiesFrom(form))
      .set('Accept', 'application/json')
      .type('form')
      .send({
        _csrf: csrf,
        account: 'acme',
        email: 'root@acme.test',
        password: 'correct horse battery staple',
      });
    expect(password.status).toBe(400);
    expect(password.body.error.code).toBe('HTTPS_REQUIRED');
    await me(t, cookiesFrom(password)).expect(401);
    const events = (await adminGet(t, '/api/accounts/acme/audit')).body.events as Record<string, unknown>[];
    expect(events[0]).toMatchObject({ code: 'HTTPS_REQUIRED', subject: 'root@acme.test' });
    expect(String(events[0]!.detail)).toMatch(/^password sign-in refused/);
  });

  it('an invalid response over plain http gets its own error, not HTTPS_REQUIRED', async () => {
    t = await startSp({ baseUrl: HTTPS_BASE, trustProxy: '1' });
    await createAccountWithIdp(t, 'acme');
    const res = await postAcs(t, 'acme', responseFor(t, 'acme', { audience: 'https://elsewhere.example' }));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('SAML_AUDIENCE_MISMATCH');
  });

  it('with TRUST_PROXY unset, a client-sent X-Forwarded-Proto does not count', async () => {
    t = await startSp({ baseUrl: HTTPS_BASE });
    await createAccountWithIdp(t, 'acme');
    const res = await postAcs(t, 'acme', responseFor(t, 'acme')).set('X-Forwarded-Proto', 'https');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('HTTPS_REQUIRED');
    await me(t, cookiesFrom(res)).expect(401);
  });

  it("the admin's test sign-in fails over plain http too (a transport check), and passes over https", async () => {
    t = await startSp({ baseUrl: HTTPS_BASE, trustProxy: '1' });
    await createAccountWithIdp(t, 'acme');
    const verdictOf = async (headers: Record<string, string>) => {
      const created = await request(t!.app)
        .post('/api/accounts/acme/saml/tests')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .expect(201);
      const { id, loginUrl } = created.body as { id: string; loginUrl: string };
      const started = await request(t!.app).get(new URL(loginUrl).pathname).set(headers).expect(302);
      const authn = decodeRedirect(started.headers.location as string);
      await postAcs(t!, 'acme', responseFor(t!, 'acme', { inResponseTo: authn.id })).set(headers);
      return (await adminGet(t!, `/api/accounts/acme/saml/tests/${id}`)).body as {
        status: string;
        checks: { name: string; label: string; ok: boolean; hint?: string; expected?: string }[];
      };
    };
    const overHttp = await verdictOf({});
    expect(overHttp.status).toBe('failed');
    const transport = overHttp.checks.find((c) => c.name === 'transport');
    expect(transport).toMatchObject({ ok: false, expected: 'https' });
    expect(transport!.label).toMatch(/over https/);
    expect(transport!.hint).toMatch(/^HTTPS_REQUIRED: .*TRUST_PROXY/);
    // Every check of the response itself passed: the transport is what the admin must fix.
    expect(overHttp.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['transport']);

    const overHttps = await verdictOf({ 'X-Forwarded-Proto': 'https' });
    expect(overHttps.status).toBe('passed');
    expect(overHttps.checks.some((c) => c.name === 'transport')).toBe(false);
  });

  it("the admin's OIDC test sign-in reports the transport the same way", async () => {
    const env = await spWithProvider('oidc-https', { baseUrl: HTTPS_BASE, trustProxy: '1' });
    try {
      const run = async (headers: Record<string, string>) => {
        const created = await request(env.t.app)
          .post('/api/accounts/oidc-https/oidc/tests')
          .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
          .expect(201);
        const { id, loginUrl } = created.body as { id: string; loginUrl: string };
        const started = await request(env.t.app).get(new URL(loginUrl).pathname).set(headers).expect(302);
        const back = await env.rig.signIn(started.headers.location as string, 'auth0|tester');
        await callback(env.t, back, cookiesFrom(started)).set(headers);
        return (await adminGet(env.t, `/api/accounts/oidc-https/oidc/tests/${id}`)).body as {
          status: string;
          checks: { name: string; ok: boolean; hint?: string }[];
        };
      };
      const overHttp = await run({});
      expect(overHttp.status).toBe('failed');
      expect(overHttp.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['transport']);
      expect((await run({ 'X-Forwarded-Proto': 'https' })).status).toBe('passed');
    } finally {
      await env.close();
    }
  });

  it('an http site is not concerned', async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    const res = await postAcs(t, 'acme', responseFor(t, 'acme'));
    expect(res.status).toBe(303);
    await me(t, cookiesFrom(res)).expect(200);
  });
});

describe('embedded on an https site: the host app\'s "trust proxy" decides when TRUST_PROXY is unset', () => {
  let sp: SamlSp | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await sp?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    sp = undefined;
    dir = undefined;
  });

  it("signs in behind the host's trusted proxy, and refuses (HTTPS_REQUIRED) when the host trusts none", async () => {
    dir = mkdtempSync(join(tmpdir(), 'sspk-https-embed-'));
    sp = await createSamlSp({
      config: {
        nodeEnv: 'test',
        baseUrl: `${HTTPS_BASE}/auth`,
        databaseUrl: `sqlite:${join(dir, 'sp.db')}`,
        adminApiToken: ADMIN_TOKEN,
        sessionSecret: 'test-session-secret-0123456789abcdef0123',
        logLevel: 'silent',
      },
    });
    const host = (trustProxy: number | false) => {
      const app = express();
      app.set('trust proxy', trustProxy);
      app.use('/auth', sp!.router);
      app.use(sp!.errorHandler);
      return app;
    };
    const trusting = host(1);
    await request(trusting)
      .post('/auth/api/accounts')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ slug: 'acme', name: 'Acme' })
      .expect(201);
    await request(trusting)
      .patch('/auth/api/accounts/acme')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ loginConfirmation: false })
      .expect(200);
    await request(trusting)
      .put('/auth/api/accounts/acme/saml')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ certificate: idpKey.cert, ssoUrl: SSO_URL })
      .expect(200);
    const response = () =>
      mintResponse({
        acsUrl: `${HTTPS_BASE}/auth/sso/acme/acs`,
        audience: `${HTTPS_BASE}/auth/sso/acme/metadata`,
        issuer: TEST_TENANT_ISSUER,
      });
    const post = (app: express.Express) =>
      request(app)
        .post('/auth/sso/acme/acs')
        .set('X-Forwarded-Proto', 'https')
        .set('Accept', 'application/json')
        .type('form')
        .send({ SAMLResponse: response() });

    const ok = await post(trusting);
    expect(ok.status).toBe(303);
    // The name the host reads from sp.sessionCookie is the one the browser gets.
    expect(sp.sessionCookie).toEqual({ name: '__Host-sspk.sid', path: '/' });
    expect(setCookieNames(ok)).toContain(sp.sessionCookie.name);
    const refused = await post(host(false));
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('HTTPS_REQUIRED');
  });
});
