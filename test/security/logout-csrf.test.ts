// Logout CSRF: another site signs the victim out with a cross-site form post (or an image) — harmless
// alone, but the first step of session-swapping and login-CSRF attacks, where the victim is then signed
// in as the attacker (OWASP Cross-Site Request Forgery Prevention Cheat Sheet: "logout" is a
// state-changing request; CWE-352). POST /logout takes our forms' CSRF token, or a request the browser
// marks as same-origin (Fetch Metadata, then Origin); anything else is 403 CSRF_INVALID and the session
// lives on.
import request from 'supertest';
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import {
  BASE_URL,
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';

describe('POST /logout is CSRF-protected', () => {
  let t: TestSp;
  let cookies: string[];
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    const res = await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303);
    cookies = cookiesFrom(res);
    await me(t, cookies).expect(200);
  });
  afterEach(async () => t.close());

  function logout(headers: Record<string, string>, form?: Record<string, string>, jar: string[] = cookies) {
    const req = request(t.app)
      .post('/logout')
      .set('Cookie', jar)
      .set('Accept', 'application/json')
      .set(headers);
    return form === undefined ? req : req.type('form').send(form);
  }

  it('refuses a cross-site post and keeps the session', async () => {
    const attempts: [string, Record<string, string>, Record<string, string> | undefined][] = [
      ['form from another origin', { Origin: 'https://evil.example' }, {}],
      ['look-alike origin', { Origin: 'http://localhost:3000.evil.example' }, {}],
      ['opaque origin (sandboxed frame)', { Origin: 'null' }, {}],
      ['Fetch Metadata cross-site', { 'Sec-Fetch-Site': 'cross-site' }, {}],
      ['Fetch Metadata same-site (sibling subdomain)', { 'Sec-Fetch-Site': 'same-site' }, {}],
      ['cross-site though Origin claims ours', { 'Sec-Fetch-Site': 'cross-site', Origin: BASE_URL }, {}],
      ['no Origin, no token', {}, undefined],
      ['no Origin, empty token', {}, { _csrf: '' }],
      ['no Origin, made-up token', {}, { _csrf: 'A'.repeat(43) }],
      ['other origin, made-up token', { Origin: 'https://evil.example' }, { _csrf: 'A'.repeat(43) }],
    ];
    for (const [what, headers, form] of attempts) {
      const res = await logout(headers, form);
      expect({ what, status: res.status, code: res.body.error?.code }).toEqual({
        what,
        status: 403,
        code: 'CSRF_INVALID',
      });
      expect(res.headers['set-cookie']?.toString() ?? '').not.toContain('sspk.sid=;');
      await me(t, cookies).expect(200);
    }
  });

  it("refuses the attacker's own valid token (from the attacker's browser) on the victim's session", async () => {
    // The attacker loads our start page in their own browser, signed in as themselves, and copies its token.
    const own = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|mallory' })).expect(303);
    const page = await request(t.app).get('/').set('Cookie', cookiesFrom(own)).expect(200);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
    expect(token).toBeDefined();
    // The victim's browser has a CSRF cookie of its own (it has seen our start page).
    const victimPage = await request(t.app).get('/').set('Cookie', cookies).expect(200);
    const jar = [...cookies, ...cookiesFrom(victimPage)];
    expect(jar.some((c) => c.startsWith('sspk_csrf='))).toBe(true);
    const res = await logout({ Origin: 'https://evil.example' }, { _csrf: token! }, jar);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('CSRF_INVALID');
    await me(t, cookies).expect(200);
  });

  it('a cross-site GET (link, image) does not sign out either', async () => {
    const res = await request(t.app)
      .get('/logout')
      .set('Cookie', cookies)
      .set('Sec-Fetch-Site', 'cross-site');
    expect(res.status).toBe(404);
    await me(t, cookies).expect(200);
  });

  it("the start page's sign-out form works (its _csrf field and cookie), and the session is gone", async () => {
    const page = await request(t.app).get('/').set('Cookie', cookies).expect(200);
    const token =
      /<form method="post" action="\/logout">\s*<input type="hidden" name="_csrf" value="([^"]+)"/.exec(
        page.text,
      )?.[1];
    expect(token).toBeDefined();
    const jar = [...cookies, ...cookiesFrom(page)]; // the sspk_csrf cookie the page set
    // A browser's own form post: no Origin header needed (older browsers omit it).
    const res = await request(t.app).post('/logout').set('Cookie', jar).type('form').send({ _csrf: token });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    await me(t, cookies).expect(401);
    // The old cookie does not come back to life.
    await me(t, jar).expect(401);
  });

  it('a script of this origin signs out (Origin or Fetch Metadata same-origin)', async () => {
    const byOrigin = await logout({ Origin: BASE_URL });
    expect(byOrigin.status).toBe(204);
    await me(t, cookies).expect(401);

    const again = await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303);
    const second = cookiesFrom(again);
    await me(t, second).expect(200);
    const byFetchMetadata = await logout({ 'Sec-Fetch-Site': 'same-origin' }, undefined, second);
    expect(byFetchMetadata.status).toBe(204);
    await me(t, second).expect(401);
  });

  it('a failing sign-in the browser is sent to (OIDC callback, ACS) does not end the session it already had', async () => {
    // Another site navigates the victim to our OIDC callback (a GET: the Lax session cookie goes along)
    // or posts junk to the ACS from a sibling subdomain: each is refused, and the session lives on.
    for (const path of [
      '/sso/acme/oidc/callback?state=x&code=y',
      '/sso/nobody/oidc/callback?state=x&code=y',
    ]) {
      const res = await request(t.app)
        .get(path)
        .set('Cookie', cookies)
        .set('Sec-Fetch-Site', 'cross-site')
        .set('Accept', 'application/json');
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      await me(t, cookies).expect(200);
    }
    const junk = await postAcs(t, 'acme', 'bm90IFNBTUw=', { cookie: cookies });
    expect(junk.status).toBe(400);
    await me(t, cookies).expect(200);
  });
});
