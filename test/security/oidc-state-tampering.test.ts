/**
 * A callback whose `state` is missing or not the one of this browser's sign-in: an answer spliced into
 * another sign-in (CSRF against the redirect URI, RFC 6749 §10.12; RFC 6819 §4.4.1.8). The transaction
 * is consumed by the attempt, so the genuine answer cannot be retried either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { me } from '../support/harness.js';
import { callback, mergeCookies, startOidcLogin } from '../support/oidc.js';
import { spWithProvider } from './oidc-rig-support.js';

const SLUG = 'state';
let env: Awaited<ReturnType<typeof spWithProvider>>;
beforeAll(async () => {
  env = await spWithProvider(SLUG);
});
afterAll(() => env?.close());

async function tamper(edit: (url: URL) => void) {
  const start = await startOidcLogin(env.t, SLUG);
  const back = await env.rig.signIn(start.location, 'auth0|victim');
  edit(back);
  const res = await callback(env.t, back, start.cookies);
  return { res, cookies: mergeCookies(start.cookies, res) };
}

describe('OIDC: tampered or missing state', () => {
  it('control: the untouched answer signs in', async () => {
    const { res, cookies } = await tamper(() => undefined);
    expect(res.status).toBe(303);
    await me(env.t, cookies).expect(200);
  });

  it('refuses a changed state (OIDC_STATE_MISMATCH), no session', async () => {
    const { res, cookies } = await tamper((u) =>
      u.searchParams.set('state', `${u.searchParams.get('state')}x`),
    );
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('OIDC_STATE_MISMATCH');
    await me(env.t, cookies).expect(401);
  });

  it('refuses a missing state (OIDC_STATE_MISMATCH), no session', async () => {
    const { res, cookies } = await tamper((u) => u.searchParams.delete('state'));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('OIDC_STATE_MISMATCH');
    await me(env.t, cookies).expect(401);
  });
});
