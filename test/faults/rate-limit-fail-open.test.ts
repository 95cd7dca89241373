/**
 * The shared rate limits fail OPEN when Redis fails: a Redis outage must not lock every user out of
 * sign-in (the sign-in itself still fails closed where Redis is its security: replay cache, request
 * IDs). Requests pass unlimited, a warning is logged once per limiter and outage, the failures are
 * counted in sspk_rate_limit_store_errors_total, and the limits are back when Redis is. Uses a private
 * redis-server on a spare port, never the shared one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL, suiteTitle } from '../contract/backends.js';
import { freePort, hasBinary, sleep } from '../multi-instance/cluster.js';
import { startSp, type TestSp } from '../support/harness.js';
import { sample } from '../support/metrics.js';
import { PrivateRedis } from './private-redis.js';

const enabled = TEST_REDIS_URL !== undefined && hasBinary('redis-server');
const title = suiteTitle(
  enabled,
  'rate limits fail open (logged, counted) while Redis is down',
  'TEST_REDIS_URL and redis-server on PATH',
);

describe.skipIf(!enabled)(title, () => {
  let dir: string;
  let redis: PrivateRedis;
  let t: TestSp;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sspk-rl-fault-'));
    redis = new PrivateRedis(await freePort(), dir);
    await redis.start();
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    t = await startSp(
      {
        redisUrl: `redis://127.0.0.1:${redis.port}?prefix=sspk_rlfault:`,
        rateLimitLoginPerMinute: 2,
        metricsEnabled: true,
      },
      { logger: pino({ level: 'warn' }, sink) },
    );
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const login = async () =>
    (await request(t.app).get('/sso/nobody/login').set('Accept', 'application/json')).status;

  it('lets requests through while Redis is down, says so once, counts them, and limits again after', async () => {
    expect([await login(), await login(), await login()]).toEqual([404, 404, 429]);

    await redis.stop();
    const during = [];
    for (let i = 0; i < 5; i++) during.push(await login());
    // Not locked out (no 429), and no 5xx from the limiter: the route answers as it would.
    expect(during).toEqual([404, 404, 404, 404, 404]);
    const warnings = logs.filter((l) => l.includes('rate limiting is OFF'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ limiter: 'sso-login' });
    const metrics = (await request(t.app).get('/metrics').expect(200)).text;
    expect(sample(metrics, 'sspk_rate_limit_store_errors_total', { limiter: 'sso-login' })).toBe(5);

    // A new, empty server (scripts not loaded, counters gone): the limiter recovers by itself.
    await redis.start();
    let statuses: number[] = [];
    for (let attempt = 0; attempt < 40; attempt++) {
      statuses = [await login(), await login(), await login()];
      if (statuses.includes(429)) break;
      await sleep(250);
    }
    expect(statuses).toContain(429);
  }, 30_000);
});
