// The README's embedding: a host Express app with routes and middleware of its own mounts the kit with
// app.use('/auth', sp.router) and baseUrl 'https://host/auth'. Every route family of the contract must
// work under /auth (SSO, admin API, admin and login pages with their assets, health, JWKS, setup links,
// the start page), and nothing the kit answers may send the browser outside /auth: no link, form action,
// script or stylesheet, redirect or cookie path at the root, where the host's own routes live.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type Express } from 'express';
import request, { type Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSamlSp, SpError, type SamlSp, type SpEvent } from '../../src/index.js';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { ADMIN_TOKEN, cookiesFrom, SSO_URL } from '../support/harness.js';
import { decodeRedirect, idpKey, mintResponse, TEST_TENANT_ISSUER } from '../support/idp.js';

const ORIGIN = 'http://localhost:3000';
const BASE = `${ORIGIN}/auth`;
const PASSWORD = 'correct horse battery staple';

let dir: string;
let sp: SamlSp;
let app: Express;
/** Every response the kit gave, for the "nothing outside /auth" check at the end. */
const seen: { what: string; res: Response }[] = [];
/** What the host's onEvent received. */
const events: SpEvent[] = [];

function track(what: string, res: Response): Response {
  seen.push({ what, res });
  return res;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sspk-embed-'));
  sp = await createSamlSp({
    config: {
      nodeEnv: 'test',
      baseUrl: BASE,
      databaseUrl: `sqlite:${join(dir, 'sp.db')}`,
      adminApiToken: ADMIN_TOKEN,
      sessionSecret: 'test-session-secret-0123456789abcdef0123',
      logLevel: 'silent',
    },
    branding: { productName: 'Acme Cloud', css: 'main { max-width: 50rem; }' },
    onEvent: (event) => {
      events.push(event);
    },
  });
  app = express();
  // The host's own middleware (no session) and routes, at the root and beside the mount point.
  app.use((_req, res, next) => {
    res.set('X-Host', 'yes');
    next();
  });
  app.get('/', (_req, res) => {
    res.type('text').send('host home');
  });
  app.get('/admin', (_req, res) => {
    res.type('text').send('host admin');
  });
  app.get('/reports/:id', () => {
    throw new SpError('NOT_FOUND');
  });
  app.use('/auth', sp.router);
  app.use(sp.errorHandler);
});

afterAll(async () => {
  await sp.close();
  rmSync(dir, { recursive: true, force: true });
});

const api = (method: 'get' | 'post' | 'put', path: string) =>
  request(app)[method](path).set('Authorization', `Bearer ${ADMIN_TOKEN}`);

describe('createSamlSp() mounted under /auth in a host app', () => {
  it('leaves the host routes alone and serves health, readiness and JWKS under /auth', async () => {
    expect((await request(app).get('/').expect(200)).text).toBe('host home');
    expect((await request(app).get('/admin').expect(200)).text).toBe('host admin');
    expect(track('healthz', await request(app).get('/auth/healthz').expect(200)).body).toEqual({
      status: 'ok',
    });
    expect(track('readyz', await request(app).get('/auth/readyz').expect(200)).body.status).toBe('ready');
    const jwks = track('jwks', await request(app).get('/auth/.well-known/jwks.json').expect(200));
    expect(jwks.body.keys.length).toBeGreaterThan(0);
  });

  it('the admin API builds every URL under /auth', async () => {
    const account = track(
      'create account',
      await api('post', '/auth/api/accounts').send({ slug: 'acme', name: 'Acme Inc' }).expect(201),
    );
    expect(JSON.stringify(account.body)).not.toMatch(/localhost:3000\/(?!auth\/)/);
    await api('post', '/auth/api/accounts').send({ slug: 'acme', name: 'again' }).expect(409);
    const conn = track(
      'import idp',
      await api('put', '/auth/api/accounts/acme/saml')
        .send({ certificate: idpKey.cert, ssoUrl: SSO_URL })
        .expect(200),
    );
    expect(conn.body.acsUrl).toBe(`${BASE}/sso/acme/acs`);
    expect(conn.body.loginUrl).toMatch(new RegExp(`^${BASE}/sso/acme/login`));
    expect(conn.body.metadataUrl).toBe(`${BASE}/sso/acme/metadata`);
    track('get idp', await api('get', '/auth/api/accounts/acme/saml').expect(200));
    const meta = track('metadata', await request(app).get('/auth/sso/acme/metadata').expect(200));
    expect(meta.text).toContain(`Location="${BASE}/sso/acme/acs"`);
  });

  it('a SAML sign-in runs end to end under /auth and its session is scoped to /auth', async () => {
    const login = track(
      'sso login',
      await request(app).get('/auth/sso/acme/login').query({ returnTo: '/auth/welcome' }).expect(302),
    );
    const authn = decodeRedirect(login.headers.location as string);
    expect(authn.acsUrl).toBe(`${BASE}/sso/acme/acs`);
    const samlResponse = mintResponse({
      acsUrl: `${BASE}/sso/acme/acs`,
      audience: `${BASE}/sso/acme/metadata`,
      issuer: TEST_TENANT_ISSUER,
      inResponseTo: authn.id,
    });
    const acs = track(
      'acs',
      await request(app)
        .post('/auth/sso/acme/acs')
        .set('Cookie', cookiesFrom(login))
        .set('Origin', 'null')
        .type('form')
        .send({ SAMLResponse: samlResponse, RelayState: authn.relayState ?? '' }),
    );
    expect(acs.status, acs.text).toBe(303);
    expect(acs.headers.location).toBe('/auth/welcome');
    const session = cookiesFrom(acs);
    const me = await request(app).get('/auth/api/me').set('Cookie', session).expect(200);
    expect(me.body).toMatchObject({ email: 'jane.doe@example.com', account: 'acme' });
    // The host's own routes do not receive the kit's cookies (path /auth).
    const setCookie = ([] as string[]).concat(acs.headers['set-cookie'] as string[] | string);
    expect(setCookie.find((c) => c.startsWith('sspk.sid='))).toMatch(/; Path=\/auth(;|$)/);
    expect(sp.sessionCookie).toEqual({ name: 'sspk.sid', path: '/auth' });

    // The start page shows who is signed in; signing out stays under /auth.
    const start = track(
      'start page signed in',
      await request(app).get('/auth/').set('Cookie', session).expect(200),
    );
    const csrf = /name="_csrf" value="([^"]+)"/.exec(start.text)![1]!;
    const logout = track(
      'logout',
      await request(app)
        .post('/auth/logout')
        .set('Cookie', [...session, ...cookiesFrom(start)])
        .type('form')
        .send({ _csrf: csrf }),
    );
    expect(logout.status).toBe(303);
    expect(logout.headers.location).toBe('/auth/');
    await request(app).get('/auth/api/me').set('Cookie', session).expect(401);
  });

  it('tells the host through onEvent: activation, sign-in, and a refused sign-in with its code', async () => {
    const bad = await request(app)
      .post('/auth/sso/acme/acs')
      .set('Accept', 'application/json')
      .type('form')
      .send({
        SAMLResponse: mintResponse({
          acsUrl: `${BASE}/sso/acme/acs`,
          audience: 'urn:wrong',
          issuer: TEST_TENANT_ISSUER,
        }),
      });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.status).toBeLessThan(500);
    expect(events.map((e) => e.type)).toEqual([
      'connection.activated',
      'sign-in.succeeded',
      'sign-in.failed',
    ]);
    expect(events[1]).toMatchObject({ account: 'acme', protocol: 'saml', subject: expect.any(String) });
    expect(events[2]).toMatchObject({
      account: 'acme',
      code: bad.body.error.code,
      referenceId: bad.body.error.referenceId,
    });
  });

  it('the OIDC routes are there (an account without an OIDC connection is refused with a code, not a 404)', async () => {
    const res = track(
      'oidc login',
      await request(app).get('/auth/sso/acme/oidc/login').set('Accept', 'application/json'),
    );
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error.code).not.toBe('NOT_FOUND');
  });

  it('the start page, its assets and the brand stylesheet', async () => {
    const start = track('start page', await request(app).get('/auth/').expect(200));
    expect(start.text).toContain('<title>Acme Cloud</title>');
    expect(start.text).toContain('href="/auth/assets/style.css"');
    expect(start.text).toContain('href="/auth/assets/brand.css"');
    expect(start.text).toContain('action="/auth/login"');
    expect(start.text).toContain('href="/auth/login/password"');
    const css = await request(app).get('/auth/assets/style.css').expect(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    const brand = await request(app).get('/auth/assets/brand.css').expect(200);
    expect(brand.text).toBe('main { max-width: 50rem; }');
    const js = await request(app).get('/auth/assets/copy.js').expect(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    const next = track(
      'start form',
      await request(app).get('/auth/login').query({ account: 'acme' }).expect(200),
    );
    expect(next.text).toContain('url=/auth/sso/acme/login');
  });

  it('password sign-in and the admin page, with its stylesheet and copy script', async () => {
    await createLocalAdmin(sp.stores, { account: 'acme', email: 'root@acme.test', password: PASSWORD });
    const anonymous = track('admin signed out', await request(app).get('/auth/admin'));
    expect(anonymous.status).toBe(401);
    const form = track('password form', await request(app).get('/auth/login/password').expect(200));
    expect(form.text).toContain('action="/auth/login/password"');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
    const wrong = await request(app)
      .post('/auth/login/password')
      .set('Cookie', cookiesFrom(form))
      .set('Accept', 'application/json')
      .type('form')
      .send({ _csrf: csrf, account: 'acme', email: 'root@acme.test', password: 'not the password' });
    expect(wrong.status).toBe(401);
    expect(events.at(-1)).toMatchObject({
      type: 'sign-in.failed',
      account: 'acme',
      protocol: 'password',
      code: 'LOGIN_FAILED',
      referenceId: wrong.body.error.referenceId,
    });
    const signIn = track(
      'password sign-in',
      await request(app)
        .post('/auth/login/password')
        .set('Cookie', cookiesFrom(form))
        .type('form')
        .send({ _csrf: csrf, account: 'acme', email: 'root@acme.test', password: PASSWORD }),
    );
    expect(signIn.status, signIn.text).toBe(303);
    expect(signIn.headers.location).toBe('/auth/admin');
    // The host hears of it like of an SSO sign-in.
    expect(events.at(-1)).toMatchObject({
      type: 'sign-in.succeeded',
      account: 'acme',
      protocol: 'password',
      subject: 'root@acme.test',
      userId: expect.any(String),
      referenceId: expect.stringMatching(/^ref_/),
    });
    const cookies = [...cookiesFrom(form), ...cookiesFrom(signIn)];
    const admin = track(
      'admin page',
      await request(app).get('/auth/admin').set('Cookie', cookies).expect(200),
    );
    expect(admin.text).toContain('href="/auth/assets/style.css"');
    expect(admin.text).toContain('src="/auth/assets/copy.js"');
    expect(admin.text).toContain('action="/auth/admin/settings"');
    track(
      'admin reference',
      await request(app).get('/auth/admin/reference?ref=ref_0123456789abcdef').set('Cookie', cookies),
    );
  });

  it('setup links open the admin pages under /auth', async () => {
    const link = track(
      'setup link',
      await api('post', '/auth/api/accounts/acme/setup-links').send({}).expect(201),
    );
    expect(link.body.url).toMatch(new RegExp(`^${BASE}/setup/`));
    const open = track('open setup link', await request(app).get(new URL(link.body.url as string).pathname));
    expect(open.status).toBe(303);
    expect(open.headers.location).toBe('/auth/admin');
    await request(app).get('/auth/admin').set('Cookie', cookiesFrom(open)).expect(200);
  });

  it('error pages (the kit’s, and the host’s own errors rendered by sp.errorHandler) link under /auth', async () => {
    const kit = track(
      'kit error',
      await request(app).get('/auth/sso/nobody/login').set('Accept', 'text/html'),
    );
    expect(kit.status).toBe(404);
    expect(kit.text).toContain('href="/auth/assets/style.css"');
    const host = track('host 404', await request(app).get('/reports/7').set('Accept', 'text/html'));
    expect(host.status).toBe(404);
    expect(host.text).toContain('href="/auth/"');
  });

  it('nothing it answered links, redirects or scopes a cookie outside /auth', () => {
    expect(seen.length).toBeGreaterThan(15);
    const outside: string[] = [];
    const inside = (url: string) =>
      url.startsWith('/auth/') ||
      url === '/auth' ||
      url.startsWith(`${BASE}/`) ||
      url.startsWith('#') ||
      url.startsWith(SSO_URL);
    for (const { what, res } of seen) {
      const location = res.headers.location;
      if (location !== undefined && !inside(location)) outside.push(`${what}: Location ${location}`);
      const cookies = ([] as string[]).concat(
        (res.headers['set-cookie'] as string[] | string | undefined) ?? [],
      );
      for (const c of cookies) {
        const path = /;\s*Path=([^;]*)/i.exec(c)?.[1];
        if (path === undefined || !(path === '/auth' || path.startsWith('/auth/'))) {
          outside.push(`${what}: cookie ${c.split(';')[0]!.split('=')[0]} path ${path}`);
        }
      }
      if (/html/.test(String(res.headers['content-type']))) {
        for (const m of res.text.matchAll(/\b(?:href|action|src)="([^"]*)"|url=([^"'>\s]+)/g)) {
          const url = (m[1] ?? m[2]!).replace(/&#38;/g, '&');
          if (!inside(url) && !/^https:\/\/(?!localhost)/.test(url)) outside.push(`${what}: ${url}`);
        }
      }
    }
    expect(outside).toEqual([]);
  });
});
