/**
 * Two real SP processes behind an imaginary load balancer without sticky sessions: same BASE_URL and
 * SESSION_SECRET, one PostgreSQL schema, one Redis key prefix. Each test sends a browser's requests
 * to whichever instance the scenario needs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, TEST_REDIS_URL, suiteTitle } from '../contract/backends.js';
import {
  createAccountWithIdp,
  http,
  postAcs,
  responseFor,
  startLogin,
  userNameIds,
  type Instance,
  startPair,
  type InstancePair,
} from './cluster.js';

const enabled = TEST_DATABASE_URL !== undefined && TEST_REDIS_URL !== undefined;

const title = suiteTitle(
  enabled,
  'two SP instances sharing PostgreSQL and Redis',
  'TEST_DATABASE_URL and TEST_REDIS_URL',
);

describe.skipIf(!enabled)(title, () => {
  const slug = 'acme';
  let A: Instance;
  let B: Instance;
  let pair: InstancePair | undefined;

  beforeAll(async () => {
    pair = await startPair(TEST_DATABASE_URL ?? '', TEST_REDIS_URL ?? '', 'multi');
    ({ A, B } = pair);
    await createAccountWithIdp(A, slug);
  }, 60_000);

  afterAll(async () => pair?.stop());

  it('an SP-initiated login started on A completes when the response is posted to B', async () => {
    const login = await startLogin(A, slug, '/reports/42');
    expect(login.cookies.some((c) => c.startsWith('sspk_login='))).toBe(true);
    const res = await postAcs(
      B,
      slug,
      responseFor(slug, { inResponseTo: login.requestId, nameId: 'auth0|sp-init' }),
      {
        cookies: login.cookies,
        relayState: login.relayState ?? '/',
      },
    );
    expect(res.status, res.text).toBe(303);
    expect(res.location).toBe('/reports/42');
    const me = await http(A, 'GET', '/api/me', { cookies: res.cookies });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ nameId: 'auth0|sp-init', account: slug });

    // The request ID was consumed on B: the same answer to the same request fails everywhere now.
    const again = await postAcs(
      A,
      slug,
      responseFor(slug, { inResponseTo: login.requestId, nameId: 'auth0|sp-init' }),
      {
        cookies: login.cookies,
      },
    );
    expect(again.status).toBe(401);
    expect(again.code).toBe('SAML_IN_RESPONSE_TO_UNKNOWN');
  });

  it('a tile sign-in shown for confirmation by A is confirmed on B, once across both', async () => {
    await createAccountWithIdp(A, 'tile', { confirm: true });
    const asked = await postAcs(A, 'tile', responseFor('tile', { nameId: 'auth0|tile' }), {
      relayState: '/home',
    });
    expect(asked.status, asked.text).toBe(200);
    const { token, url } = (asked.body as { confirmation: { token: string; url: string } }).confirmation;
    expect(url).toMatch(/\/sso\/tile\/confirm$/);
    const confirm = (instance: Instance) =>
      fetch(`${instance.url}/sso/tile/confirm`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
          Cookie: asked.cookies.join('; '),
          'Sec-Fetch-Site': 'same-origin',
        },
        body: new URLSearchParams({ token }).toString(),
      });
    const done = await confirm(B);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/home');
    const session = done.headers.getSetCookie().map((c) => c.split(';')[0]!);
    const me = await http(A, 'GET', '/api/me', { cookies: session });
    expect(me.body).toMatchObject({ nameId: 'auth0|tile', account: 'tile' });
    expect((await confirm(A)).status).toBe(400);
  });

  it('a response accepted by A and replayed to B is rejected', async () => {
    const response = responseFor(slug, { nameId: 'auth0|replay' });
    const first = await postAcs(A, slug, response);
    expect(first.status, first.text).toBe(303);
    const replay = await postAcs(B, slug, response);
    expect(replay.status).toBe(401);
    expect(replay.code).toBe('SAML_REPLAY');
    expect(replay.cookies.some((c) => c.startsWith('sspk.sid='))).toBe(false);
  });

  it('the same response posted concurrently to A and B (50 pairs): exactly one login per pair', async () => {
    const pairs = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const response = responseFor(slug, { nameId: `auth0|pair-${i}` });
        return Promise.all([postAcs(A, slug, response), postAcs(B, slug, response)]);
      }),
    );
    for (const [i, pair] of pairs.entries()) {
      const statuses = pair.map((r) => r.status).sort();
      expect(statuses, `pair ${i}: ${pair.map((r) => r.text).join(' | ')}`).toEqual([303, 401]);
      expect(pair.find((r) => r.status === 401)?.code).toBe('SAML_REPLAY');
    }
    const audit = await http(A, 'GET', `/api/accounts/${slug}/audit?limit=500`, { bearer: true });
    // (the trail also holds the settings change that set the account up: no subject)
    const events = (
      audit.body as { events: Array<{ subject: string | null; outcome: string; code: string }> }
    ).events;
    const pairEvents = events.filter((e) => e.subject?.startsWith('auth0|pair-'));
    expect(pairEvents.filter((e) => e.outcome === 'success')).toHaveLength(50);
    expect(pairEvents.filter((e) => e.code === 'SAML_REPLAY')).toHaveLength(50);
  }, 60_000);

  it('a session created on A is valid on B, and a logout on B ends it on A', async () => {
    const login = await postAcs(
      A,
      slug,
      responseFor(slug, { nameId: 'auth0|session', email: 'session@acme.test' }),
    );
    expect(login.status).toBe(303);
    const onB = await http(B, 'GET', '/api/me', { cookies: login.cookies });
    expect(onB.status).toBe(200);
    expect(onB.body).toEqual({
      email: 'session@acme.test',
      nameId: 'auth0|session',
      account: slug,
      role: 'member',
    });
    // (a script of this origin: logout is CSRF-protected)
    const out = await http(B, 'POST', '/logout', {
      cookies: login.cookies,
      headers: { 'Sec-Fetch-Site': 'same-origin' },
    });
    expect(out.status).toBe(204);
    expect((await http(A, 'GET', '/api/me', { cookies: login.cookies })).status).toBe(401);
  });

  it('two first logins of the same new user at once, one per instance: one user', async () => {
    const nameIds = Array.from({ length: 10 }, (_, i) => `auth0|new-${i}`);
    const results = await Promise.all(
      nameIds.flatMap((nameId) => [
        postAcs(A, slug, responseFor(slug, { nameId, email: `${nameId.slice(6)}@acme.test` })),
        postAcs(B, slug, responseFor(slug, { nameId, email: `${nameId.slice(6)}@acme.test` })),
      ]),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 303));
    const users = await userNameIds(B, slug);
    for (const nameId of nameIds)
      expect(
        users.filter((n) => n === nameId),
        nameId,
      ).toHaveLength(1);
  });

  it('a bot token issued on A works on B; revoked on B it is refused on A at once; a bot disabled on A stops on B', async () => {
    const created = await http(A, 'POST', `/api/accounts/${slug}/bots`, {
      bearer: true,
      json: { name: 'ingest', role: 'admin' },
    });
    expect(created.status, created.text).toBe(201);
    const botId = (created.body as { id: string }).id;
    const issue = async (on: Instance) => {
      const res = await http(on, 'POST', `/api/accounts/${slug}/bots/${botId}/tokens`, {
        bearer: true,
        json: {},
      });
      expect(res.status, res.text).toBe(201);
      const { id, token } = res.body as { id: string; token: string };
      return { id, headers: { Authorization: `Bearer ${token}` } };
    };
    // Both instances publish the same key under the same RFC 7638 kid.
    const jwks = await Promise.all([A, B].map((i) => http(i, 'GET', '/.well-known/jwks.json')));
    expect(jwks[0]!.body).toEqual(jwks[1]!.body);

    const first = await issue(A);
    const onB = await http(B, 'GET', '/api/me', { headers: first.headers });
    expect(onB.status, onB.text).toBe(200);
    expect(onB.body).toEqual({ account: slug, role: 'admin', bot: { id: botId, name: 'ingest' } });
    expect((await http(B, 'GET', `/api/accounts/${slug}`, { headers: first.headers })).status).toBe(200);
    // A has answered for this token too (anything it might keep would be warm now).
    expect((await http(A, 'GET', '/api/me', { headers: first.headers })).status).toBe(200);

    const revoked = await http(B, 'DELETE', `/api/accounts/${slug}/bots/${botId}/tokens/${first.id}`, {
      bearer: true,
    });
    expect(revoked.status).toBe(204);
    // The very next request, on the other instance.
    const onA = await http(A, 'GET', '/api/me', { headers: first.headers });
    expect({ status: onA.status, code: onA.code }).toEqual({ status: 401, code: 'TOKEN_REVOKED' });
    const adminOnA = await http(A, 'GET', `/api/accounts/${slug}`, { headers: first.headers });
    expect(adminOnA.code).toBe('TOKEN_REVOKED');

    const second = await issue(B);
    expect((await http(A, 'GET', '/api/me', { headers: second.headers })).status).toBe(200);
    expect((await http(B, 'GET', '/api/me', { headers: second.headers })).status).toBe(200);
    expect((await http(A, 'DELETE', `/api/accounts/${slug}/bots/${botId}`, { bearer: true })).status).toBe(
      204,
    );
    const disabled = await http(B, 'GET', '/api/me', { headers: second.headers });
    expect({ status: disabled.status, code: disabled.code }).toEqual({
      status: 401,
      code: 'TOKEN_BOT_DISABLED',
    });
  });

  it('both instances stayed up and ready', async () => {
    expect(A.alive() && B.alive()).toBe(true);
    for (const instance of [A, B]) {
      const ready = await http(instance, 'GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'ok' } });
    }
  });
});
