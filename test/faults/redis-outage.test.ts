/**
 * Redis goes away under a running SP and comes back. The SP must fail closed (503 STORE_UNAVAILABLE,
 * never an assertion accepted without its replay check), say so on /readyz, answer quickly instead of
 * hanging, and recover by itself. Uses a private redis-server on a spare port, never the shared one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL, suiteTitle } from '../contract/backends.js';
import {
  createAccountWithIdp,
  freePort,
  hasBinary,
  http,
  postAcs,
  responseFor,
  sleep,
  startInstance,
  type Instance,
} from '../multi-instance/cluster.js';
import { PrivateRedis } from './private-redis.js';

const enabled = TEST_REDIS_URL !== undefined && hasBinary('redis-server');
const title = suiteTitle(
  enabled,
  'Redis outage: fail closed with 503, recover by itself',
  'TEST_REDIS_URL and redis-server on PATH',
);

describe.skipIf(!enabled)(title, () => {
  let dir: string;
  let redis: PrivateRedis;
  let sp: Instance;
  const slug = 'acme';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sspk-redis-fault-'));
    redis = new PrivateRedis(await freePort(), dir);
    await redis.start();
    sp = await startInstance({
      DATABASE_URL: `sqlite:${join(dir, 'sp.db')}`,
      REDIS_URL: `redis://127.0.0.1:${redis.port}?prefix=sspk_fault:`,
    });
    await createAccountWithIdp(sp, slug);
  }, 60_000);

  afterAll(async () => {
    await sp?.stop();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('fails closed while Redis is down, reports it on /readyz, and recovers without a restart', async () => {
    // Before: a login works and leaves a session.
    const before = await postAcs(sp, slug, responseFor(slug, { nameId: 'auth0|before' }));
    expect(before.status, before.text).toBe(303);
    expect((await http(sp, 'GET', '/api/me', { cookies: before.cookies })).status).toBe(200);

    await redis.stop();

    const ready = await http(sp, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({
      status: 'unavailable',
      checks: { database: 'ok', redis: 'unavailable' },
      error: { code: 'STORE_UNAVAILABLE' },
    });
    expect((await http(sp, 'GET', '/healthz')).status).toBe(200);

    // A valid, never-seen assertion: its replay check cannot be made, so it must not log in.
    const fresh = responseFor(slug, { nameId: 'auth0|during' });
    const during = await postAcs(sp, slug, fresh);
    expect(during.status, during.text).toBe(503);
    expect(during.code).toBe('STORE_UNAVAILABLE');
    expect(during.ms).toBeLessThan(3000);
    expect(during.cookies.some((c) => c.startsWith('sspk.sid='))).toBe(false);

    // The browser page is the same refusal, rendered by the one error handler.
    const page = await postAcs(sp, slug, fresh, { html: true });
    expect(page.status).toBe(503);
    expect(page.text).toContain('STORE_UNAVAILABLE');

    // With a session cookie, express-session's own lookup fails first: still a 503, not a 500.
    const withSession = await postAcs(sp, slug, fresh, { cookies: before.cookies });
    expect(withSession.status).toBe(503);
    expect(withSession.code).toBe('STORE_UNAVAILABLE');
    const me = await http(sp, 'GET', '/api/me', { cookies: before.cookies });
    expect(me.status).toBe(503);
    expect(me.code).toBe('STORE_UNAVAILABLE');

    // SP-initiated logins cannot store their request ID either.
    const start = await http(sp, 'GET', `/sso/${slug}/login`);
    expect(start.status).toBe(503);
    expect(start.code).toBe('STORE_UNAVAILABLE');

    // The refusals are audited (the database is up) with their code.
    const audit = await http(sp, 'GET', `/api/accounts/${slug}/audit`, { bearer: true });
    const events = (audit.body as { events: Array<{ subject: string | null; code: string }> }).events;
    expect(events.filter((e) => e.code === 'STORE_UNAVAILABLE').length).toBeGreaterThanOrEqual(2);
    expect(events.some((e) => e.subject === 'auth0|during' && e.code === 'OK')).toBe(false);

    await redis.start();

    const deadline = Date.now() + 10_000;
    let back = await http(sp, 'GET', '/readyz');
    while (back.status !== 200 && Date.now() < deadline) {
      await sleep(200);
      back = await http(sp, 'GET', '/readyz');
    }
    expect(back.body).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'ok' } });

    // Same process, serving again: the refused assertion is accepted once now, then it is a replay.
    const after = await postAcs(sp, slug, fresh);
    expect(after.status, after.text).toBe(303);
    expect((await http(sp, 'GET', '/api/me', { cookies: after.cookies })).status).toBe(200);
    const replay = await postAcs(sp, slug, fresh);
    expect(replay.code).toBe('SAML_REPLAY');
    expect(sp.alive()).toBe(true);
  }, 45_000);
});
