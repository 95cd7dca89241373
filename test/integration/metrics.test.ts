/**
 * Prometheus metrics at /metrics, read from the text exposition like a scraper: off unless enabled,
 * token-protected when METRICS_TOKEN is set, and the counters move with real sign-ins.
 */
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  createAccountWithIdp,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { attackerKey } from '../support/idp.js';
import { sample } from '../support/metrics.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const PASSWORD = 'correct horse battery staple';

/** The CSRF token of a rendered form. */
const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

async function scrape(t: TestSp, token: string | null = METRICS_TOKEN): Promise<string> {
  const req = request(t.app).get('/metrics');
  if (token !== null) req.set('Authorization', `Bearer ${token}`);
  const res = await req.expect(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text;
}

describe('/metrics', () => {
  const open: TestSp[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });
  const start = async (overrides: Parameters<typeof startSp>[0] = {}) => {
    const t = await startSp(overrides);
    open.push(t);
    return t;
  };

  it('is 404 unless METRICS_ENABLED', async () => {
    const t = await start();
    const res = await request(t.app).get('/metrics').set('Accept', 'application/json');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });

  it('requires the bearer token when METRICS_TOKEN is set', async () => {
    const t = await start({ metricsEnabled: true, metricsToken: METRICS_TOKEN });
    const none = await request(t.app).get('/metrics').set('Accept', 'application/json');
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('AUTH_REQUIRED');
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.text).not.toContain('sspk_');
    const wrong = await request(t.app)
      .get('/metrics')
      .set('Authorization', `Bearer ${METRICS_TOKEN.slice(0, -1)}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.text).not.toContain('sspk_');
    // The admin token is no metrics token.
    const admin = await request(t.app).get('/metrics').set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    expect(admin.status).toBe(401);
    expect(await scrape(t)).toContain('sspk_sign_ins_total');
  });

  it('answers without a token when none is configured, with the process metrics', async () => {
    const t = await start({ metricsEnabled: true });
    const text = await scrape(t, null);
    expect(sample(text, 'sspk_process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(text).toContain('# TYPE sspk_nodejs_eventloop_lag_seconds gauge');
  });

  it('counts a SAML sign-in success and a failure by protocol, outcome and code, and times the ACS', async () => {
    const t = await start({ metricsEnabled: true, metricsToken: METRICS_TOKEN });
    await createAccountWithIdp(t, 'acme');
    const before = await scrape(t);
    expect(sample(before, 'sspk_sign_ins_total', { protocol: 'saml', outcome: 'success', code: 'OK' })).toBe(
      undefined,
    );

    expect((await postAcs(t, 'acme', responseFor(t, 'acme'))).status).toBe(303);
    const bad = await postAcs(t, 'acme', responseFor(t, 'acme', { audience: 'urn:someone-else' }));
    expect(bad.body.error.code).toBe('SAML_AUDIENCE_MISMATCH');
    // An ACS post for no account is a decided failure too (logged only, never audited).
    expect((await postAcs(t, 'nobody', responseFor(t, 'nobody'))).status).toBe(404);

    const text = await scrape(t);
    expect(sample(text, 'sspk_sign_ins_total', { protocol: 'saml', outcome: 'success', code: 'OK' })).toBe(1);
    expect(
      sample(text, 'sspk_sign_ins_total', {
        protocol: 'saml',
        outcome: 'failure',
        code: 'SAML_AUDIENCE_MISMATCH',
      }),
    ).toBe(1);
    expect(
      sample(text, 'sspk_sign_ins_total', {
        protocol: 'saml',
        outcome: 'failure',
        code: 'ACCOUNT_NOT_FOUND',
      }),
    ).toBe(1);
    expect(sample(text, 'sspk_sso_response_duration_seconds_count', { protocol: 'saml' })).toBe(3);
    expect(sample(text, 'sspk_sso_response_duration_seconds_bucket', { protocol: 'saml', le: '+Inf' })).toBe(
      3,
    );
    expect(sample(text, 'sspk_sso_response_duration_seconds_sum', { protocol: 'saml' })).toBeGreaterThan(0);
    expect(sample(text, 'sspk_sso_response_duration_seconds_count', { protocol: 'oidc' })).toBe(undefined);
  });

  it('counts signature work: a signed post adds one check whatever its outcome; junk a cheap check decides adds none', async () => {
    const t = await start({
      metricsEnabled: true,
      metricsToken: METRICS_TOKEN,
      maxSamlResponseBytes: 64 * 1024,
    });
    await createAccountWithIdp(t, 'acme');
    await createAccountWithIdp(t, 'other');
    const checks = async () => sample(await scrape(t), 'sspk_saml_signature_checks_total');
    expect(await checks()).toBe(0);
    const expectAdds = async (body: string, code: string | null, added: number) => {
      const before = await checks();
      const res = await postAcs(t, 'acme', body);
      if (code === null) expect(res.status).toBe(303);
      else expect(res.body.error.code).toBe(code);
      expect((await checks())! - before!, code ?? 'login').toBe(added);
    };
    // Signature work: a login, a response signed by an untrusted key, one that is signed and fails later.
    await expectAdds(responseFor(t, 'acme'), null, 1);
    await expectAdds(responseFor(t, 'acme', { key: attackerKey }), 'SAML_SIGNATURE_INVALID', 1);
    await expectAdds(responseFor(t, 'acme', { audience: 'urn:someone-else' }), 'SAML_AUDIENCE_MISMATCH', 1);
    // Refused before any: not base64, not XML, unsigned, another account's genuine response, oversized.
    await expectAdds('%%%not-base64', 'SAML_RESPONSE_MALFORMED', 0);
    await expectAdds(Buffer.from('<not xml').toString('base64'), 'SAML_RESPONSE_MALFORMED', 0);
    await expectAdds(responseFor(t, 'acme', { sign: 'none' }), 'SAML_SIGNATURE_MISSING', 0);
    await expectAdds(responseFor(t, 'other'), 'SAML_DESTINATION_MISMATCH', 0);
    await expectAdds('A'.repeat(80 * 1024), 'PAYLOAD_TOO_LARGE', 0);
  });

  it('labels an OIDC callback protocol="oidc", also when it fails before any connection is found', async () => {
    const t = await start({ metricsEnabled: true, metricsToken: METRICS_TOKEN });
    await createAccountWithIdp(t, 'acme');
    const res = await request(t.app)
      .get('/sso/acme/oidc/callback?code=c&state=s')
      .set('Accept', 'application/json');
    expect(res.body.error.code).toBe('SSO_NOT_CONFIGURED');
    const text = await scrape(t);
    expect(
      sample(text, 'sspk_sign_ins_total', {
        protocol: 'oidc',
        outcome: 'failure',
        code: 'SSO_NOT_CONFIGURED',
      }),
    ).toBe(1);
    expect(sample(text, 'sspk_sso_response_duration_seconds_count', { protocol: 'oidc' })).toBe(1);
    expect(text).not.toContain('protocol="saml"');
  });

  it('counts password sign-ins protocol="password": a wrong password as LOGIN_FAILED, a success as OK; an unknown account not at all', async () => {
    const t = await start({ metricsEnabled: true, metricsToken: METRICS_TOKEN });
    await createAccountWithIdp(t, 'acme');
    await createLocalAdmin(t.sp.stores, { account: 'acme', email: 'admin@acme.test', password: PASSWORD });
    const signIn = async (account: string, password: string, status: number) => {
      const agent = request.agent(t.app);
      const form = await agent.get('/login/password').expect(200);
      await agent
        .post('/login/password')
        .type('form')
        .send({ _csrf: csrfOf(form.text), account, email: 'admin@acme.test', password })
        .expect(status);
    };
    await signIn('acme', 'not-the-password', 401);
    await signIn('acme', 'not-the-password', 401);
    await signIn('nobody', PASSWORD, 401);
    await signIn('acme', PASSWORD, 303);
    const text = await scrape(t);
    expect(
      sample(text, 'sspk_sign_ins_total', { protocol: 'password', outcome: 'failure', code: 'LOGIN_FAILED' }),
    ).toBe(2);
    expect(
      sample(text, 'sspk_sign_ins_total', { protocol: 'password', outcome: 'success', code: 'OK' }),
    ).toBe(1);
  });

  it('counts requests answered 503 because a store failed', async () => {
    const t = await start({ metricsEnabled: true, metricsToken: METRICS_TOKEN });
    await createAccountWithIdp(t, 'acme');
    expect(sample(await scrape(t), 'sspk_store_errors_total')).toBe(0);
    // The database goes away under the running app.
    await t.sp.stores.close();
    const res = await request(t.app)
      .get('/api/accounts/acme/saml')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('STORE_UNAVAILABLE');
    expect(sample(await scrape(t), 'sspk_store_errors_total')).toBe(1);
  });

  it('keeps a registry per app: two apps in one process count apart', async () => {
    const a = await start({ metricsEnabled: true, metricsToken: METRICS_TOKEN });
    const b = await start({ metricsEnabled: true, metricsToken: METRICS_TOKEN });
    await createAccountWithIdp(a, 'acme');
    expect((await postAcs(a, 'acme', responseFor(a, 'acme'))).status).toBe(303);
    const ok = { protocol: 'saml', outcome: 'success', code: 'OK' };
    expect(sample(await scrape(a), 'sspk_sign_ins_total', ok)).toBe(1);
    expect(sample(await scrape(b), 'sspk_sign_ins_total', ok)).toBe(undefined);
  });
});
