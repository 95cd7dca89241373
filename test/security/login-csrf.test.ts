/**
 * Login CSRF (Barth, Jackson & Mitchell, "Robust Defenses for Cross-Site Request Forgery", CCS 2008;
 * CWE-352). Anyone holding a valid unused assertion for an account — any user of its IdP, or the admin of
 * another account with their own IdP — can auto-post it from their own site: without a defence the
 * victim's browser is silently signed in as the attacker (and their later actions land in the
 * attacker's account). The kit answers a sign-in that did not start on this site with a confirmation
 * page of its own origin; only a same-origin POST of its one-time token, from the browser that got the
 * page, signs in. A response that would replace another user's session asks first in every mode.
 */
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ADMIN_TOKEN,
  adminGet,
  cookiesFrom,
  createAccountWithIdp,
  me,
  patchSettings,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { decodeRedirect } from '../support/idp.js';

const ORIGIN = 'http://localhost:3000';

interface Confirmation {
  url: string;
  token: string;
  expiresAt: string;
  reason: string;
  account: { slug: string; name: string };
  identity: string;
}

/** Posts the confirmation like our own page's form would (same origin, the browser's cookies). */
function confirm(
  t: TestSp,
  slug: string,
  token: string,
  cookies: string[],
  headers: Record<string, string> = { Origin: ORIGIN },
) {
  const req = request(t.app).post(`/sso/${slug}/confirm`).type('form').set('Accept', 'application/json');
  if (cookies.length > 0) req.set('Cookie', cookies.join('; '));
  for (const [k, v] of Object.entries(headers)) req.set(k, v);
  return req.send({ token });
}

/** An IdP-initiated post that must stop at the confirmation step. */
async function pending(
  t: TestSp,
  slug: string,
  opts: Parameters<typeof responseFor>[2] = {},
  cookies: string[] = [],
) {
  const res = await postAcs(t, slug, responseFor(t, slug, opts), { cookie: cookies, relayState: '/after' });
  expect(res.status).toBe(200);
  const confirmation = res.body.confirmation as Confirmation;
  expect(confirmation.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return { res, confirmation, cookies: [...cookies, ...cookiesFrom(res)] };
}

async function userCount(t: TestSp, slug: string): Promise<number> {
  return ((await adminGet(t, `/api/accounts/${slug}/users`)).body.users as unknown[]).length;
}

describe('login CSRF: sign-ins that did not start here wait for a confirmation', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme', { confirm: true });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await t.close();
  });

  it('is on by default for new accounts', async () => {
    const account = await adminGet(t, '/api/accounts/acme');
    expect(account.body.settings.loginConfirmation).toBe(true);
  });

  it('an auto-posted unsolicited response signs nobody in, creates no user and does not activate', async () => {
    const { res, confirmation, cookies } = await pending(t, 'acme', { email: 'mallory@example.com' });
    expect(confirmation).toMatchObject({
      url: `${ORIGIN}/sso/acme/confirm`,
      reason: 'unsolicited',
      account: { slug: 'acme', name: 'acme Inc' },
      identity: 'mallory@example.com',
    });
    expect(res.headers['cache-control']).toBe('no-store');
    await me(t, cookies).expect(401);
    expect(await userCount(t, 'acme')).toBe(0);
    expect((await adminGet(t, '/api/accounts/acme/saml')).body.status).toBe('pending');
  });

  it('a browser gets a page of this origin naming the account and the identity, with a same-origin form', async () => {
    const res = await postAcs(t, 'acme', responseFor(t, 'acme', { email: 'alice@acme.example' }), {
      html: true,
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toContain('Continue to acme Inc as alice@acme.example');
    expect(res.text).toMatch(/<form method="post" action="\/sso\/acme\/confirm">/);
    expect(res.text).toMatch(/name="token" value="[A-Za-z0-9_-]{43}"/);
    const cookie = (res.headers['set-cookie'] as unknown as string[]).find((c) =>
      c.startsWith('sspk_confirm='),
    );
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Path=\/sso\/acme\/confirm/);
    expect(cookie).toMatch(/SameSite=Lax/i);
  });

  it('one same-origin POST of the token signs in (the first login from the Auth0 tile), once', async () => {
    const { confirmation, cookies } = await pending(t, 'acme');
    const done = await confirm(t, 'acme', confirmation.token, cookies).expect(303);
    expect(done.headers.location).toBe('/after');
    const session = [...cookies, ...cookiesFrom(done)];
    expect((await me(t, session).expect(200)).body).toMatchObject({
      account: 'acme',
      email: 'jane.doe@example.com',
    });
    expect(await userCount(t, 'acme')).toBe(1);
    expect((await adminGet(t, '/api/accounts/acme/saml')).body.status).toBe('active');
    // The token is single-use.
    const again = await confirm(t, 'acme', confirmation.token, cookies);
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('LOGIN_CONFIRMATION_INVALID');
  });

  it('the response itself cannot be posted again while (or after) its confirmation waits', async () => {
    const samlResponse = responseFor(t, 'acme');
    expect((await postAcs(t, 'acme', samlResponse)).status).toBe(200);
    const replay = await postAcs(t, 'acme', samlResponse);
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('SAML_REPLAY');
  });

  for (const [what, headers] of [
    ['a cross-site Origin', { Origin: 'https://evil.example' }],
    ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site (a sibling subdomain)', { 'Sec-Fetch-Site': 'same-site' }],
    ['neither Origin nor Fetch Metadata', {}],
  ] as const) {
    it(`refuses the confirmation posted with ${what}, and the real user can still confirm`, async () => {
      const { confirmation, cookies } = await pending(t, 'acme');
      const forged = await confirm(t, 'acme', confirmation.token, cookies, headers);
      expect(forged.status).toBe(403);
      expect(forged.body.error.code).toBe('CSRF_INVALID');
      await me(t, [...cookies, ...cookiesFrom(forged)]).expect(401);
      await confirm(t, 'acme', confirmation.token, cookies).expect(303);
    });
  }

  it('refuses the token from another browser (the attacker cannot hand their page to the victim)', async () => {
    const { confirmation } = await pending(t, 'acme');
    const noCookie = await confirm(t, 'acme', confirmation.token, []);
    expect(noCookie.body.error.code).toBe('LOGIN_CONFIRMATION_INVALID');
    // A cookie of another pending sign-in does not fit this token either.
    const other = await pending(t, 'acme', { nameId: 'someone-else' });
    const { confirmation: fresh, cookies } = await pending(t, 'acme');
    const wrong = await confirm(t, 'acme', fresh.token, other.cookies);
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe('LOGIN_CONFIRMATION_INVALID');
    // Used up by the failed attempt: a token is taken once, whatever the outcome.
    expect((await confirm(t, 'acme', fresh.token, cookies)).body.error.code).toBe(
      'LOGIN_CONFIRMATION_INVALID',
    );
  });

  it('refuses a made-up, malformed or other-account token', async () => {
    await createAccountWithIdp(t, 'other', { confirm: true });
    const { confirmation, cookies } = await pending(t, 'acme');
    for (const token of ['', 'x'.repeat(43), 'not a token', confirmation.token.slice(1)]) {
      const res = await confirm(t, 'acme', token, cookies);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('LOGIN_CONFIRMATION_INVALID');
    }
    // acme's token at other's confirmation URL
    const cross = await confirm(t, 'other', confirmation.token, cookies);
    expect(cross.body.error.code).toBe('LOGIN_CONFIRMATION_INVALID');
    await me(t, cookies).expect(401);
  });

  it('expires after five minutes', async () => {
    const { confirmation, cookies } = await pending(t, 'acme');
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 5 * 60_000 + 1000);
    const late = await confirm(t, 'acme', confirmation.token, cookies);
    expect(late.status).toBe(400);
    expect(late.body.error.code).toBe('LOGIN_CONFIRMATION_INVALID');
  });

  it('is refused when the IdP connection was removed in the meantime (incident response)', async () => {
    const { confirmation, cookies } = await pending(t, 'acme');
    await request(t.app)
      .delete('/api/accounts/acme/saml')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(204);
    const res = await confirm(t, 'acme', confirmation.token, cookies);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('LOGIN_CONFIRMATION_INVALID');
    expect(await userCount(t, 'acme')).toBe(0);
  });

  it('applies the account policy before asking (no confirmation page for a refused user)', async () => {
    await patchSettings(t, 'acme', { allowedEmailDomains: ['acme.example'] });
    const res = await postAcs(t, 'acme', responseFor(t, 'acme', { email: 'mallory@evil.example' }));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('USER_EMAIL_DOMAIN_NOT_ALLOWED');
  });

  it('SP-initiated from this site signs in directly; started by another site, it asks', async () => {
    const start = async (headers: Record<string, string>) => {
      const req = request(t.app).get('/sso/acme/login').query({ returnTo: '/r' });
      for (const [k, v] of Object.entries(headers)) req.set(k, v);
      const res = await req.expect(302);
      return { id: decodeRedirect(res.headers.location as string).id, cookies: cookiesFrom(res) };
    };
    const direct = await start({ 'Sec-Fetch-Site': 'same-origin' });
    const ok = await postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: direct.id }), {
      cookie: direct.cookies,
      relayState: '/r',
    });
    expect(ok.status).toBe(303);
    await me(t, [...direct.cookies, ...cookiesFrom(ok)]).expect(200);

    // An attacker's page navigates the victim to /sso/acme/login, then posts the attacker's answer.
    const forced = await start({ 'Sec-Fetch-Site': 'cross-site' });
    const asked = await postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: forced.id }), {
      cookie: forced.cookies,
    });
    expect(asked.status).toBe(200);
    expect(asked.body.confirmation.reason).toBe('cross-site-start');
    await me(t, [...forced.cookies, ...cookiesFrom(asked)]).expect(401);
  });

  it('another site sending the browser through the start page (/login?account=) gets the confirmation too', async () => {
    // /login forwards with a page of ours (a meta refresh): that second navigation is same-origin.
    const forward = async (site: string) => {
      const res = await request(t.app).get('/login').query({ account: 'acme' }).set('Sec-Fetch-Site', site);
      expect(res.status).toBe(200);
      const target = /http-equiv="refresh" content="0;url=([^"]+)"/
        .exec(res.text)?.[1]
        ?.replace(/&amp;/g, '&');
      expect(target).toBeDefined();
      return target!;
    };
    const signIn = async (target: string) => {
      const started = await request(t.app).get(target).set('Sec-Fetch-Site', 'same-origin').expect(302);
      const cookies = cookiesFrom(started);
      const id = decodeRedirect(started.headers.location as string).id;
      return postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: id }), { cookie: cookies });
    };

    const fromElsewhere = await forward('cross-site');
    expect(fromElsewhere).toBe('/sso/acme/login?started=elsewhere');
    const asked = await signIn(fromElsewhere);
    expect(asked.status).toBe(200);
    expect(asked.body.confirmation.reason).toBe('cross-site-start');

    // The user typing the account into our own start form: straight in.
    const fromHere = await forward('same-origin');
    expect(fromHere).toBe('/sso/acme/login');
    expect((await signIn(fromHere)).status).toBe(303);
  });

  it('with loginConfirmation: false an unsolicited response signs in directly (documented opt-out)', async () => {
    await patchSettings(t, 'acme', { loginConfirmation: false });
    const res = await postAcs(t, 'acme', responseFor(t, 'acme'));
    expect(res.status).toBe(303);
    await me(t, cookiesFrom(res)).expect(200);
  });
});

describe('login CSRF: a response never silently replaces the session of someone else', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    // Direct sign-in mode: the replacement rule holds in every mode.
    await createAccountWithIdp(t, 'acme');
    await createAccountWithIdp(t, 'evil');
  });
  afterEach(async () => t.close());

  async function signedInVictim(): Promise<string[]> {
    const res = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { nameId: 'victim', email: 'victim@acme.example' }),
    );
    expect(res.status).toBe(303);
    return cookiesFrom(res);
  }

  it('another user of the same account asks first; the victim stays signed in as themselves', async () => {
    const victim = await signedInVictim();
    const res = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { nameId: 'attacker', email: 'attacker@acme.example' }),
      {
        cookie: victim,
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.confirmation).toMatchObject({
      reason: 'replaces-session',
      identity: 'attacker@acme.example',
    });
    expect((await me(t, victim).expect(200)).body.nameId).toBe('victim');
  });

  it('the admin of another account (their own IdP) asks first too', async () => {
    const victim = await signedInVictim();
    const res = await postAcs(
      t,
      'evil',
      responseFor(t, 'evil', { nameId: 'victim', email: 'victim@acme.example' }),
      {
        cookie: victim,
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.confirmation).toMatchObject({ reason: 'replaces-session', account: { slug: 'evil' } });
    expect((await me(t, victim).expect(200)).body.account).toBe('acme');
  });

  it('the page says who is signed in now, and confirming switches the session', async () => {
    const victim = await signedInVictim();
    const page = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { nameId: 'colleague', email: 'colleague@acme.example' }),
      {
        cookie: victim,
        html: true,
      },
    );
    expect(page.status).toBe(200);
    expect(page.text).toContain('You are signed in as <strong>victim@acme.example</strong>');
    const token = /name="token" value="([^"]+)"/.exec(page.text)![1]!;
    const cookies = [...victim, ...cookiesFrom(page)];
    const done = await confirm(t, 'acme', token, cookies).expect(303);
    const session = [...cookies.filter((c) => !c.startsWith('sspk.sid=')), ...cookiesFrom(done)];
    expect((await me(t, session).expect(200)).body.nameId).toBe('colleague');
    // The old session id is gone (regenerated at sign-in: no fixation).
    await me(t, victim).expect(401);
  });

  it('the same user signing in again is not asked', async () => {
    const victim = await signedInVictim();
    const res = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { nameId: 'victim', email: 'victim@acme.example' }),
      {
        cookie: victim,
      },
    );
    expect(res.status).toBe(303);
  });
});
