/**
 * A callback delivered twice (Back, reload, or a captured redirect URL replayed): the transaction is
 * taken atomically from the shared store, so only the first delivery is accepted. RFC 6819 §4.4.1.1
 * (authorization code replay); the provider's one-time code is the second line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { me } from '../support/harness.js';
import { callback, mergeCookies, startOidcLogin } from '../support/oidc.js';
import { spWithProvider } from './oidc-rig-support.js';

const SLUG = 'replay';
let env: Awaited<ReturnType<typeof spWithProvider>>;
beforeAll(async () => {
  env = await spWithProvider(SLUG);
});
afterAll(() => env?.close());

describe('OIDC: callback replayed', () => {
  it('accepts the first delivery only; the second is OIDC_TRANSACTION_INVALID with no session', async () => {
    const start = await startOidcLogin(env.t, SLUG);
    const back = await env.rig.signIn(start.location, 'auth0|victim');
    const [first, second] = await Promise.all([
      callback(env.t, back, start.cookies),
      callback(env.t, back, start.cookies),
    ]);
    const statuses = [first.status, second.status].sort();
    expect(statuses).toEqual([303, 401]);
    const refused = first.status === 401 ? first : second;
    expect(refused.body.error.code).toBe('OIDC_TRANSACTION_INVALID');
    await me(env.t, mergeCookies(start.cookies, refused)).expect(401);

    // Later, again with the cookie the browser had: still refused.
    const again = await callback(env.t, back, start.cookies).expect(401);
    expect(again.body.error.code).toBe('OIDC_TRANSACTION_INVALID');
  });
});
