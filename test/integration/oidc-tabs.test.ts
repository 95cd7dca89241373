/**
 * OIDC sign-ins started in several tabs of one browser: each tab's callback completes its own sign-in
 * (the callback's `state` names it among the browser's sign-ins in flight), a reloaded or replayed
 * callback consumes nothing of the others, and the browser holds a bounded list (the oldest drops out).
 * On an https site the cookie is `__Host-sspk_oidc.<slug>`; on http `sspk_oidc`, where a cookie a
 * sibling subdomain sets beside the browser's own makes the kit trust neither.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { me } from '../support/harness.js';
import { callback, mergeCookies, startOidcLogin } from '../support/oidc.js';
import { spWithProvider } from '../security/oidc-rig-support.js';

const SLUG = 'tabs';

interface Site {
  site: string;
  config: Record<string, string>;
  /** The name of the account's OIDC cookie there. */
  cookie: string;
  /** Headers every request of the browser carries. */
  headers: Record<string, string>;
}
const SITES: Site[] = [
  { site: 'http', config: {}, cookie: 'sspk_oidc', headers: {} },
  {
    site: 'https',
    config: { baseUrl: 'https://sp.example.com', trustProxy: '1' },
    cookie: `__Host-sspk_oidc.${SLUG}`,
    // TLS ends at a proxy that says so.
    headers: { 'X-Forwarded-Proto': 'https' },
  },
];

describe.each(SITES)('OIDC sign-ins in several tabs ($site)', ({ config, cookie, headers }) => {
  let env: Awaited<ReturnType<typeof spWithProvider>>;
  beforeAll(async () => {
    env = await spWithProvider(SLUG, config);
  });
  afterAll(() => env?.close());

  /** The transaction ids the browser's cookie holds. */
  const held = (jar: string[]) =>
    (jar.find((c) => c.startsWith(`${cookie}=`))?.slice(cookie.length + 1) ?? '').split('.').filter(Boolean);

  /**
   * Starts a sign-in in a tab (returning to `/<tab>`) of the browser whose cookies are `jar`, and signs
   * in at the provider; the same person in every tab unless `sub` says otherwise. Returns the jar after.
   */
  async function startTab(jar: string[], tab: string, sub = 'auth0|tabs-user') {
    const res = await startOidcLogin(env.t, SLUG, `/${tab}`, {
      ...headers,
      ...(jar.length ? { Cookie: jar.join('; ') } : {}),
    });
    const after = mergeCookies(jar, { headers: { 'set-cookie': res.cookies.map((c) => `${c}; Path=/`) } });
    return { jar: after, back: await env.rig.signIn(res.location, sub) };
  }
  const back = (url: URL, jar: string[]) => callback(env.t, url, jar).set(headers);

  it("each tab's callback completes its own sign-in, in any order", async () => {
    let jar: string[] = [];
    const one = await startTab(jar, 'one');
    jar = one.jar;
    const two = await startTab(jar, 'two');
    jar = two.jar;
    expect(held(jar)).toHaveLength(2);

    // The second tab comes back first…
    const second = await back(two.back, jar).expect(303);
    expect(second.headers.location).toBe('/two');
    jar = mergeCookies(jar, second);
    expect(held(jar)).toHaveLength(1);
    expect((await me(env.t, jar).expect(200)).body.nameId).toBe('auth0|tabs-user');

    // …and the first tab's sign-in is still there.
    const first = await back(one.back, jar).expect(303);
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
    jar = mergeCookies(jar, await back(one.back, jar).expect(303));
    // The first tab reloads its callback: nothing of the browser's answers to that state any more.
    const reload = await back(one.back, jar).expect(401);
    expect(reload.body.error.code).toBe('OIDC_STATE_MISMATCH');
    jar = mergeCookies(jar, reload);
    expect(held(jar)).toHaveLength(1);
    // The second tab completes.
    const done = await back(two.back, jar).expect(303);
    expect(done.headers.location).toBe('/reload-two');
  });

  it('holds at most three sign-ins: a fourth tab pushes the oldest out', async () => {
    let jar: string[] = [];
    const tabs = [];
    for (const tab of ['t1', 't2', 't3', 't4']) {
      const started = await startTab(jar, tab);
      jar = started.jar;
      tabs.push(started);
    }
    expect(held(jar)).toHaveLength(3);
    const oldest = await back(tabs[0]!.back, jar).expect(401);
    expect(oldest.body.error.code).toBe('OIDC_STATE_MISMATCH');
    for (const tab of tabs.slice(1)) {
      const res = await back(tab.back, jar).expect(303);
      jar = mergeCookies(jar, res);
    }
    expect(held(jar)).toHaveLength(0);
  });

  it("an attacker's callback delivered to a browser with sign-ins in flight is refused and takes none of them", async () => {
    const attacker = await startTab([], 'attacker', 'auth0|attacker');
    let jar: string[] = [];
    const victim = await startTab(jar, 'victim', 'auth0|victim');
    jar = victim.jar;
    const res = await back(attacker.back, jar).expect(401);
    expect(res.body.error.code).toBe('OIDC_STATE_MISMATCH');
    jar = mergeCookies(jar, res);
    await me(env.t, jar).expect(401);
    const own = await back(victim.back, jar).expect(303);
    jar = mergeCookies(jar, own);
    expect((await me(env.t, jar).expect(200)).body.nameId).toBe('auth0|victim');
  });

  it('a callback with two state parameters takes no sign-in', async () => {
    const tab = await startTab([], 'two-states');
    const state = tab.back.searchParams.get('state')!;
    const doubled = new URL(tab.back);
    doubled.searchParams.append('state', 'junk');
    const res = await back(doubled, tab.jar).expect(401);
    expect(res.body.error.code).toBe('OIDC_STATE_MISMATCH');
    expect(doubled.searchParams.getAll('state')).toEqual([state, 'junk']);
    await back(tab.back, tab.jar).expect(303);
  });

  it('reads no ids from an oversized cookie (a bounded parse)', async () => {
    const tab = await startTab([], 'oversized');
    const own = held(tab.jar);
    // The browser's id, buried in a value no list of three could make.
    const bloated = [`${cookie}=${[...Array<string>(20).fill('f'.repeat(64)), ...own].join('.')}`];
    const res = await back(tab.back, bloated).expect(401);
    expect(res.body.error.code).toBe('OIDC_TRANSACTION_INVALID');
    await back(tab.back, tab.jar).expect(303);
  });

  it("a planted sspk_oidc beside the browser's own: on https ignored, on http neither is trusted", async () => {
    const attacker = await startTab([], 'planted', 'auth0|attacker');
    const victim = await startTab([], 'planted-victim', 'auth0|victim');
    // A sibling subdomain can only set the plain name (and on http, the kit's own name is that).
    const planted = `sspk_oidc=${held(attacker.jar).join('.')}`;
    const jar = [planted, ...victim.jar];
    const res = await back(attacker.back, jar).expect(401);
    await me(env.t, mergeCookies(jar, res)).expect(401);
    if (cookie.startsWith('__Host-')) {
      // The planted name is not read: the state is none of the browser's, whose own sign-in is
      // untouched and completes.
      expect(res.body.error.code).toBe('OIDC_STATE_MISMATCH');
      await back(victim.back, jar).expect(303);
    } else {
      // Two cookies of the kit's name: neither is trusted, as if the browser had none, and its own is
      // cleared; the victim starts again.
      expect(res.body.error.code).toBe('OIDC_TRANSACTION_INVALID');
      const cleared = ([] as string[]).concat(res.headers['set-cookie'] as unknown as string[]);
      expect(cleared.some((c) => c.startsWith('sspk_oidc=;'))).toBe(true);
    }
  });
});
