// Stale privileges: a session keeps the rights it had at sign-in long after an administrator took them
// away (insufficient session expiration, CWE-613; OWASP ASVS V3.3 "session termination": disabling a
// user or changing their rights ends or downgrades their sessions at once, and sessions have an
// absolute lifetime). Every request re-reads the user and the account, on every instance, so a disabled
// admin, an admin whose group left `adminGroups`, a password admin after SSO-only was switched on or a
// session older than SESSION_ABSOLUTE_TTL_SECONDS can no longer import a certificate or change settings.
// Also: the session cookie alone must not authorise an admin API write another site makes (CSRF, CWE-352).
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import {
  ADMIN_TOKEN,
  adminGet,
  BASE_URL,
  cookiesFrom,
  createAccountWithIdp,
  me,
  patchSettings,
  postAcs,
  responseFor,
  SSO_URL,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { idpKey, rotatedIdpKey } from '../support/idp.js';

const PASSWORD = 'correct horse battery staple';
const ADMIN_GROUP = 'sp-admins';
const BOSS = { nameId: 'auth0|boss', email: 'boss@acme.test' } as const;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length) await cleanups.pop()!();
});

async function sp(overrides: Parameters<typeof startSp>[0] = {}): Promise<TestSp> {
  const t = await startSp(overrides);
  cleanups.push(() => t.close());
  await createAccountWithIdp(t, 'acme');
  return t;
}

/** Signs in through SSO as a member of the account's admin group; returns the browser's cookies. */
async function ssoAdmin(t: TestSp, on: TestSp = t): Promise<string[]> {
  await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
  const res = await postAcs(on, 'acme', responseFor(on, 'acme', { ...BOSS, groups: ['staff', ADMIN_GROUP] }));
  expect(res.status).toBe(303);
  const cookies = cookiesFrom(res);
  expect((await me(on, cookies).expect(200)).body).toMatchObject({ account: 'acme', role: 'admin' });
  return cookies;
}

/** Signs the local password admin in through the form, as a browser does. */
async function passwordAdmin(t: TestSp): Promise<string[]> {
  await createLocalAdmin(t.sp.stores, { account: 'acme', email: 'root@acme.test', password: PASSWORD });
  const form = await request(t.app).get('/login/password').expect(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
  expect(csrf).toBeDefined();
  const res = await request(t.app)
    .post('/login/password')
    .set('Cookie', cookiesFrom(form))
    .type('form')
    .send({ _csrf: csrf, account: 'acme', email: 'root@acme.test', password: PASSWORD });
  expect(res.status).toBe(303);
  const cookies = [...cookiesFrom(form), ...cookiesFrom(res)];
  expect((await me(t, cookies).expect(200)).body).toMatchObject({ account: 'acme', role: 'admin' });
  return cookies;
}

/** What a browser script of this origin sends with the session cookie. */
function importCertificate(
  t: TestSp,
  cookies: string[],
  headers: Record<string, string> = { Origin: BASE_URL },
) {
  return request(t.app)
    .put('/api/accounts/acme/saml')
    .set('Cookie', cookies)
    .set(headers)
    .send({ certificate: rotatedIdpKey.cert, ssoUrl: SSO_URL });
}

function changeSettings(
  t: TestSp,
  cookies: string[],
  headers: Record<string, string> = { Origin: BASE_URL },
) {
  return request(t.app)
    .patch('/api/accounts/acme')
    .set('Cookie', cookies)
    .set(headers)
    .send({ idpInitiated: false, allowedEmailDomains: ['evil.example'] });
}

/** The attacker's certificate is not trusted and the settings are as the real admin left them. */
async function expectUnchanged(t: TestSp): Promise<void> {
  const conn = await adminGet(t, '/api/accounts/acme/saml');
  const certificates = conn.body.certificates as { fingerprintSha256: string }[];
  expect(certificates.map((c) => c.fingerprintSha256)).toEqual([
    new X509Certificate(idpKey.cert).fingerprint256,
  ]);
  const account = await adminGet(t, '/api/accounts/acme');
  expect(account.body.settings).toMatchObject({ idpInitiated: true, allowedEmailDomains: [] });
}

/** The old session can neither import a certificate nor change settings, and /api/me says `status`. */
async function expectLocked(
  t: TestSp,
  cookies: string[],
  want: { status: 401; code: 'AUTH_REQUIRED' } | { status: 403; code: 'FORBIDDEN'; role: string },
): Promise<void> {
  const put = await importCertificate(t, cookies);
  expect(put.status).toBe(want.status);
  expect(put.body.error.code).toBe(want.code);
  const patch = await changeSettings(t, cookies);
  expect(patch.status).toBe(want.status);
  expect(patch.body.error.code).toBe(want.code);
  const who = await me(t, cookies);
  if (want.status === 401) {
    expect(who.status).toBe(401);
    expect(who.body.error.code).toBe('AUTH_REQUIRED');
  } else {
    expect(who.status).toBe(200);
    expect(who.body.role).toBe(want.role);
  }
  // The admin pages refuse too.
  const page = await request(t.app).get('/admin').set('Cookie', cookies);
  expect(page.status).toBe(want.status);
  await expectUnchanged(t);
}

/** A harmless write (the current value again) that an admin session may make. */
async function expectAdminWriteWorks(t: TestSp, cookies: string[]): Promise<void> {
  const res = await request(t.app)
    .patch('/api/accounts/acme')
    .set('Cookie', cookies)
    .set('Origin', BASE_URL)
    .send({ allowSha1: false });
  expect(res.status).toBe(200);
}

async function userIdOf(t: TestSp, nameId: string): Promise<string> {
  const account = await t.sp.stores.accounts.getBySlug('acme');
  const users = await t.sp.stores.users.listByAccount(account!.id);
  const user = users.find((u) => u.nameId === nameId);
  expect(user).toBeDefined();
  return user!.id;
}

describe('an admin session loses its rights as soon as they are taken away', () => {
  it('(a) SSO admin whose group leaves adminGroups: downgraded to member at the next request', async () => {
    const t = await sp();
    const cookies = await ssoAdmin(t);
    await expectAdminWriteWorks(t, cookies);

    // BOSS is the only admin: the operator accepts the lockout explicitly (test/security/sso-only-lockout).
    await patchSettings(t, 'acme', { adminGroups: ['someone-else'], acceptCliRecoveryOnly: true });
    await expectLocked(t, cookies, { status: 403, code: 'FORBIDDEN', role: 'member' });

    // The role follows the setting both ways: the same session is an admin again when the group is back.
    await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
    expect((await me(t, cookies).expect(200)).body.role).toBe('admin');
  });

  it('(b) SSO admin disabled: the session ends, and stays ended when the user is enabled again', async () => {
    const t = await sp();
    const cookies = await ssoAdmin(t);
    await expectAdminWriteWorks(t, cookies);

    expect(await t.sp.stores.users.setDisabled(await userIdOf(t, BOSS.nameId), true)).toBe(true);
    await expectLocked(t, cookies, { status: 401, code: 'AUTH_REQUIRED' });

    // Ended, not suspended: re-enabling the user does not bring the old cookie back to life.
    await t.sp.stores.users.setDisabled(await userIdOf(t, BOSS.nameId), false);
    await me(t, cookies).expect(401);
  });

  it('(c) password admin after SSO-only is switched on: the password session ends', async () => {
    const t = await sp();
    await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303); // one SSO login: connection active
    const cookies = await passwordAdmin(t);
    await expectAdminWriteWorks(t, cookies);

    // No SSO admin here: switching on needs the explicit acceptance (test/security/sso-only-lockout).
    await patchSettings(t, 'acme', { ssoOnly: true, acceptCliRecoveryOnly: true });
    await expectLocked(t, cookies, { status: 401, code: 'AUTH_REQUIRED' });
  });

  it('(d) password admin disabled like the CLI disable-user does: the session ends', async () => {
    const t = await sp();
    const cookies = await passwordAdmin(t);
    await expectAdminWriteWorks(t, cookies);

    // What `npm run cli -- disable-user --account acme --email root@acme.test` does.
    const account = await t.sp.stores.accounts.getBySlug('acme');
    const user = await t.sp.stores.users.findLocal(account!.id, 'root@acme.test');
    expect(await t.sp.stores.users.setDisabled(user!.id, true)).toBe(true);

    await expectLocked(t, cookies, { status: 401, code: 'AUTH_REQUIRED' });
  });

  it('(e) however active, a session ends SESSION_ABSOLUTE_TTL_SECONDS after sign-in', async () => {
    const t = await sp({ sessionTtlSeconds: 30 * 24 * 3600, sessionAbsoluteTtlSeconds: 3600 });
    const cookies = await ssoAdmin(t);
    const signedInAt = Date.now();
    const clock = vi.spyOn(Date, 'now');

    // Busy all along: the idle lifetime (30 days) never runs out.
    for (const minutes of [20, 40, 59]) {
      clock.mockReturnValue(signedInAt + minutes * 60_000);
      expect((await me(t, cookies)).status).toBe(200);
    }
    await expectAdminWriteWorks(t, cookies);

    clock.mockReturnValue(signedInAt + 61 * 60_000);
    await expectLocked(t, cookies, { status: 401, code: 'AUTH_REQUIRED' });

    // Ended for good: not a question of the clock any more.
    clock.mockRestore();
    await me(t, cookies).expect(401);
  });

  it('(f) on every instance: B refuses the session at once when the user is disabled through A', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sspk-stale-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const shared = {
      databaseUrl: `sqlite:${join(dir, 'shared.db')}`,
      sessionSecret: 'shared-session-secret-0123456789abcdef0123',
    };
    const A = await startSp(shared);
    cleanups.push(() => A.close());
    const B = await startSp(shared);
    cleanups.push(() => B.close());
    await createAccountWithIdp(A, 'acme');

    const cookies = await ssoAdmin(A);
    expect((await me(B, cookies).expect(200)).body.role).toBe('admin');
    await expectAdminWriteWorks(B, cookies);

    await A.sp.stores.users.setDisabled(await userIdOf(A, BOSS.nameId), true);
    await expectLocked(B, cookies, { status: 401, code: 'AUTH_REQUIRED' });
    await me(A, cookies).expect(401);
  });
});

describe('(g) the session cookie alone does not authorise an admin API write from another site', () => {
  it('refuses 403 CSRF_INVALID and changes nothing', async () => {
    const t = await sp();
    const cookies = await ssoAdmin(t);
    const crossSite: Record<string, string>[] = [
      { Origin: 'https://evil.example' },
      { Origin: 'http://localhost:3000.evil.example' },
      { Origin: 'null' },
      { 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'same-site' }, // a sibling subdomain is another site too
      { 'Sec-Fetch-Site': 'cross-site', Origin: BASE_URL },
    ];
    for (const headers of crossSite) {
      for (const res of [
        await importCertificate(t, cookies, headers),
        await changeSettings(t, cookies, headers),
        await request(t.app).delete('/api/accounts/acme/saml').set('Cookie', cookies).set(headers),
      ]) {
        expect({ headers, status: res.status, code: res.body.error?.code }).toEqual({
          headers,
          status: 403,
          code: 'CSRF_INVALID',
        });
      }
    }
    await expectUnchanged(t);
    // Still signed in (a refused write does not end the session), and the same write from this origin works.
    expect((await me(t, cookies).expect(200)).body.role).toBe('admin');
    const own = await importCertificate(t, cookies, { 'Sec-Fetch-Site': 'same-origin' });
    expect(own.status).toBe(200);
    expect(own.body.certificates[0].fingerprintSha256).toBe(
      new X509Certificate(rotatedIdpKey.cert).fingerprint256,
    );
    expect((await changeSettings(t, cookies, { Origin: BASE_URL })).status).toBe(200);
  });
  it('covers the POST and DELETE routes too: bots, bot tokens, setup links, test sign-ins, users', async () => {
    const t = await sp();
    const cookies = await ssoAdmin(t);
    const asOperator = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const bot = await request(t.app)
      .post('/api/accounts/acme/bots')
      .set(asOperator)
      .send({ name: 'ingest', role: 'member' })
      .expect(201);
    const link = await request(t.app)
      .post('/api/accounts/acme/setup-links')
      .set(asOperator)
      .send({})
      .expect(201);
    const userId = await userIdOf(t, BOSS.nameId);
    const writes = (headers: Record<string, string>) => [
      request(t.app)
        .post('/api/accounts/acme/bots')
        .set('Cookie', cookies)
        .set(headers)
        .send({ name: 'x', role: 'admin' }),
      request(t.app)
        .post(`/api/accounts/acme/bots/${bot.body.id}/tokens`)
        .set('Cookie', cookies)
        .set(headers)
        .send({}),
      request(t.app).delete(`/api/accounts/acme/bots/${bot.body.id}`).set('Cookie', cookies).set(headers),
      request(t.app)
        .delete(`/api/accounts/acme/setup-links/${link.body.id}`)
        .set('Cookie', cookies)
        .set(headers),
      request(t.app).post('/api/accounts/acme/saml/tests').set('Cookie', cookies).set(headers).send({}),
      request(t.app)
        .patch(`/api/accounts/acme/users/${userId}`)
        .set('Cookie', cookies)
        .set(headers)
        .send({ roleOverride: 'member' }),
    ];
    const crossSite: Record<string, string>[] = [
      { Origin: 'https://evil.example' },
      { Origin: 'null' },
      { 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'same-site' },
    ];
    for (const headers of crossSite) {
      for (const [i, res] of (await Promise.all(writes(headers))).entries()) {
        expect({ headers, write: i, status: res.status, code: res.body.error?.code }).toEqual({
          headers,
          write: i,
          status: 403,
          code: 'CSRF_INVALID',
        });
      }
    }
    // Nothing happened: one bot, no token, the link alive, no test sign-in, the admin still an admin.
    const bots = await request(t.app).get('/api/accounts/acme/bots').set(asOperator).expect(200);
    expect(bots.body.bots).toHaveLength(1);
    const tokens = await request(t.app)
      .get(`/api/accounts/acme/bots/${bot.body.id}/tokens`)
      .set(asOperator)
      .expect(200);
    expect(tokens.body.tokens).toHaveLength(0);
    const links = await request(t.app).get('/api/accounts/acme/setup-links').set(asOperator).expect(200);
    expect((links.body.links as { id: string }[]).map((l) => l.id)).toContain(link.body.id);
    expect((await me(t, cookies).expect(200)).body.role).toBe('admin');
    // From this origin, the same session may.
    const own = await request(t.app)
      .post('/api/accounts/acme/saml/tests')
      .set('Cookie', cookies)
      .set('Sec-Fetch-Site', 'same-origin')
      .send({});
    expect(own.status).toBe(201);
  });
});
