// Rate-limit bypass by forged X-Forwarded-For: with Express's `trust proxy` set to true, the client
// address is the leftmost X-Forwarded-For entry, which the client writes itself; inventing a new one per
// request gives every request a fresh per-client budget (CWE-348, use of less trusted source; CWE-290;
// OWASP ASVS 2.2.1 anti-automation). TRUST_PROXY=true is therefore refused at start-up with a one-line
// error naming the variable; a hop count or the proxies' addresses are accepted, and behind one proxy
// only the entry that proxy appended (the rightmost) counts.
import { randomInt } from 'node:crypto';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { ConfigError, loadConfigFromEnv, resolveConfig } from '../../src/config/load.js';
import { ADMIN_TOKEN, createAccountWithIdp, responseFor, startSp, type TestSp } from '../support/harness.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const randomIp = () => `${randomInt(1, 224)}.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

describe('TRUST_PROXY validation', () => {
  it.each(['true', ' true ', 'TRUE', 'True'])(
    'refuses %j with a one-line error naming TRUST_PROXY',
    (value) => {
      const err = configError(() => loadConfigFromEnv({ TRUST_PROXY: value }));
      expect(err.setting).toBe('TRUST_PROXY');
      expect(err.message).toMatch(/^TRUST_PROXY: /);
      expect(err.message).not.toContain('\n');
    },
  );

  it('says why true is refused and what to give instead', () => {
    const err = configError(() => loadConfigFromEnv({ TRUST_PROXY: 'true' }));
    expect(err.message).toContain('X-Forwarded-For');
    expect(err.message).toMatch(/number of proxies|addresses/);
  });

  it('refuses true through the embedding API too, before opening any storage', async () => {
    expect(configError(() => resolveConfig({ trustProxy: 'true' })).setting).toBe('trustProxy');
    await expect(
      createApp({
        config: { nodeEnv: 'test', databaseUrl: 'sqlite::memory:', trustProxy: 'true', logLevel: 'silent' },
      }),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it.each([
    ['1', 1],
    ['2', 2],
    ['10.0.0.0/8,loopback', '10.0.0.0/8,loopback'],
    ['::1', '::1'],
    ['loopback', 'loopback'],
    ['192.168.0.10, fd00::/8', '192.168.0.10, fd00::/8'],
    ['false', false],
  ] as const)('accepts %j', (value, parsed) => {
    expect(loadConfigFromEnv({ TRUST_PROXY: value }).trustProxy).toEqual(parsed);
  });

  it('leaves it off when unset', () => {
    expect(loadConfigFromEnv({}).trustProxy).toBe(false);
  });

  it.each(['yes', '10.0.0.0/99', '1.2.3', '*', 'all', '1,2', '::1/129', '10.0.0.0/8/8', 'loopback,', '-1'])(
    'refuses garbage %j',
    (value) => {
      const err = configError(() => loadConfigFromEnv({ TRUST_PROXY: value }));
      expect(err.setting).toBe('TRUST_PROXY');
      expect(err.message).not.toContain('\n');
    },
  );
});

describe('per-client rate limits behind a proxy', () => {
  let t: TestSp;
  afterEach(async () => t.close());

  const start = (xff?: string) => {
    const req = request(t.app).get('/sso/acme/login').set('Accept', 'application/json');
    return xff === undefined ? req : req.set('X-Forwarded-For', xff);
  };

  it('TRUST_PROXY=1: forging leftmost X-Forwarded-For entries does not reset the budget', async () => {
    t = await startSp({ trustProxy: '1', rateLimitLoginPerMinute: 2 });
    await createAccountWithIdp(t, 'acme');
    // supertest connects from 127.0.0.1, which plays the one proxy; it appended 203.0.113.7, the client.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await start(`${randomIp()}, 203.0.113.7`)).status);
    expect(statuses).toEqual([302, 302, 429, 429, 429, 429]);
    const more = await start(`${randomIp()}, ${randomIp()}, ${randomIp()}, 203.0.113.7`);
    expect(more.status).toBe(429);
    expect(more.body.error.code).toBe('RATE_LIMITED');
    // The proxy setting is in effect: another client behind the same proxy has a budget of its own.
    expect((await start('203.0.113.8')).status).toBe(302);
    expect((await start(`${randomIp()}, 203.0.113.8`)).status).toBe(302);
    expect((await start('203.0.113.8')).status).toBe(429);
  });

  it('TRUST_PROXY=1: the audit trail records the address the proxy saw, not the forged one', async () => {
    t = await startSp({ trustProxy: '1' });
    await createAccountWithIdp(t, 'acme');
    await request(t.app)
      .post(t.urls('acme').acsPath)
      .set('X-Forwarded-For', '198.51.100.66, 203.0.113.7')
      .set('Accept', 'application/json')
      .type('form')
      .send({ SAMLResponse: responseFor(t, 'acme') })
      .expect(303);
    const events = await request(t.app)
      .get('/api/accounts/acme/audit')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(200);
    expect(events.body.events[0]).toMatchObject({ outcome: 'success', clientIp: '203.0.113.7' });
  });

  it('without TRUST_PROXY, X-Forwarded-For is ignored altogether', async () => {
    t = await startSp({ rateLimitLoginPerMinute: 2, rateLimitAcsPerMinute: 2 });
    await createAccountWithIdp(t, 'acme');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await start(randomIp())).status);
    expect(statuses).toEqual([302, 302, 429, 429]);
    const acs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(t.app)
        .post(t.urls('acme').acsPath)
        .set('X-Forwarded-For', randomIp())
        .set('Accept', 'application/json')
        .type('form')
        .send({ SAMLResponse: responseFor(t, 'acme') });
      acs.push(res.status);
    }
    expect(acs).toEqual([303, 303, 429]);
  });
});

describe('"trust everyone" in disguise is refused like true, with the same one-line error', () => {
  // 0.0.0.0/0 and ::/0 mean "every hop is a proxy", i.e. true (and Express's proxy-addr would throw
  // from createApp, a start-up crash that does not name TRUST_PROXY). Two /1 halves, very wide subnets
  // and absurd hop counts trust forged X-Forwarded-For entries just the same.
  it.each([
    '0.0.0.0/0',
    '::/0',
    '0.0.0.0/0,::/0',
    'loopback, 0.0.0.0/0',
    '0.0.0.0/1,128.0.0.0/1',
    '10.0.0.0/7',
    '2000::/3',
    '11',
    '99',
  ])('refuses %j', async (value) => {
    const err = configError(() => loadConfigFromEnv({ TRUST_PROXY: value }));
    expect(err.setting).toBe('TRUST_PROXY');
    expect(err.message).not.toContain('\n');
    await expect(
      createApp({
        config: { nodeEnv: 'test', databaseUrl: 'sqlite::memory:', trustProxy: value, logLevel: 'silent' },
      }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});
