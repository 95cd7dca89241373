/**
 * Builds the SP in-process for tests and drives it like a browser / an admin would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import type { Logger } from 'pino';
import request from 'supertest';
import { createApp, type SamlSp } from '../../src/app.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { ProvisionHook } from '../../src/users/provision.js';
import { decodeRedirect, idpKey, mintResponse, TEST_TENANT_ISSUER, type MintOptions } from './idp.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const BASE_URL = 'http://localhost:3000';
export const SSO_URL = 'https://test-tenant.auth0.com/samlp/TestClientId123';

/** A running in-process SP. */
export interface TestSp {
  app: Express;
  sp: SamlSp;
  close(): Promise<void>;
  /** Per-account URLs. */
  urls(slug: string): { acsUrl: string; audience: string; loginPath: string; acsPath: string };
}

/** Starts an SP on a fresh database (SQLite in a temp dir unless `databaseUrl` is given). */
export async function startSp(
  overrides: Partial<ConfigInput> = {},
  extra: { provisionUser?: ProvisionHook; logger?: Logger } = {},
): Promise<TestSp> {
  let dir: string | null = null;
  if (!overrides.databaseUrl) dir = mkdtempSync(join(tmpdir(), 'sspk-test-'));
  const { app, sp, close } = await createApp({
    config: {
      nodeEnv: 'test',
      baseUrl: BASE_URL,
      databaseUrl: dir ? `sqlite:${join(dir, 'sp.db')}` : overrides.databaseUrl,
      adminApiToken: ADMIN_TOKEN,
      sessionSecret: 'test-session-secret-0123456789abcdef0123',
      logLevel: 'silent',
      ...overrides,
    },
    ...(extra.provisionUser ? { provisionUser: extra.provisionUser } : {}),
    ...(extra.logger ? { logger: extra.logger } : {}),
  });
  return {
    app,
    sp,
    close: async () => {
      await close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    urls: (slug) => ({
      acsUrl: `${sp.config.baseUrl}/sso/${slug}/acs`,
      audience: `${sp.config.baseUrl}/sso/${slug}/metadata`,
      loginPath: `/sso/${slug}/login`,
      acsPath: `/sso/${slug}/acs`,
    }),
  };
}

/**
 * Creates an account and imports the test IdP (certificate + SSO URL) through the admin API.
 * The ACS validation suites post unsolicited responses and expect a direct sign-in, so the account is
 * created with `loginConfirmation: false` unless `confirm` is true; the confirmation step itself
 * (the default for real accounts) is tested in test/security/login-csrf.test.ts.
 */
export async function createAccountWithIdp(
  t: TestSp,
  slug: string,
  idp: { certificate?: string; ssoUrl?: string; idpEntityId?: string | null; confirm?: boolean } = {},
): Promise<void> {
  await request(t.app)
    .post('/api/accounts')
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send({ slug, name: `${slug} Inc` })
    .expect(201);
  if (!idp.confirm) await patchSettings(t, slug, { loginConfirmation: false });
  const body: Record<string, unknown> = {
    certificate: idp.certificate ?? idpKey.cert,
    ssoUrl: idp.ssoUrl ?? SSO_URL,
  };
  if (idp.idpEntityId !== undefined) body.idpEntityId = idp.idpEntityId;
  await request(t.app)
    .put(`/api/accounts/${slug}/saml`)
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send(body)
    .expect(200);
}

/** GETs an admin API path with the admin token and expects 200. */
export function adminGet(t: TestSp, path: string) {
  return request(t.app).get(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(200);
}

/** Updates account settings through the admin API. */
export async function patchSettings(
  t: TestSp,
  slug: string,
  settings: Record<string, unknown>,
): Promise<void> {
  await request(t.app)
    .patch(`/api/accounts/${slug}`)
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send(settings)
    .expect(200);
}

/** Mints a response for `slug` with the right audience/recipient unless overridden. */
export function responseFor(t: TestSp, slug: string, opts: Partial<MintOptions> = {}): string {
  const u = t.urls(slug);
  return mintResponse({ acsUrl: u.acsUrl, audience: u.audience, issuer: TEST_TENANT_ISSUER, ...opts });
}

/** Posts to the ACS like a browser form post; JSON errors requested unless `html`. */
export function postAcs(
  t: TestSp,
  slug: string,
  samlResponse: string | undefined,
  opts: { cookie?: string | string[]; relayState?: string; html?: boolean } = {},
) {
  const req = request(t.app).post(t.urls(slug).acsPath).type('form');
  if (!opts.html) req.set('Accept', 'application/json');
  if (opts.cookie) req.set('Cookie', Array.isArray(opts.cookie) ? opts.cookie.join('; ') : opts.cookie);
  const form: Record<string, string> = {};
  if (samlResponse !== undefined) form.SAMLResponse = samlResponse;
  if (opts.relayState !== undefined) form.RelayState = opts.relayState;
  return req.send(form);
}

/** The `name=value` pairs of Set-Cookie headers, ready for a Cookie header. */
export function cookiesFrom(res: { headers: Record<string, unknown> }): string[] {
  const set = res.headers['set-cookie'];
  const list = Array.isArray(set) ? (set as string[]) : typeof set === 'string' ? [set] : [];
  return list.map((c) => c.split(';')[0]!);
}

/** Starts an SP-initiated login; returns the decoded AuthnRequest and the browser cookies it set. */
export async function startLogin(t: TestSp, slug: string, returnTo?: string) {
  const res = await request(t.app)
    .get(t.urls(slug).loginPath)
    .query(returnTo === undefined ? {} : { returnTo })
    .expect(302);
  const location = res.headers.location as string;
  return { location, request: decodeRedirect(location), cookies: cookiesFrom(res) };
}

/** Calls /api/me with the given cookies. */
export function me(t: TestSp, cookies: string[]) {
  return request(t.app).get('/api/me').set('Cookie', cookies);
}
