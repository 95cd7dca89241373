/**
 * OIDC sign-ins started in two tabs of one browser (a session that expires in every open tab of the
 * app at once starts one sign-in per tab): each has its own transaction cookie, and each callback
 * finds its own sign-in by its `state`, whatever order the tabs come back in. Before, the second
 * start replaced the first one's cookie: the first callback then consumed the second sign-in (state
 * mismatch) and both tabs failed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { me } from '../support/harness.js';
import { callback, mergeCookies, startOidcLogin } from '../support/oidc.js';
import { spWithProvider } from '../security/oidc-rig-support.js';

const SLUG = 'tabs';
let env: Awaited<ReturnType<typeof spWithProvider>>;
beforeAll(async () => {
  env = await spWithProvider(SLUG);
});
afterAll(() => env?.close());

const OIDC_COOKIE = /^sspk_oidc_[a-f0-9]{16}$/;
const oidcCookies = (jar: string[]) => jar.filter((c) => OIDC_COOKIE.test(c.split('=')[0]!));

/** Two sign-ins started in one browser (the jar the second start sees includes the first's cookie). */
async function twoTabs(returnTo: [string, string]) {
  const first = await startOidcLogin(env.t, SLUG, returnTo[0]);
  const second = await startOidcLogin(env.t, SLUG, returnTo[1]);
  const jar = [...first.cookies, ...second.cookies];
  expect(oidcCookies(jar)).toHaveLength(2);
  return { first: first.location, second: second.location, jar };
}

describe('OIDC: sign-ins in two tabs of one browser', () => {
  it.each([
    ['the first tab comes back first', false],
    ['the second tab comes back first', true],
  ])('%s: both sign in, each to its own page', async (_name, reverse) => {
    const tabs = await twoTabs(['/one', '/two']);
    const order = reverse
      ? [
          { url: tabs.second, to: '/two' },
          { url: tabs.first, to: '/one' },
        ]
      : [
          { url: tabs.first, to: '/one' },
          { url: tabs.second, to: '/two' },
        ];
    let jar = tabs.jar;
    for (const [i, tab] of order.entries()) {
      const back = await env.rig.signIn(tab.url, 'auth0|two-tabs');
      const res = await callback(env.t, back, jar);
      expect(res.status, JSON.stringify(res.body)).toBe(303);
      expect(res.headers.location).toBe(tab.to);
      jar = mergeCookies(jar, res);
      // The answered sign-in's cookie is gone; the other tab's stays until it comes back.
      expect(oidcCookies(jar)).toHaveLength(1 - i);
    }
    await me(env.t, jar).expect(200);
  });

  it("a callback is used once: replaying one tab's answer is refused, and the other tab still signs in", async () => {
    const tabs = await twoTabs(['/one', '/two']);
    const firstBack = await env.rig.signIn(tabs.first, 'auth0|two-tabs');
    const done = await callback(env.t, firstBack, tabs.jar).expect(303);
    // The replay, with the cookies of before (the used sign-in's cookie still there).
    const replay = await callback(env.t, firstBack, tabs.jar).expect(401);
    expect(replay.body.error.code).toBe('OIDC_TRANSACTION_INVALID');
    const secondBack = await env.rig.signIn(tabs.second, 'auth0|two-tabs');
    const res = await callback(env.t, secondBack, mergeCookies(tabs.jar, done));
    expect(res.status, JSON.stringify(res.body)).toBe(303);
    expect(res.headers.location).toBe('/two');
  });

  it("an answer whose state is none of the browser's sign-ins is refused (OIDC_STATE_MISMATCH) and consumes the most recent one", async () => {
    const tabs = await twoTabs(['/one', '/two']);
    const back = await env.rig.signIn(tabs.second, 'auth0|two-tabs');
    back.searchParams.set('state', `${back.searchParams.get('state')}x`);
    const res = await callback(env.t, back, tabs.jar).expect(401);
    expect(res.body.error.code).toBe('OIDC_STATE_MISMATCH');
    const jar = mergeCookies(tabs.jar, res);
    await me(env.t, jar).expect(401);
    // The most recent sign-in (the second tab's) was consumed with it; the first tab's still works.
    expect(oidcCookies(jar)).toHaveLength(1);
    const firstBack = await env.rig.signIn(tabs.first, 'auth0|two-tabs');
    expect((await callback(env.t, firstBack, jar)).status).toBe(303);
  });

  it('a cookie named as before this change (sspk_oidc) is still honoured at the callback, then cleared', async () => {
    const start = await startOidcLogin(env.t, SLUG, '/legacy');
    const [cookie] = oidcCookies(start.cookies);
    const legacy = `sspk_oidc=${cookie!.split('=')[1]!}`;
    const back = await env.rig.signIn(start.location, 'auth0|two-tabs');
    const res = await callback(env.t, back, [legacy]);
    expect(res.status, JSON.stringify(res.body)).toBe(303);
    expect(res.headers.location).toBe('/legacy');
    expect(mergeCookies([legacy], res).some((c) => c.startsWith('sspk_oidc='))).toBe(false);
  });
});
