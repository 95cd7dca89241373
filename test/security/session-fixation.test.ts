// Session fixation (OWASP Session Management Cheat Sheet, "Renew the Session ID After Any Privilege
// Level Change"; CWE-384): the attacker plants a session id in the victim's browser — their own,
// signed-in one, or a made-up one — and waits for the victim to sign in with it. A sign-in must always
// end with a session id the attacker does not know: a session loaded from the store is regenerated, and
// a made-up id is never adopted (the session made in the request gets a fresh id).
import { createHmac } from 'node:crypto';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

const SECRET = 'test-session-secret-0123456789abcdef0123';
/** A session cookie as express-session signs it (`s:` + id + `.` + HMAC). */
const signedCookie = (id: string) =>
  `sspk.sid=${encodeURIComponent(`s:${id}.${createHmac('sha256', SECRET).update(id).digest('base64').replace(/=+$/, '')}`)}`;
const idOf = (cookie: string) => decodeURIComponent(cookie.split('=')[1]!).slice(2).split('.')[0]!;

describe('session fixation at sign-in', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp({ sessionSecret: SECRET });
    await createAccountWithIdp(t, 'acme');
  });
  afterEach(async () => t.close());

  it("the attacker's own signed-in session id, planted in the victim's browser, does not become the victim's", async () => {
    const attacker = cookiesFrom(
      await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'mallory' })).expect(303),
    );
    const planted = attacker.find((c) => c.startsWith('sspk.sid='))!;

    // The browser is signed in as someone else: the sign-in waits for the victim's confirmation
    // (its own defence), which the victim gives on our page.
    const held = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'victim' }), {
      cookie: planted,
    }).expect(200);
    const victimLogin = await request(t.app)
      .post('/sso/acme/confirm')
      .set('Origin', BASE_URL)
      .set('Cookie', [planted, ...cookiesFrom(held)].join('; '))
      .type('form')
      .send({ token: (held.body as { confirmation: { token: string } }).confirmation.token })
      .expect(303);
    const issued = cookiesFrom(victimLogin).find((c) => c.startsWith('sspk.sid='));
    expect(issued).toBeDefined();
    expect(idOf(issued!)).not.toBe(idOf(planted));
    expect((await me(t, [issued!]).expect(200)).body.nameId).toBe('victim');
    // The planted id names nobody now: the attacker holds nothing of the victim's sign-in.
    const withPlanted = await me(t, [planted]);
    expect(withPlanted.status === 401 || withPlanted.body.nameId !== 'victim').toBe(true);
  });

  it('a made-up session id (validly signed, never stored) is not adopted', async () => {
    const madeUp = 'attacker-chosen-session-id-0123456789';
    const planted = signedCookie(madeUp);
    const victimLogin = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'victim' }), {
      cookie: planted,
    }).expect(303);
    const issued = cookiesFrom(victimLogin).find((c) => c.startsWith('sspk.sid='));
    expect(issued).toBeDefined();
    expect(idOf(issued!)).not.toBe(madeUp);
    await me(t, [planted]).expect(401);
    expect((await me(t, [issued!]).expect(200)).body.nameId).toBe('victim');
  });
});
