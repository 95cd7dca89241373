/**
 * OIDC sign-ins started in several tabs of one browser: each tab's callback completes its own sign-in
 * (the callback's `state` names it among the browser's sign-ins in flight), a reloaded or replayed
 * callback consumes nothing of the others, and the browser holds a bounded list (the oldest drops out).
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

/** The transaction ids the browser's cookie holds. */
const held = (cookies: string[]) =>
  (cookies.find((c) => c.startsWith('sspk_oidc='))?.slice('sspk_oidc='.length) ?? '')
    .split('.')
    .filter(Boolean);

/**
 * Starts a sign-in in a tab (returning to `/<tab>`) of the browser whose cookies are `jar`, and signs
 * in at the provider; the same person in every tab unless `sub` says otherwise. Returns the jar after.
 */
async function startTab(jar: string[], tab: string, sub = 'auth0|tabs-user') {
  const res = await startOidcLogin(env.t, SLUG, `/${tab}`, jar.length ? { Cookie: jar.join('; ') } : {});
  const after = mergeCookies(jar, { headers: { 'set-cookie': res.cookies.map((c) => `${c}; Path=/`) } });
  return { jar: after, back: await env.rig.signIn(res.location, sub) };
}

describe('OIDC sign-ins in several tabs', () => {
  it("each tab's callback completes its own sign-in, in any order", async () => {
    let jar: string[] = [];
    const one = await startTab(jar, 'one');
    jar = one.jar;
    const two = await startTab(jar, 'two');
    jar = two.jar;
    expect(held(jar)).toHaveLength(2);

    // The second tab comes back first…
    const second = await callback(env.t, two.back, jar).expect(303);
    expect(second.headers.location).toBe('/two');
    jar = mergeCookies(jar, second);
    expect(held(jar)).toHaveLength(1);
    expect((await me(env.t, jar).expect(200)).body.nameId).toBe('auth0|tabs-user');

    // …and the first tab's sign-in is still there.
    const first = await callback(env.t, one.back, jar).expect(303);
    expect(first.headers.location).toBe('/one');
    jar = mergeCookies(jar, first);
    expect(held(jar)).toHaveLength(0);
  });

  it("a reloaded callback is refused and leaves the other tab's sign-in in flight", async () => {
    let jar: string[] = [];
    const one = await startTab(jar, 'reload-one');
    jar = one.jar;
    const two = await startTab(jar, 'reload-two');
    jar = two.jar;
    jar = mergeCookies(jar, await callback(env.t, one.back, jar).expect(303));
    // The first tab reloads its callback: nothing of the browser's answers to that state any more.
    const reload = await callback(env.t, one.back, jar).expect(401);
    expect(reload.body.error.code).toBe('OIDC_STATE_MISMATCH');
    jar = mergeCookies(jar, reload);
    expect(held(jar)).toHaveLength(1);
    // The second tab completes.
    const done = await callback(env.t, two.back, jar).expect(303);
    expect(done.headers.location).toBe('/reload-two');
  });

  it('holds at most three sign-ins: a fourth tab pushes the oldest out', async () => {
    let jar: string[] = [];
    const tabs = [];
    for (const sub of ['t1', 't2', 't3', 't4']) {
      const tab = await startTab(jar, sub);
      jar = tab.jar;
      tabs.push(tab);
    }
    expect(held(jar)).toHaveLength(3);
    const oldest = await callback(env.t, tabs[0]!.back, jar).expect(401);
    expect(oldest.body.error.code).toBe('OIDC_STATE_MISMATCH');
    for (const tab of tabs.slice(1)) {
      const res = await callback(env.t, tab.back, jar).expect(303);
      jar = mergeCookies(jar, res);
    }
    expect(held(jar)).toHaveLength(0);
  });

  it("an attacker's callback delivered to a browser with sign-ins in flight is refused and takes none of them", async () => {
    const attacker = await startTab([], 'attacker', 'auth0|attacker');
    let jar: string[] = [];
    const victim = await startTab(jar, 'victim', 'auth0|victim');
    jar = victim.jar;
    const res = await callback(env.t, attacker.back, jar).expect(401);
    expect(res.body.error.code).toBe('OIDC_STATE_MISMATCH');
    jar = mergeCookies(jar, res);
    await me(env.t, jar).expect(401);
    const own = await callback(env.t, victim.back, jar).expect(303);
    jar = mergeCookies(jar, own);
    expect((await me(env.t, jar).expect(200)).body.nameId).toBe('auth0|victim');
  });
});
