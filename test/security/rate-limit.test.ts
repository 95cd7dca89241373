// Brute force and resource exhaustion: per-client limits on the ACS, login starts and the admin API
// (OWASP ASVS 2.2.1 anti-automation). Over the limit: 429 RATE_LIMITED with Retry-After, never a 5xx.
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createAccountWithIdp, postAcs, responseFor, startSp, type TestSp } from '../support/harness.js';

describe('rate limits per client', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 3, rateLimitLoginPerMinute: 2, rateLimitAdminPerMinute: 6 });
    await createAccountWithIdp(t, 'acme'); // 3 admin API calls (create, settings, import)
  });
  afterEach(async () => t.close());

  it('answers the ACS with 429 and Retry-After once a client exceeds its budget', async () => {
    for (let i = 0; i < 3; i++) expect((await postAcs(t, 'acme', responseFor(t, 'acme'))).status).toBe(303);
    const limited = await postAcs(t, 'acme', responseFor(t, 'acme'));
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('limits SP-initiated login starts', async () => {
    await request(t.app).get('/sso/acme/login').expect(302);
    await request(t.app).get('/sso/acme/login').expect(302);
    const limited = await request(t.app).get('/sso/acme/login').set('Accept', 'application/json');
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(limited.headers['retry-after']).toBeDefined();
  });

  it('limits the admin API before authentication, so token guessing is throttled too', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await request(t.app).get('/api/accounts/acme/saml').set('Authorization', `Bearer wrong-token-${i}-0123456789`);
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    const good = await request(t.app).get('/api/accounts/acme/saml').set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    expect(good.status).toBe(429);
    expect(good.body.error.code).toBe('RATE_LIMITED');
  });
});
