// "Quote the reference to your administrator": every error page of an account's sign-in pages and
// admin pages carries a reference that an admin of that account finds (API and admin page), and only
// that account's admin. A page whose reference nobody's trail holds (no such account, rate limited)
// says that the server log has it instead of sending the user to an admin who cannot find it.
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import {
  ADMIN_TOKEN,
  adminGet,
  BASE_URL,
  cookiesFrom,
  createAccountWithIdp,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';

const PASSWORD = 'correct horse battery staple';
const REF = /ref_[0-9a-f]{16}/;

let t: TestSp;
beforeEach(async () => {
  t = await startSp({ rateLimitLoginPerMinute: 8 });
  await createAccountWithIdp(t, 'acme');
  await createLocalAdmin(t.sp.stores, { account: 'acme', email: 'root@acme.test', password: PASSWORD });
  await request(t.app)
    .post('/api/accounts')
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send({ slug: 'bare', name: 'Bare Inc' })
    .expect(201);
});
afterEach(async () => t.close());

async function adminSession(): Promise<string[]> {
  const form = await request(t.app).get('/login/password').expect(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1];
  const res = await request(t.app)
    .post('/login/password')
    .set('Cookie', cookiesFrom(form))
    .type('form')
    .send({ _csrf: csrf, account: 'acme', email: 'root@acme.test', password: PASSWORD });
  expect(res.status).toBe(303);
  return [...cookiesFrom(form), ...cookiesFrom(res)];
}

/** The reference of an HTML error page, and whether the page sends the user to their admin. */
function referenceOf(res: { status: number; text: string }): { ref: string; toAdmin: boolean } {
  expect(res.status).toBeGreaterThanOrEqual(400);
  const ref = REF.exec(res.text)?.[0];
  expect(ref, res.text).toBeDefined();
  return { ref: ref!, toAdmin: res.text.includes('Quote the reference to your administrator') };
}

describe('the reference on an error page', () => {
  it('resolves for an admin of the account, whatever page showed it', async () => {
    const admin = await adminSession();
    const pages: [string, () => Promise<{ status: number; text: string }>, string][] = [
      ['ACS failure', () => postAcs(t, 'acme', 'not a response', { html: true }), 'SAML_RESPONSE_MALFORMED'],
      [
        'confirmation with a used token',
        () =>
          request(t.app)
            .post('/sso/acme/confirm')
            .set('Origin', BASE_URL)
            .type('form')
            .send({ token: 'A'.repeat(43) }),
        'LOGIN_CONFIRMATION_INVALID',
      ],
      [
        'confirmation from another site',
        () =>
          request(t.app)
            .post('/sso/acme/confirm')
            .set('Origin', 'https://evil.example')
            .type('form')
            .send({ token: 'A'.repeat(43) }),
        'CSRF_INVALID',
      ],
      // (by acme's admin: bare's trail must not learn who they are)
      [
        'login without SSO configured',
        () => request(t.app).get('/sso/bare/login').set('Cookie', admin),
        'SSO_NOT_CONFIGURED',
      ],
      [
        'a used test sign-in link',
        () => request(t.app).get(`/sso/acme/tests/${'B'.repeat(43)}`),
        'SIGN_IN_TEST_LINK_INVALID',
      ],
      [
        'refused password sign-in',
        async () => {
          const form = await request(t.app).get('/login/password');
          return request(t.app)
            .post('/login/password')
            .set('Cookie', cookiesFrom(form))
            .type('form')
            .send({ account: 'acme', email: 'root@acme.test', password: PASSWORD }); // no CSRF token
        },
        'CSRF_INVALID',
      ],
      [
        'admin page: unknown test verdict',
        () => request(t.app).get('/admin/tests/00000000-0000-4000-8000-000000000000').set('Cookie', admin),
        'NOT_FOUND',
      ],
      [
        'admin page: a malformed reference',
        () => request(t.app).get('/admin/reference?ref=nonsense').set('Cookie', admin),
        'NOT_FOUND',
      ],
    ];
    const seen = new Set<string>();
    for (const [what, load, code] of pages) {
      const { ref, toAdmin } = referenceOf(await load());
      expect({ what, toAdmin }).toEqual({ what, toAdmin: true });
      seen.add(ref);
      const slug = what === 'login without SSO configured' ? 'bare' : 'acme';
      const event = await adminGet(t, `/api/accounts/${slug}/audit/${ref}`);
      expect({ what, code: event.body.code }).toEqual({ what, code });
      // The signed-in user is named only in their own account's trail.
      const own = what.startsWith('admin page');
      expect({ what, subject: event.body.subject, userId: Boolean(event.body.userId) }).toEqual({
        what,
        subject: own ? 'root@acme.test' : (event.body.subject ?? null),
        userId: own,
      });
      if (slug === 'bare') expect(event.body.subject).toBeNull();
      // Another account's admin does not find it.
      const other = slug === 'acme' ? 'bare' : 'acme';
      await request(t.app)
        .get(`/api/accounts/${other}/audit/${ref}`)
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .expect(404);
    }
    expect(seen.size).toBe(pages.length);
  });

  it('is found from the admin page, in the admin’s own account only', async () => {
    const failed = await postAcs(t, 'acme', responseFor(t, 'acme', { audience: 'urn:wrong' }), {
      html: true,
    });
    const { ref } = referenceOf(failed);
    const admin = await adminSession();
    const found = await request(t.app)
      .get('/admin/reference')
      .query({ ref })
      .set('Cookie', admin)
      .expect(200);
    expect(found.text).toContain('SAML_AUDIENCE_MISMATCH');
    expect(found.text).toContain('&#34;audience&#34;'); // the hint

    // An admin of another account gets "not in this account".
    await createLocalAdmin(t.sp.stores, { account: 'bare', email: 'root@bare.test', password: PASSWORD });
    const form = await request(t.app).get('/login/password');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1];
    const login = await request(t.app)
      .post('/login/password')
      .set('Cookie', cookiesFrom(form))
      .type('form')
      .send({ _csrf: csrf, account: 'bare', email: 'root@bare.test', password: PASSWORD })
      .expect(303);
    const elsewhere = await request(t.app)
      .get('/admin/reference')
      .query({ ref })
      .set('Cookie', [...cookiesFrom(form), ...cookiesFrom(login)]);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.text).not.toContain('SAML_AUDIENCE_MISMATCH');
    // Anonymous: the sign-in page, nothing else.
    expect((await request(t.app).get('/admin/reference').query({ ref })).status).toBe(401);
  });

  it('names the server log, not an administrator, when no account’s trail can hold it', async () => {
    const admin = await adminSession();
    for (const load of [
      () => request(t.app).get('/sso/nobody/login'),
      () => request(t.app).get('/no/such/page'),
      // A URL no route knows is nobody's event, signed in or not.
      () => request(t.app).get('/no/such/page').set('Cookie', admin),
      () => postAcs(t, 'nobody', 'junk', { html: true }),
    ]) {
      const res = await load();
      const { ref, toAdmin } = referenceOf(res);
      expect(toAdmin).toBe(false);
      expect(res.text).toContain('server log');
      expect(await t.sp.stores.audit.getByReference(ref)).toBeNull();
    }
    // Rate limited: never written, even for an existing account (a flood must not become writes).
    let limited: { status: number; text: string } | null = null;
    for (let i = 0; i < 12 && limited === null; i++) {
      const res = await request(t.app).get('/sso/bare/login');
      if (res.status === 429) limited = res;
    }
    expect(limited).not.toBeNull();
    const { ref, toAdmin } = referenceOf(limited!);
    expect(toAdmin).toBe(false);
    expect(await t.sp.stores.audit.getByReference(ref)).toBeNull();
  });
});
