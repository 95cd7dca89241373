// Resource exhaustion by anonymous requests: anyone can load the sign-in pages as often as they like, so
// a page view must not store anything lasting (a session row or key per visit fills the database or
// Redis: uncontrolled resource consumption, CWE-400; allocation without limits, CWE-770). The password
// form's CSRF protection is therefore stateless (a signed double-submit cookie, OWASP CSRF Prevention
// Cheat Sheet) and must still refuse tokens of other browsers and tokens minted before sign-in. Every
// route that does write (sessions, one-time values, audit rows, settings) is rate limited per client.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import {
  TEST_REDIS_URL,
  deleteKeysWithPrefix,
  keysWithPrefix,
  runName,
  suiteTitle,
  withPrefix,
} from '../contract/backends.js';
import {
  adminGet,
  BASE_URL,
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  responseFor,
  SSO_URL,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { idpKey, idpMetadataXml, TEST_TENANT_ISSUER } from '../support/idp.js';

const PASSWORD = 'correct horse battery staple';
const ADMIN = { account: 'acme', email: 'root@acme.test', password: PASSWORD } as const;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** An SP on its own SQLite file (so the test can count its rows), with account acme and a local admin. */
async function spOnFile(overrides: Parameters<typeof startSp>[0] = {}): Promise<{ t: TestSp; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sspk-anon-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'sp.db');
  const t = await startSp({ databaseUrl: `sqlite:${file}`, ...overrides });
  cleanups.push(() => t.close());
  await createAccountWithIdp(t, 'acme');
  await createLocalAdmin(t.sp.stores, ADMIN);
  return { t, file };
}

/** Rows in the SP's `sessions` table, read through a separate read-only connection. */
function sessionRows(file: string): number {
  const db = new Sqlite(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** One listening server for a flood (supertest would otherwise start one per request). */
async function listen(t: TestSp): Promise<Server> {
  const server = createServer(t.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

function setCookieNames(res: { headers: Record<string, unknown> }): string[] {
  return cookiesFrom(res).map((c) => c.slice(0, c.indexOf('=')));
}

/**
 * 500 views of the password form and 100 of each other anonymous page, some with a made-up session
 * cookie: each answers as usual and none sets a session cookie.
 */
async function flood(t: TestSp): Promise<void> {
  const server = await listen(t);
  const pages: [path: string, times: number, status: number][] = [
    ['/login/password', 500, 200],
    ['/', 100, 200],
    ['/admin', 100, 401],
    ['/login?account=acme', 100, 200],
  ];
  for (const [path, times, status] of pages) {
    for (let i = 0; i < times; i++) {
      const req = request(server).get(path);
      if (i % 10 === 0) req.set('Cookie', `sspk.sid=s%3Aforged-${i}.bad-signature`);
      const res = await req;
      expect(res.status).toBe(status);
      expect(setCookieNames(res)).not.toContain('sspk.sid');
    }
  }
}

/** GET /login/password as a browser with `cookies` (none: a fresh browser). */
async function passwordForm(t: TestSp, cookies: string[] = []): Promise<{ csrf: string; cookies: string[] }> {
  const res = await request(t.app).get('/login/password').set('Cookie', cookies).expect(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(res.text)?.[1];
  expect(csrf).toBeDefined();
  const set = cookiesFrom(res);
  return { csrf: csrf!, cookies: set.length > 0 ? set : cookies };
}

function postPassword(t: TestSp, cookies: string[], csrf: string | undefined, fields: object = ADMIN) {
  return request(t.app)
    .post('/login/password')
    .set('Cookie', cookies)
    .set('Accept', 'application/json')
    .type('form')
    .send({ ...(csrf === undefined ? {} : { _csrf: csrf }), ...fields });
}

function expectCsrfRefused(res: { status: number; body: { error?: { code?: string } } }): void {
  expect(res.status).toBe(403);
  expect(res.body.error?.code).toBe('CSRF_INVALID');
}

/** Signs the local admin in through the form; returns every cookie the browser now holds. */
async function signIn(t: TestSp): Promise<{ cookies: string[]; preLoginCsrf: string }> {
  const form = await passwordForm(t);
  const res = await postPassword(t, form.cookies, form.csrf);
  expect(res.status).toBe(303);
  const cookies = [...form.cookies, ...cookiesFrom(res)];
  await me(t, cookies).expect(200);
  return { cookies, preLoginCsrf: form.csrf };
}

describe('anonymous page views store nothing', () => {
  it('SQLite: 800 anonymous page views leave the sessions table empty; a sign-in adds one row', async () => {
    const { t, file } = await spOnFile();
    expect(sessionRows(file)).toBe(0);
    await flood(t);
    // Failed sign-ins store no session either.
    for (let i = 0; i < 3; i++) {
      const form = await passwordForm(t);
      expect((await postPassword(t, form.cookies, form.csrf, { ...ADMIN, password: 'wrong!' })).status).toBe(
        401,
      );
    }
    expect(sessionRows(file)).toBe(0);
    await signIn(t);
    expect(sessionRows(file)).toBe(1); // the count does see sessions
  }, 120_000);

  const redisEnabled = TEST_REDIS_URL !== undefined;
  describe.skipIf(!redisEnabled)(
    suiteTitle(redisEnabled, 'Redis sessions', 'TEST_REDIS_URL=redis://…'),
    () => {
      const base = TEST_REDIS_URL ?? '';
      it('800 anonymous page views write no session key; a sign-in writes one', async () => {
        const prefix = `${runName('anon')}:`;
        cleanups.push(async () => void (await deleteKeysWithPrefix(base, prefix)));
        const { t, file } = await spOnFile({ redisUrl: withPrefix(base, prefix) });
        const sessionKeys = () => keysWithPrefix(base, `${prefix}sess:`);
        await flood(t);
        expect(await sessionKeys()).toEqual([]);
        await signIn(t);
        expect(await sessionKeys()).toHaveLength(1);
        expect(sessionRows(file)).toBe(0); // sessions live in Redis, not in SQL
      }, 120_000);
    },
  );
});

describe('the stateless CSRF token of the password form', () => {
  let t: TestSp;
  beforeEach(async () => {
    ({ t } = await spOnFile());
  });

  it('signs the admin in with the form token and the cookie that came with it', async () => {
    const form = await passwordForm(t);
    expect(setCookieNames({ headers: { 'set-cookie': form.cookies } })).toEqual(['sspk_csrf']);
    const res = await postPassword(t, form.cookies, form.csrf);
    expect(res.status).toBe(303);
    expect((await me(t, [...form.cookies, ...cookiesFrom(res)]).expect(200)).body.role).toBe('admin');
  });

  it('refuses a token of another browser, a missing cookie, a missing or tampered token', async () => {
    const mine = await passwordForm(t);
    const theirs = await passwordForm(t);
    expect(theirs.cookies).not.toEqual(mine.cookies);
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const cookieValue = mine.cookies[0]!.slice('sspk_csrf='.length);
    const attempts: [string, string[], string | undefined][] = [
      ["another browser's token", mine.cookies, theirs.csrf],
      ['no cookie', [], mine.csrf],
      ['no token', mine.cookies, undefined],
      ['empty token', mine.cookies, ''],
      ['tampered token (middle)', mine.cookies, flip(mine.csrf, 20)],
      ['tampered token (first)', mine.cookies, flip(mine.csrf, 0)],
      ['token with a suffix', mine.cookies, `${mine.csrf}A`],
      ['cookie value as token', mine.cookies, cookieValue],
      ['tampered cookie', [`sspk_csrf=${flip(cookieValue, 5)}`], mine.csrf],
    ];
    for (const [what, cookies, csrf] of attempts) {
      const res = await postPassword(t, cookies, csrf);
      expect({ what, status: res.status, code: res.body.error?.code }).toEqual({
        what,
        status: 403,
        code: 'CSRF_INVALID',
      });
      expect(setCookieNames(res)).not.toContain('sspk.sid');
    }
  });

  it('refuses a token minted before sign-in once the browser is signed in', async () => {
    const { cookies, preLoginCsrf } = await signIn(t);
    // The settings form with the pre-login token: refused, nothing saved.
    const settings = await request(t.app)
      .post('/admin/settings')
      .set('Cookie', cookies)
      .type('form')
      .send({ _csrf: preLoginCsrf, idpInitiated: '', allowedEmailDomains: 'evil.example' });
    expect(settings.status).toBe(403);
    expect(settings.text).toContain('CSRF_INVALID');
    expect((await adminGet(t, '/api/accounts/acme').expect(200)).body.settings).toMatchObject({
      idpInitiated: true,
      allowedEmailDomains: [],
    });
    // Sign-out with it (and no Origin): refused, still signed in.
    const logout = await request(t.app)
      .post('/logout')
      .set('Cookie', cookies)
      .set('Accept', 'application/json')
      .type('form')
      .send({ _csrf: preLoginCsrf });
    expectCsrfRefused(logout);
    await me(t, cookies).expect(200);
    // Signing in again over the session with it: refused.
    expectCsrfRefused(await postPassword(t, cookies, preLoginCsrf));
    // The token of a page rendered in the signed-in session works.
    const page = await request(t.app).get('/admin').set('Cookie', cookies).expect(200);
    const fresh = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(preLoginCsrf);
    const ok = await request(t.app)
      .post('/admin/settings')
      .set('Cookie', cookies)
      .type('form')
      .send({ _csrf: fresh, idpInitiated: '', allowedEmailDomains: 'acme.test', loginConfirmation: '' });
    expect(ok.status).toBe(303);
    expect((await adminGet(t, '/api/accounts/acme').expect(200)).body.settings).toMatchObject({
      idpInitiated: false,
      allowedEmailDomains: ['acme.test'],
    });
  });

  it('refuses the token of another login session, even with the same CSRF cookie (bound to the session id)', async () => {
    const a = await signIn(t);
    const csrfCookie = a.cookies.filter((c) => c.startsWith('sspk_csrf='));
    expect(csrfCookie).toHaveLength(1);
    // A second sign-in with the same CSRF cookie (another tab after a cookie copy, a shared computer):
    const form = await passwordForm(t, csrfCookie);
    expect(form.cookies).toEqual(csrfCookie);
    const login = await postPassword(t, form.cookies, form.csrf);
    expect(login.status).toBe(303);
    const b = [...csrfCookie, ...cookiesFrom(login)];
    await me(t, b).expect(200);
    // A token of session A's page does not work in session B, though the cookie is the same.
    const page = await request(t.app).get('/admin').set('Cookie', a.cookies).expect(200);
    const tokenA = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
    expect(tokenA).toBeDefined();
    const res = await request(t.app)
      .post('/logout')
      .set('Cookie', b)
      .set('Accept', 'application/json')
      .type('form')
      .send({ _csrf: tokenA });
    expectCsrfRefused(res);
    await me(t, b).expect(200);
    // …while it does in session A.
    const own = await request(t.app)
      .post('/logout')
      .set('Cookie', a.cookies)
      .type('form')
      .send({ _csrf: tokenA });
    expect(own.status).toBe(303);
    await me(t, a.cookies).expect(401);
    await me(t, b).expect(200);
  });
});

describe('every route that writes is rate limited per client', () => {
  const LOGIN = 2;
  const ACS = 2;
  const ADMIN_FORMS = 3; // createAccountWithIdp spends 3 of the admin API's own budget, not of this one
  let t: TestSp;
  beforeEach(async () => {
    ({ t } = await spOnFile({
      rateLimitLoginPerMinute: LOGIN,
      rateLimitAcsPerMinute: ACS,
      rateLimitAdminPerMinute: ADMIN_FORMS,
    }));
  });

  function expectLimited(res: {
    status: number;
    body: { error?: { code?: string } };
    headers: Record<string, unknown>;
  }) {
    expect(res.status).toBe(429);
    expect(res.body.error?.code).toBe('RATE_LIMITED');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  }

  it('POST /login/password: password guessing stops, even the right password is refused over budget', async () => {
    const form = await passwordForm(t);
    for (let i = 0; i < LOGIN; i++) {
      expect(
        (await postPassword(t, form.cookies, form.csrf, { ...ADMIN, password: `guess ${i}` })).status,
      ).toBe(401);
    }
    const res = await postPassword(t, form.cookies, form.csrf);
    expectLimited(res);
    expect(setCookieNames(res)).not.toContain('sspk.sid');
  });

  it('POST /logout', async () => {
    const logout = () =>
      request(t.app).post('/logout').set('Origin', BASE_URL).set('Accept', 'application/json');
    for (let i = 0; i < LOGIN; i++) expect((await logout()).status).toBe(204);
    expectLimited(await logout());
  });

  it('GET /sso/:slug/login (each start stores a request ID)', async () => {
    const start = () => request(t.app).get('/sso/acme/login').set('Accept', 'application/json');
    for (let i = 0; i < LOGIN; i++) expect((await start()).status).toBe(302);
    expectLimited(await start());
  });

  it('POST /sso/:slug/acs: a valid response over budget signs nobody in', async () => {
    for (let i = 0; i < ACS; i++) expect((await postAcs(t, 'acme', responseFor(t, 'acme'))).status).toBe(303);
    const res = await postAcs(t, 'acme', responseFor(t, 'acme'));
    expectLimited(res);
    expect(setCookieNames(res)).not.toContain('sspk.sid');
  });

  it('POST /sso/:slug/confirm', async () => {
    const confirm = () =>
      request(t.app)
        .post('/sso/acme/confirm')
        .set('Origin', BASE_URL)
        .set('Accept', 'application/json')
        .type('form')
        .send({ token: 'a'.repeat(43) });
    for (let i = 0; i < ACS; i++) expect((await confirm()).status).toBe(400);
    expectLimited(await confirm());
  });

  describe('the admin form posts, for a signed-in admin with valid tokens', () => {
    let cookies: string[];
    let csrf: string;
    beforeEach(async () => {
      ({ cookies } = await signIn(t));
      const page = await request(t.app).get('/admin').set('Cookie', cookies).expect(200);
      csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    });

    it('POST /admin/settings: the write over budget is not made', async () => {
      const save = (domain: string) =>
        request(t.app)
          .post('/admin/settings')
          .set('Cookie', cookies)
          .set('Accept', 'application/json')
          .type('form')
          .send({ _csrf: csrf, idpInitiated: 'on', allowedEmailDomains: domain });
      for (let i = 1; i <= ADMIN_FORMS; i++) expect((await save(`d${i}.example`)).status).toBe(303);
      expectLimited(await save('over.example'));
      // Read from the store: the admin API's own budget went on creating the account.
      const account = await t.sp.stores.accounts.getBySlug('acme');
      expect(account!.settings.allowedEmailDomains).toEqual([`d${ADMIN_FORMS}.example`]);
    });

    it('POST /admin/idp', async () => {
      const importIdp = () =>
        request(t.app)
          .post('/admin/idp')
          .set('Cookie', cookies)
          .set('Accept', 'application/json')
          .field('_csrf', csrf)
          .field('certificatePem', idpKey.cert)
          .field('ssoUrl', SSO_URL);
      for (let i = 0; i < ADMIN_FORMS; i++) expect((await importIdp()).status).toBe(303);
      expectLimited(await importIdp());
    });

    it('POST /admin/idp/metadata', async () => {
      const xml = idpMetadataXml({ entityId: TEST_TENANT_ISSUER, ssoUrl: SSO_URL, certs: [idpKey.cert] });
      const importMetadata = () =>
        request(t.app)
          .post('/admin/idp/metadata')
          .set('Cookie', cookies)
          .set('Accept', 'application/json')
          .field('_csrf', csrf)
          .attach('metadata', Buffer.from(xml), { filename: 'idp.xml', contentType: 'text/xml' });
      for (let i = 0; i < ADMIN_FORMS; i++) expect((await importMetadata()).status).toBe(303);
      expectLimited(await importMetadata());
    });

    it('POST /admin/users/:userId: the change over budget is not made', async () => {
      const account = await t.sp.stores.accounts.getBySlug('acme');
      const [root] = await t.sp.stores.users.listByAccount(account!.id);
      const setRole = (role: string) =>
        request(t.app)
          .post(`/admin/users/${root!.id}`)
          .set('Cookie', cookies)
          .set('Accept', 'application/json')
          .type('form')
          .send({ _csrf: csrf, role });
      for (let i = 0; i < ADMIN_FORMS; i++)
        expect((await setRole(i % 2 ? 'auto' : 'admin')).status).toBe(303);
      const before = (await t.sp.stores.users.getById(root!.id))!.roleOverride;
      expectLimited(await setRole(before === null ? 'admin' : 'auto'));
      expect((await t.sp.stores.users.getById(root!.id))!.roleOverride).toBe(before);
    });

    it('anonymous posts count too (the limit comes before the sign-in check)', async () => {
      for (let i = 0; i < ADMIN_FORMS; i++) {
        expect(
          (await request(t.app).post('/admin/settings').type('form').send({ ssoOnly: 'on' })).status,
        ).toBe(401);
      }
      expectLimited(
        await request(t.app)
          .post('/admin/settings')
          .set('Cookie', cookies)
          .set('Accept', 'application/json')
          .type('form')
          .send({ _csrf: csrf, idpInitiated: 'on' }),
      );
    });
  });
});
