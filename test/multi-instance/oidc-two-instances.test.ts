/**
 * An OIDC sign-in across two SP processes sharing PostgreSQL and Redis behind a load balancer without
 * sticky sessions: the login starts on A (transaction in Redis, client secret sealed under a key both
 * derive from the same SP key), the provider sends the browser back to B, and the session works on A.
 * A real OpenID provider (oidc-provider on loopback) answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, TEST_REDIS_URL, suiteTitle } from '../contract/backends.js';
import { WEB_CLIENT, startOidcRig, type OidcRig } from '../support/oidc-provider-rig.js';
import { PUBLIC_BASE_URL, http, startPair, type Instance, type InstancePair } from './cluster.js';

const enabled = TEST_DATABASE_URL !== undefined && TEST_REDIS_URL !== undefined;
const title = suiteTitle(
  enabled,
  'OIDC sign-in across two SP instances',
  'TEST_DATABASE_URL and TEST_REDIS_URL',
);

describe.skipIf(!enabled)(title, () => {
  const slug = 'acme-oidc';
  let A: Instance;
  let B: Instance;
  let rig: OidcRig;
  let pair: InstancePair | undefined;

  beforeAll(async () => {
    pair = await startPair(TEST_DATABASE_URL ?? '', TEST_REDIS_URL ?? '', 'oidcmulti');
    ({ A, B } = pair);
    rig = await startOidcRig([`${PUBLIC_BASE_URL}/sso/${slug}/oidc/callback`]);
    expect(
      (await http(A, 'POST', '/api/accounts', { bearer: true, json: { slug, name: 'Acme' } })).status,
    ).toBe(201);
    expect(
      (await http(A, 'PATCH', `/api/accounts/${slug}`, { bearer: true, json: { loginConfirmation: false } }))
        .status,
    ).toBe(200);
    const put = await http(A, 'PUT', `/api/accounts/${slug}/oidc`, {
      bearer: true,
      json: {
        issuer: rig.issuer,
        clientId: WEB_CLIENT.clientId,
        clientSecret: WEB_CLIENT.clientSecret,
        clientType: 'confidential',
      },
    });
    expect(put.status, put.text).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await rig?.close();
    await pair?.stop();
  });

  it('starts on A, calls back on B, and the session works on A; the callback is used once across both', async () => {
    const start = await http(A, 'GET', `/sso/${slug}/oidc/login?returnTo=/reports/7`);
    expect(start.status).toBe(302);
    expect(start.cookies.some((c) => c.startsWith('sspk_oidc='))).toBe(true);
    const back = await rig.signIn(start.location!, 'auth0|multi');
    expect(back.origin).toBe(PUBLIC_BASE_URL);
    const done = await http(B, 'GET', `${back.pathname}${back.search}`, { cookies: start.cookies });
    expect(done.status, done.text).toBe(303);
    expect(done.location).toBe('/reports/7');
    const me = await http(A, 'GET', '/api/me', { cookies: done.cookies });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ nameId: 'auth0|multi', account: slug });

    const again = await http(A, 'GET', `${back.pathname}${back.search}`, { cookies: start.cookies });
    expect(again.status).toBe(401);
    expect(again.code).toBe('OIDC_TRANSACTION_INVALID');
    const status = await http(B, 'GET', `/api/accounts/${slug}/oidc`, { bearer: true });
    expect((status.body as { status: string }).status).toBe('active');
  });
});
