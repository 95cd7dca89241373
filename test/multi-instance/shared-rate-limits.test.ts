/**
 * Rate limits shared through Redis: two SP instances on one Redis key prefix count every client
 * against ONE budget (in-process counters would give N instances N× the budget, so a brute force
 * spread over the instances behind a load balancer would go N times as fast). Each instance has its
 * own database: the counters alone are shared.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TEST_REDIS_URL,
  deleteKeysWithPrefix,
  keysWithPrefix,
  runName,
  suiteTitle,
  withPrefix,
} from '../contract/backends.js';
import { startSp, type TestSp } from '../support/harness.js';

const enabled = TEST_REDIS_URL !== undefined;
const title = suiteTitle(enabled, 'rate limits shared by two instances through Redis', 'TEST_REDIS_URL');

describe.skipIf(!enabled)(title, () => {
  const prefix = `${runName('rl')}:`;
  let A: TestSp;
  let B: TestSp;

  beforeAll(async () => {
    const config = {
      redisUrl: withPrefix(TEST_REDIS_URL ?? '', prefix),
      rateLimitLoginPerMinute: 3,
      rateLimitAdminPerMinute: 4,
    };
    [A, B] = await Promise.all([startSp(config), startSp(config)]);
  });

  afterAll(async () => {
    await Promise.all([A?.close(), B?.close()]);
    await deleteKeysWithPrefix(TEST_REDIS_URL ?? '', prefix);
  });

  it('one client gets one login budget across both instances', async () => {
    const statuses: number[] = [];
    for (const instance of [A, B, A, B, A]) {
      const res = await request(instance.app).get('/sso/nobody/login').set('Accept', 'application/json');
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.body.error.code).toBe('RATE_LIMITED');
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
    }
    // 3 per minute in all, not 3 on each: the 4th request, on B, is refused, and so is the 5th on A.
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
    // The counters live under the deployment's prefix, one namespace per limiter.
    const keys = await keysWithPrefix(TEST_REDIS_URL ?? '', prefix);
    expect(keys.some((k) => k.startsWith(`${prefix}rl:sso-login:`))).toBe(true);
  });

  it('limiters keep apart budgets: the admin API has its own', async () => {
    const statuses: number[] = [];
    for (const instance of [B, A, B, A, B]) {
      statuses.push((await request(instance.app).get('/api/accounts/acme/saml')).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
  });

  it("logs express-rate-limit's setup checks once (X-Forwarded-For while TRUST_PROXY is off)", async () => {
    const lines: { level: number; msg: string; limiter?: string; code?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as never);
        cb();
      },
    });
    const C = await startSp(
      { redisUrl: withPrefix(TEST_REDIS_URL ?? '', `${prefix}c:`) },
      { logger: pino({ level: 'warn' }, sink) },
    );
    try {
      // Behind a proxy the kit was not told of, every client would count as the proxy's address.
      for (let i = 0; i < 3; i++) {
        await request(C.app)
          .get('/sso/nobody/login')
          .set('X-Forwarded-For', `203.0.113.${i + 1}`);
      }
      const told = lines.filter((l) => l.code === 'ERR_ERL_UNEXPECTED_X_FORWARDED_FOR');
      expect(told).toHaveLength(1);
      expect(told[0]).toMatchObject({ level: 40, limiter: 'sso-login' });
      expect(told[0]!.msg).toMatch(/^rate limiting set up wrong: /);
    } finally {
      await C.close();
    }
  });
});
