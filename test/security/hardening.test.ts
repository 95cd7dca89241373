// Hardening around the ACS: secrets never reach logs (OWASP ASVS 7.1.1/7.1.2), a storage failure in the
// middle of an ACS request fails closed with 503 and writes nothing half-way, session cookie flags
// (ASVS 3.4), security headers and CSP.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import {
  ADMIN_TOKEN,
  adminGet,
  BASE_URL,
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { attackerKey, idpKey } from '../support/idp.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';

/** The raw Set-Cookie headers, with their attributes. */
function setCookies(res: { headers: Record<string, unknown> }): string[] {
  const raw = res.headers['set-cookie'];
  return Array.isArray(raw) ? (raw as string[]) : typeof raw === 'string' ? [raw] : [];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('logs', () => {
  it('never contain a SAMLResponse, a session id, the admin token or a private key, and carry reference ids', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const dir = mkdtempSync(join(tmpdir(), 'sspk-logs-'));
    const { app, close } = await createApp({
      config: {
        nodeEnv: 'test',
        baseUrl: BASE_URL,
        databaseUrl: `sqlite:${join(dir, 'db')}`,
        adminApiToken: ADMIN_TOKEN,
        sessionSecret: 'test-session-secret-0123456789abcdef0123',
      },
      logger: pino({ level: 'trace' }, sink),
    });
    cleanups.push(async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    });
    const t = {
      app,
      urls: (slug: string) => ({
        acsUrl: `${BASE_URL}/sso/${slug}/acs`,
        audience: `${BASE_URL}/sso/${slug}/metadata`,
        loginPath: `/sso/${slug}/login`,
        acsPath: `/sso/${slug}/acs`,
      }),
    } as unknown as TestSp;
    await createAccountWithIdp(t, 'acme');
    const good = responseFor(t, 'acme');
    const ok = await postAcs(t, 'acme', good).expect(303);
    const sid = cookiesFrom(ok)
      .find((c) => c.startsWith('sspk.sid='))!
      .split('=')[1]!;
    const bad = responseFor(t, 'acme', { key: attackerKey });
    const rejected = await postAcs(t, 'acme', bad);
    expect(rejected.status).toBe(401);
    await request(app)
      .put('/api/accounts/acme/saml')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ certificate: idpKey.privateKey, ssoUrl: 'https://x.auth0.com/samlp/1' })
      .expect(400);
    await request(app).get('/api/me').set('Cookie', `sspk.sid=${sid}`).expect(200);

    const log = lines.join('');
    expect(lines.length).toBeGreaterThan(2);
    for (const secret of [
      good.slice(0, 40),
      bad.slice(0, 40),
      decodeURIComponent(sid),
      ADMIN_TOKEN,
      'PRIVATE KEY',
      idpKey.privateKey.split('\n')[1]!,
    ]) {
      expect(log).not.toContain(secret);
    }
    const failure = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.code === 'SAML_SIGNATURE_INVALID');
    expect(failure?.referenceId).toBe(rejected.body.error.referenceId);
  });
});

/**
 * An SP on its own SQLite file with account `acme` connected, and a way to run SQL on that file from a
 * second connection — to make the real database fail (a trigger that aborts writes to one table).
 */
async function spOnFile(): Promise<{ t: TestSp; sqlOnFile: (statement: string) => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'sspk-file-'));
  const file = join(dir, 'sp.db');
  const t = await startSp({ databaseUrl: `sqlite:${file}` });
  cleanups.push(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await createAccountWithIdp(t, 'acme');
  const sqlOnFile = (statement: string) => {
    const db = new Sqlite(file);
    db.exec(statement);
    db.close();
  };
  return { t, sqlOnFile };
}

describe('a database error in the middle of an ACS request', () => {
  it('answers 503 STORE_UNAVAILABLE, creates no session and writes no user, activation or success', async () => {
    const { t, sqlOnFile } = await spOnFile();
    // A real failure of the real database, after validation has passed: provisioning's INSERT aborts.
    sqlOnFile(
      "CREATE TRIGGER fail_users BEFORE INSERT ON users BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END;",
    );

    const res = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|victim' }));
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('STORE_UNAVAILABLE');
    expect(res.text).not.toContain('simulated disk failure');
    await me(t, cookiesFrom(res)).expect(401);

    const users = await adminGet(t, '/api/accounts/acme/users');
    expect(users.body.users).toEqual([]);
    const conn = await adminGet(t, '/api/accounts/acme/saml');
    expect(conn.body.status).toBe('pending');
    const audit = await adminGet(t, '/api/accounts/acme/audit');
    const events = audit.body.events as { code: string }[];
    // (and, before it, the IdP import and settings change createAccountWithIdp made)
    expect(events.map((e) => e.code)).toEqual([
      'STORE_UNAVAILABLE',
      'IDP_CONNECTION_IMPORTED',
      'SETTINGS_CHANGED',
    ]);

    // Once the database works again, a fresh login succeeds (the failed one stays burned: fail closed).
    sqlOnFile('DROP TRIGGER fail_users');
    expect((await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|victim' }))).status).toBe(303);
  });
});

describe('failures around the ACS handler', () => {
  it('audits an ACS body refused before parsing (413) with its own reference', async () => {
    const t = await startSp({ maxSamlResponseBytes: 16 * 1024 });
    cleanups.push(() => t.close());
    await createAccountWithIdp(t, 'acme');
    const res = await postAcs(t, 'acme', 'A'.repeat(64 * 1024));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const audit = await adminGet(t, '/api/accounts/acme/audit');
    expect(audit.body.events[0]).toMatchObject({
      outcome: 'failure',
      code: 'PAYLOAD_TOO_LARGE',
      referenceId: res.body.error.referenceId,
    });
  });

  it('leaves no login, no activation and an audited failure when the session cannot be saved', async () => {
    const { t, sqlOnFile } = await spOnFile();
    sqlOnFile(
      "CREATE TRIGGER fail_sessions BEFORE INSERT ON sessions BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    );
    const res = await postAcs(t, 'acme', responseFor(t, 'acme'));
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('STORE_UNAVAILABLE');
    await me(t, cookiesFrom(res)).expect(401);
    const conn = await adminGet(t, '/api/accounts/acme/saml');
    expect(conn.body.status).toBe('pending');
    const audit = await adminGet(t, '/api/accounts/acme/audit');
    const outcomes = (audit.body.events as { outcome: string; code: string }[]).map(
      (e) => `${e.outcome}:${e.code}`,
    );
    expect(outcomes).toEqual([
      'failure:STORE_UNAVAILABLE',
      'success:IDP_CONNECTION_IMPORTED',
      'success:SETTINGS_CHANGED',
    ]);
  });
});

describe('session cookie and headers', () => {
  let t: TestSp;
  afterEach(async () => t?.close());

  it('sets the session cookie __Host-, HttpOnly, SameSite=Lax and Secure when BASE_URL is https', async () => {
    // TLS terminates at a load balancer that says so with X-Forwarded-Proto.
    t = await startSp({ baseUrl: 'https://sp.example.com', trustProxy: '1' });
    await createAccountWithIdp(t, 'acme');
    const res = await request(t.app)
      .post(t.urls('acme').acsPath)
      .set('X-Forwarded-Proto', 'https')
      .type('form')
      .send({ SAMLResponse: responseFor(t, 'acme') });
    expect(res.status).toBe(303);
    // __Host-: Secure, Path=/, no Domain, so no sibling subdomain can plant one (cookie-tossing.test.ts).
    const cookie = setCookies(res).find((c) => c.startsWith('__Host-sspk.sid='))!;
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Lax/i);
    expect(cookie).toMatch(/; Secure/i);
    expect(cookie).toMatch(/; Path=\/(;|$)/);
    expect(cookie).not.toMatch(/; Domain=/i);
    expect(res.headers['strict-transport-security']).toBeDefined();
  });

  it('sends a strict CSP and frame protection on pages, and no-store on the ACS', async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    const home = await request(t.app).get('/').expect(200);
    expect(home.headers['content-security-policy']).toContain("default-src 'none'");
    expect(home.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(home.headers['x-content-type-options']).toBe('nosniff');
    const acs = await postAcs(t, 'acme', responseFor(t, 'acme'));
    expect(acs.headers['cache-control']).toBe('no-store');
    const cookie = setCookies(acs).find((c) => c.startsWith('sspk.sid='))!;
    expect(cookie).not.toMatch(/; Secure/i);
  });
});
