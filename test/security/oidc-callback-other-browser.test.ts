/**
 * A callback delivered to another browser: login CSRF (Barth, Jackson & Mitchell, "Robust Defenses for
 * Cross-Site Request Forgery", CCS 2008) — an attacker signs in at the provider, stops before the
 * callback, and makes the victim's browser load it, so the victim works in the attacker's account. The
 * transaction is bound to the browser that started it by an HttpOnly cookie; without it (or with another
 * sign-in's cookie) the callback is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { me } from '../support/harness.js';
import { callback, mergeCookies, startOidcLogin } from '../support/oidc.js';
import { spWithProvider } from './oidc-rig-support.js';

const SLUG = 'browser';
let env: Awaited<ReturnType<typeof spWithProvider>>;
beforeAll(async () => {
  env = await spWithProvider(SLUG);
});
afterAll(() => env?.close());

describe('OIDC: callback delivered to another browser', () => {
  it("the transaction cookie is HttpOnly, SameSite=Lax and scoped to the account's routes", async () => {
    const res = await startOidcLogin(env.t, SLUG);
    expect(res.location).toContain('code_challenge=');
    // supertest keeps only name=value; read the raw header once more.
    const { default: request } = await import('supertest');
    const raw = await request(env.t.app).get(`/sso/${SLUG}/oidc/login`).expect(302);
    const set = (raw.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('sspk_oidc='))!;
    expect(set).toMatch(/HttpOnly/i);
    expect(set).toMatch(/SameSite=Lax/i);
    expect(set).toMatch(new RegExp(`Path=/sso/${SLUG}(;|$)`));
  });

  it("refuses the attacker's callback in a browser without the cookie (OIDC_TRANSACTION_INVALID)", async () => {
    const attacker = await startOidcLogin(env.t, SLUG);
    const back = await env.rig.signIn(attacker.location, 'auth0|attacker');
    const res = await callback(env.t, back, []).expect(401);
    expect(res.body.error.code).toBe('OIDC_TRANSACTION_INVALID');
    await me(env.t, mergeCookies([], res)).expect(401);
  });

  it('refuses it in a browser that has a sign-in of its own in flight (another cookie)', async () => {
    const attacker = await startOidcLogin(env.t, SLUG);
    const back = await env.rig.signIn(attacker.location, 'auth0|attacker');
    const victim = await startOidcLogin(env.t, SLUG);
    const res = await callback(env.t, back, victim.cookies).expect(401);
    // The victim's transaction was taken: its state is not the attacker's answer's.
    expect(res.body.error.code).toBe('OIDC_STATE_MISMATCH');
    await me(env.t, mergeCookies(victim.cookies, res)).expect(401);
  });
});
