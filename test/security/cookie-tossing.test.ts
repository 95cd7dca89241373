/**
 * Cookie tossing (Bortz, Barth & Czeskis, "Origin Cookies", W2SP 2011; CWE-784): a page on a sibling
 * subdomain (or any http page on the same host) can set a cookie with `Domain=example.com` that the
 * browser then sends to sp.example.com beside, or instead of, the kit's own. A planted session, SAML
 * sign-in binding, OIDC transaction or CSRF secret of the attacker's would sign the victim's browser in
 * as the attacker (login CSRF). On an https site every cookie of the kit is `__Host-` prefixed: browsers
 * accept such a cookie only Secure, Path=/ and without Domain, so no other host can set one, and the kit
 * reads no other name. Each attack below carries the attacker's genuine value under the only name a
 * sibling could set; the same value under the `__Host-` name shows the value itself would have worked.
 */
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeRedirect } from '../support/idp.js';
import {
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { callback, startOidcLogin } from '../support/oidc.js';
import { spWithProvider } from './oidc-rig-support.js';

const HTTPS = { baseUrl: 'https://sp.example.com', trustProxy: '1' } as const;
/** TLS ends at a proxy that says so: express-session sets a Secure cookie only on such a request. */
const TLS = { 'X-Forwarded-Proto': 'https' };

function setCookieHeaders(res: { headers: Record<string, unknown> }): string[] {
  const set = res.headers['set-cookie'];
  return Array.isArray(set) ? (set as string[]) : typeof set === 'string' ? [set] : [];
}

/** The value of cookie `name` in a response's Set-Cookie headers. */
function valueOf(res: { headers: Record<string, unknown> }, name: string): string {
  const pair = cookiesFrom(res).find((c) => c.startsWith(`${name}=`));
  expect(pair, `Set-Cookie ${name}`).toBeDefined();
  return pair!.slice(name.length + 1);
}

/** What a browser requires of a `__Host-` cookie, checked on the raw Set-Cookie header. */
function expectHostCookie(header: string): void {
  expect(header).toMatch(/^__Host-sspk[._a-z-]*=/);
  expect(header).toMatch(/; Secure(;|$)/i);
  expect(header).toMatch(/; Path=\/(;|$)/);
  expect(header).not.toMatch(/; Domain=/i);
}

describe('cookie tossing: on an https site every cookie is __Host- and planted plain names are ignored', () => {
  let t: TestSp;
  afterEach(async () => {
    await t?.close();
  });

  it('sets every SAML, session and CSRF cookie as __Host- (Secure, Path=/, no Domain)', async () => {
    t = await startSp(HTTPS);
    await createAccountWithIdp(t, 'acme', { confirm: true });
    const seen: string[] = [];
    const login = await request(t.app).get('/sso/acme/login').set(TLS).expect(302);
    seen.push(...setCookieHeaders(login));
    // An unsolicited response waits for the confirmation: the confirmation cookie, then the session.
    const pending = await request(t.app)
      .post('/sso/acme/acs')
      .set(TLS)
      .set('Accept', 'application/json')
      .type('form')
      .send({ SAMLResponse: responseFor(t, 'acme') })
      .expect(200);
    seen.push(...setCookieHeaders(pending));
    const confirmed = await request(t.app)
      .post('/sso/acme/confirm')
      .set(TLS)
      .set('Origin', 'https://sp.example.com')
      .set('Cookie', cookiesFrom(pending))
      .type('form')
      .send({ token: (pending.body as { confirmation: { token: string } }).confirmation.token })
      .expect(303);
    seen.push(...setCookieHeaders(confirmed));
    await me(t, cookiesFrom(confirmed)).expect(200);
    const form = await request(t.app).get('/login/password').set(TLS).expect(200);
    seen.push(...setCookieHeaders(form));
    const logout = await request(t.app)
      .post('/logout')
      .set(TLS)
      .set('Origin', 'https://sp.example.com')
      .set('Accept', 'application/json')
      .set('Cookie', cookiesFrom(confirmed))
      .expect(204);
    seen.push(...setCookieHeaders(logout));

    const names = seen.map((h) => h.split('=')[0]);
    expect(names).toEqual(
      expect.arrayContaining([
        '__Host-sspk_login',
        '__Host-sspk_confirm.acme',
        '__Host-sspk.sid',
        '__Host-sspk_csrf',
      ]),
    );
    // The confirmation and the logout clear their cookies: those headers obey the prefix too, or a
    // browser would ignore them and keep the cookie.
    expect(seen.filter((h) => /Expires=Thu, 01 Jan 1970/.test(h)).length).toBeGreaterThanOrEqual(2);
    for (const header of seen) expectHostCookie(header);
  });

  it("ignores a planted session cookie: the attacker's own valid session, as sspk.sid", async () => {
    t = await startSp(HTTPS);
    await createAccountWithIdp(t, 'acme');
    const attacker = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|attacker' }), {}).set(
      TLS,
    );
    expect(attacker.status).toBe(303);
    const sid = valueOf(attacker, '__Host-sspk.sid');
    const genuine = await me(t, [`__Host-sspk.sid=${sid}`]).expect(200);
    expect(genuine.body.nameId).toBe('auth0|attacker');
    await me(t, [`sspk.sid=${sid}`]).expect(401);
  });

  it("ignores a planted SAML sign-in binding: the attacker's answer to their own login is refused", async () => {
    t = await startSp(HTTPS);
    await createAccountWithIdp(t, 'acme', { confirm: true });
    const start = async () => {
      const res = await request(t.app)
        .get('/sso/acme/login')
        .set(TLS)
        .set('Sec-Fetch-Site', 'same-origin')
        .expect(302);
      return {
        id: decodeRedirect(res.headers.location as string).id,
        nonce: valueOf(res, '__Host-sspk_login'),
      };
    };
    // The binding works in the browser that holds it under the kit's own name…
    const own = await start();
    const ok = await postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: own.id }), {
      cookie: `__Host-sspk_login=${own.nonce}`,
    }).set(TLS);
    expect(ok.status).toBe(303);
    // …and a sibling subdomain can only plant it as sspk_login: the answer is not this browser's.
    const attacker = await start();
    const forced = await postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: attacker.id }), {
      cookie: `sspk_login=${attacker.nonce}`,
    }).set(TLS);
    expect(forced.status).toBe(401);
    expect(forced.body.error.code).toBe('SAML_BROWSER_MISMATCH');
    await me(t, cookiesFrom(forced)).expect(401);
  });

  it('does not adopt a planted SAML login nonce at the login route (it would bind the sign-in to it)', async () => {
    t = await startSp(HTTPS);
    await createAccountWithIdp(t, 'acme', { confirm: true });
    const login = (cookie: string) =>
      request(t.app).get('/sso/acme/login').set(TLS).set('Cookie', cookie).expect(302);
    // A genuine login cookie (the attacker's own browser's)…
    const genuine = valueOf(await login(''), '__Host-sspk_login');
    expect(genuine).toMatch(/^[a-f0-9]{64}\.[0-9a-z]+$/);
    // …is kept from one login to the next by the browser that holds it under the kit's name…
    expect(valueOf(await login(`__Host-sspk_login=${genuine}`), '__Host-sspk_login')).toBe(genuine);
    // …but planted by a sibling, under the plain name, it is not: the browser gets a fresh one.
    const fresh = valueOf(await login(`sspk_login=${genuine}`), '__Host-sspk_login');
    expect(fresh.slice(0, 64)).not.toBe(genuine.slice(0, 64));
  });

  it('shares the login nonce between tabs for the request lifetime, then replaces it (bounded life)', async () => {
    t = await startSp(HTTPS);
    await createAccountWithIdp(t, 'acme', { confirm: true });
    const ttl = t.sp.config.requestTtlSeconds * 1000;
    const login = (cookie: string) =>
      request(t.app)
        .get('/sso/acme/login')
        .set(TLS)
        .set('Sec-Fetch-Site', 'same-origin')
        .set('Cookie', cookie)
        .expect(302);
    const nonceOf = (res: Awaited<ReturnType<typeof login>>) => valueOf(res, '__Host-sspk_login');
    // Two tabs: the second login keeps the first's nonce, so both answers find it.
    const first = await login('');
    const second = await login(`__Host-sspk_login=${nonceOf(first)}`);
    expect(nonceOf(second)).toBe(nonceOf(first));
    const cookie = `__Host-sspk_login=${nonceOf(second)}`;
    for (const res of [first, second]) {
      const id = decodeRedirect(res.headers.location as string).id;
      const ok = await postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: id }), { cookie }).set(TLS);
      expect(ok.status).toBe(303);
    }
    // The cookie lives until the last login it may bind has had its TTL: twice the TTL at most.
    const maxAge = Number(/Max-Age=(\d+)/.exec(setCookieHeaders(second).join(';'))![1]);
    expect(maxAge).toBeGreaterThan(ttl / 1000);
    expect(maxAge).toBeLessThanOrEqual((2 * ttl) / 1000);
    // A nonce made more than one TTL ago is not reused: the browser gets a new one.
    const nonce = 'b'.repeat(64);
    const young = `${nonce}.${(Date.now() - 1000).toString(36)}`;
    const old = `${nonce}.${(Date.now() - ttl - 1000).toString(36)}`;
    const future = `${nonce}.${(Date.now() + 60_000).toString(36)}`;
    expect(nonceOf(await login(`__Host-sspk_login=${young}`))).toBe(young);
    expect(nonceOf(await login(`__Host-sspk_login=${old}`)).slice(0, 64)).not.toBe(nonce);
    expect(nonceOf(await login(`__Host-sspk_login=${future}`)).slice(0, 64)).not.toBe(nonce);
  });

  it("ignores a planted confirmation cookie: the attacker's pending sign-in is not confirmed with it", async () => {
    t = await startSp(HTTPS);
    await createAccountWithIdp(t, 'acme', { confirm: true });
    const pendingFor = async () => {
      const res = await request(t.app)
        .post('/sso/acme/acs')
        .set(TLS)
        .set('Accept', 'application/json')
        .type('form')
        .send({ SAMLResponse: responseFor(t, 'acme', { nameId: 'auth0|attacker' }) })
        .expect(200);
      const { token } = (res.body as { confirmation: { token: string } }).confirmation;
      return { token, nonce: valueOf(res, '__Host-sspk_confirm.acme') };
    };
    const confirm = (cookie: string, token: string) =>
      request(t.app)
        .post('/sso/acme/confirm')
        .set(TLS)
        .set('Origin', 'https://sp.example.com')
        .set('Accept', 'application/json')
        .set('Cookie', cookie)
        .type('form')
        .send({ token });
    const own = await pendingFor();
    expect((await confirm(`__Host-sspk_confirm.acme=${own.nonce}`, own.token)).status).toBe(303);
    const attacker = await pendingFor();
    const planted = await confirm(`sspk_confirm=${attacker.nonce}`, attacker.token);
    expect(planted.status).toBe(400);
    expect(planted.body.error.code).toBe('LOGIN_CONFIRMATION_INVALID');
    await me(t, cookiesFrom(planted)).expect(401);
  });

  it('treats BASE_URL HTTPS:// (upper case) as https: __Host- cookies and HSTS', async () => {
    t = await startSp({ ...HTTPS, baseUrl: 'HTTPS://sp.example.com' });
    await createAccountWithIdp(t, 'acme');
    const res = await postAcs(t, 'acme', responseFor(t, 'acme')).set(TLS);
    expect(res.status).toBe(303);
    const session = setCookieHeaders(res).find((h) => h.startsWith('__Host-sspk.sid='));
    expect(session).toBeDefined();
    expectHostCookie(session!);
    expect(res.headers['strict-transport-security']).toBeDefined();
  });

  it("ignores a planted CSRF secret: the attacker's token does not pass with sspk_csrf", async () => {
    t = await startSp(HTTPS);
    const form = await request(t.app).get('/login/password').set(TLS).expect(200);
    const token = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
    const secret = valueOf(form, '__Host-sspk_csrf');
    const post = (cookie: string) =>
      request(t.app)
        .post('/login/password')
        .set(TLS)
        .set('Cookie', cookie)
        .set('Accept', 'application/json')
        .type('form')
        .send({ _csrf: token, account: 'acme', email: 'admin@example.com', password: 'not-the-password' });
    // The secret under the kit's name passes the CSRF check (the credentials are what fail)…
    const genuine = await post(`__Host-sspk_csrf=${secret}`);
    expect(genuine.status).toBe(401);
    expect(genuine.body.error.code).toBe('LOGIN_FAILED');
    // …planted by a sibling, it is not the kit's cookie at all.
    const planted = await post(`sspk_csrf=${secret}`);
    expect(planted.status).toBe(403);
    expect(planted.body.error.code).toBe('CSRF_INVALID');
  });
});

describe('cookie tossing: OIDC', () => {
  const SLUG = 'tossing';
  let env: Awaited<ReturnType<typeof spWithProvider>>;
  beforeAll(async () => {
    env = await spWithProvider(SLUG, HTTPS);
  });
  afterAll(() => env?.close());

  it('binds the transaction with __Host-sspk_oidc.<account> (Secure, Path=/, no Domain)', async () => {
    const res = await request(env.t.app).get(`/sso/${SLUG}/oidc/login`).set(TLS).expect(302);
    const headers = setCookieHeaders(res);
    expect(headers).toHaveLength(1);
    expect(headers[0]).toMatch(new RegExp(`^__Host-sspk_oidc\\.${SLUG}=`));
    expectHostCookie(headers[0]!);
  });

  it('clears the transaction cookie at the callback with a header browsers accept for __Host-', async () => {
    const start = await startOidcLogin(env.t, SLUG, undefined, TLS);
    const back = await env.rig.signIn(start.location, 'auth0|someone');
    const res = await callback(env.t, back, start.cookies).set(TLS);
    expect(res.status).toBe(303);
    const cleared = setCookieHeaders(res).find((h) => h.startsWith(`__Host-sspk_oidc.${SLUG}=;`));
    expect(cleared).toBeDefined();
    expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970/);
    expectHostCookie(cleared!);
  });

  it('answers a slug that cannot be an account 404 ACCOUNT_NOT_FOUND (never a 500 from a cookie name)', async () => {
    for (const slug of ['a%20b', 'a%3Bb', 'a%2Cb', 'a%3Db', '%C3%A9t%C3%A9', 'ACME', 'x'.repeat(300)]) {
      for (const path of ['oidc/callback?code=x&state=y', 'oidc/login', 'login', 'metadata']) {
        const res = await request(env.t.app)
          .get(`/sso/${slug}/${path}`)
          .set(TLS)
          .set('Accept', 'application/json');
        expect(res.status, `${slug}/${path}`).toBe(404);
        expect(res.body.error.code).toBe('ACCOUNT_NOT_FOUND');
        expect(res.headers['set-cookie']).toBeUndefined();
      }
    }
  });

  it("ignores a planted transaction: the attacker's callback with sspk_oidc is refused", async () => {
    const name = `__Host-sspk_oidc.${SLUG}`;
    // The attacker's own transaction completes where it is held under the kit's name…
    const own = await startOidcLogin(env.t, SLUG, undefined, TLS);
    const ownBack = await env.rig.signIn(own.location, 'auth0|attacker');
    const ok = await callback(env.t, ownBack, own.cookies).set(TLS);
    expect(ok.status).toBe(303);
    expect(own.cookies[0]).toMatch(new RegExp(`^${name.replace('.', '\\.')}=`));
    // …but the same kind of value planted by a sibling subdomain is not read.
    const attacker = await startOidcLogin(env.t, SLUG, undefined, TLS);
    const back = await env.rig.signIn(attacker.location, 'auth0|attacker');
    const planted = attacker.cookies.map((c) => c.replace(`${name}=`, 'sspk_oidc='));
    const res = await callback(env.t, back, planted).set(TLS).expect(401);
    expect(res.body.error.code).toBe('OIDC_TRANSACTION_INVALID');
    await me(env.t, cookiesFrom(res)).expect(401);
  });
});
