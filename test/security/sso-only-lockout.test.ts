// Administrator lockout (OWASP ASVS V2.5 "credential recovery", and the seed guides' "delete the
// default admin once SSO works"): switching off password sign-in (SSO-only) before any administrator
// has signed in with SSO, or disabling/demoting the last administrator who can still sign in, leaves an
// account that nobody can administer except the operator at the command line. The admin page and the
// admin API refuse both unless the caller explicitly accepts command-line-only recovery (SSO-only and
// settings), and the per-request session check ends the password sessions SSO-only switches off.
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
import { idpKey } from '../support/idp.js';

const PASSWORD = 'correct horse battery staple';
const ROOT = 'root@acme.test';
const ADMIN_GROUP = 'sp-admins';
const BOSS = { nameId: 'auth0|boss', email: 'boss@acme.test' } as const;
const JANE = { nameId: 'auth0|jane', email: 'jane@acme.test' } as const;
const AUTH = `Bearer ${ADMIN_TOKEN}`;

interface UserJson {
  id: string;
  kind: string;
  nameId: string;
  email: string | null;
  role: string;
  roleOverride: string | null;
  disabled: boolean;
}

let t: TestSp;
beforeEach(async () => {
  t = await startSp();
  await createAccountWithIdp(t, 'acme');
  await createLocalAdmin(t.sp.stores, { account: 'acme', email: ROOT, password: PASSWORD });
});
afterEach(async () => t.close());

/** Signs in through SSO (IdP-initiated, no confirmation in these accounts); returns the cookies. */
async function sso(who: { nameId: string; email: string }, groups: string[] = []): Promise<string[]> {
  const res = await postAcs(t, 'acme', responseFor(t, 'acme', { ...who, groups }));
  expect(res.status).toBe(303);
  return cookiesFrom(res);
}

/** Signs the local admin in through the password form; returns the cookies. */
async function passwordAdmin(): Promise<string[]> {
  const form = await request(t.app).get('/login/password').expect(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1];
  const res = await request(t.app)
    .post('/login/password')
    .set('Cookie', cookiesFrom(form))
    .type('form')
    .send({ _csrf: csrf, account: 'acme', email: ROOT, password: PASSWORD });
  expect(res.status).toBe(303);
  return [...cookiesFrom(form), ...cookiesFrom(res)];
}

async function users(): Promise<UserJson[]> {
  return (await adminGet(t, '/api/accounts/acme/users')).body.users as UserJson[];
}

async function idOf(match: string): Promise<string> {
  const user = (await users()).find((u) => u.email === match || u.nameId === match);
  expect(user, match).toBeDefined();
  return user!.id;
}

/** PATCH a user with the operator token, or as a signed-in admin when `cookies` are given. */
function patchUser(id: string, body: unknown, cookies?: string[]) {
  const req = request(t.app).patch(`/api/accounts/acme/users/${id}`);
  return (cookies ? req.set('Cookie', cookies).set('Origin', BASE_URL) : req.set('Authorization', AUTH)).send(
    body as object,
  );
}

function patchAccount(body: unknown, cookies?: string[]) {
  const req = request(t.app).patch('/api/accounts/acme');
  return (cookies ? req.set('Cookie', cookies).set('Origin', BASE_URL) : req.set('Authorization', AUTH)).send(
    body as object,
  );
}

async function settings(): Promise<Record<string, unknown>> {
  return (await adminGet(t, '/api/accounts/acme')).body.settings as Record<string, unknown>;
}

describe('SSO-only needs an administrator who has signed in with SSO', () => {
  it('is refused (409 SSO_ONLY_NO_SSO_ADMIN, naming the way out) while only members have signed in with SSO', async () => {
    await sso(JANE); // active connection, but Jane is a member
    await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
    const res = await patchAccount({ ssoOnly: true });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('SSO_ONLY_NO_SSO_ADMIN');
    expect(res.body.error.message).toContain('acceptCliRecoveryOnly');
    expect(res.body.error.message).toContain('Sign in once with single sign-on as an administrator');
    expect((await settings()).ssoOnly).toBe(false);
    // The password admin still gets in.
    await passwordAdmin();
  });

  it('does not count an SSO admin who is disabled, or demoted by a role override', async () => {
    await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
    await sso(BOSS, [ADMIN_GROUP]);
    const boss = await idOf(BOSS.nameId);

    expect((await patchUser(boss, { disabled: true })).status).toBe(200);
    expect((await patchAccount({ ssoOnly: true })).body.error.code).toBe('SSO_ONLY_NO_SSO_ADMIN');

    expect((await patchUser(boss, { disabled: false, roleOverride: 'member' })).status).toBe(200);
    expect((await patchAccount({ ssoOnly: true })).body.error.code).toBe('SSO_ONLY_NO_SSO_ADMIN');
    expect((await settings()).ssoOnly).toBe(false);
  });

  it('does not count an admin group that is no longer in adminGroups', async () => {
    await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
    await sso(BOSS, [ADMIN_GROUP]);
    const res = await patchAccount({ ssoOnly: true, adminGroups: ['another-group'] });
    expect(res.body.error?.code).toBe('SSO_ONLY_NO_SSO_ADMIN');
    expect(await settings()).toMatchObject({ ssoOnly: false, adminGroups: [ADMIN_GROUP] });
  });

  it('is allowed once an admin signed in with SSO (admin group), and ends the password sessions at once', async () => {
    const password = await passwordAdmin();
    await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
    const boss = await sso(BOSS, [ADMIN_GROUP]);

    // The password admin switches it on from their own session: allowed, and that session ends.
    const res = await patchAccount({ ssoOnly: true }, password);
    expect(res.status).toBe(200);
    expect(res.body.settings.ssoOnly).toBe(true);
    await me(t, password).expect(401);
    expect((await request(t.app).get('/admin').set('Cookie', password)).status).toBe(401);
    // The SSO admin keeps working.
    expect((await me(t, boss).expect(200)).body.role).toBe('admin');
  });

  it('is allowed once an SSO user was made admin by a role override and has signed in with SSO', async () => {
    await sso(JANE);
    expect((await patchUser(await idOf(JANE.nameId), { roleOverride: 'admin' })).status).toBe(200);
    const res = await patchAccount({ ssoOnly: true });
    expect(res.status).toBe(200);
  });

  it('is allowed without an SSO admin when the request accepts command-line-only recovery; the trail says so', async () => {
    await sso(JANE);
    const res = await patchAccount({ ssoOnly: true, acceptCliRecoveryOnly: true });
    expect(res.status).toBe(200);
    expect(res.body.settings).not.toHaveProperty('acceptCliRecoveryOnly');
    expect((await settings()).ssoOnly).toBe(true);
    const events = (await adminGet(t, '/api/accounts/acme/audit?code=SETTINGS_CHANGED')).body.events as {
      detail: string;
    }[];
    expect(events[0]!.detail).toContain('ssoOnly: false -> true');
    expect(events[0]!.detail).toContain('by the operator (admin API token)');
    expect(events[0]!.detail).toContain('command line only accepted');
  });

  it('still needs an active connection, accepted or not', async () => {
    await t.sp.stores.connections.delete((await t.sp.stores.accounts.getBySlug('acme'))!.id);
    const res = await patchAccount({ ssoOnly: true, acceptCliRecoveryOnly: true });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('SETTINGS_INVALID');
  });

  it('the admin page names the SSO admins (and their last sign-in), or says why the switch is refused', async () => {
    const password = await passwordAdmin();
    const before = await request(t.app).get('/admin').set('Cookie', password).expect(200);
    expect(before.text).toContain('No administrator has signed in with single sign-on yet.');
    expect(before.text).toContain('name="acceptCliRecoveryOnly"');

    await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
    await sso(BOSS, [ADMIN_GROUP]);
    await sso(JANE);
    const after = await request(t.app).get('/admin').set('Cookie', password).expect(200);
    const block = /<div class="sso-admins">[\s\S]*?<\/div>/.exec(after.text)?.[0] ?? '';
    expect(block).toContain(BOSS.email);
    expect(block).toMatch(/last sign-in \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(block).not.toContain(JANE.email);
    expect(after.text).not.toContain('No administrator has signed in with single sign-on yet.');
  });
});

describe('the lockout rule: the last administrator who can sign in cannot be disabled or demoted', () => {
  it('refuses the only (password) admin disabling or demoting themselves, and changes nothing', async () => {
    const password = await passwordAdmin();
    const root = await idOf(ROOT);
    for (const body of [
      { disabled: true },
      { roleOverride: 'member' },
      { disabled: true, roleOverride: 'admin' },
    ]) {
      const res = await patchUser(root, body, password);
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({
        body,
        status: 409,
        code: 'LAST_ADMIN',
      });
    }
    // The operator token is held to the same rule.
    expect((await patchUser(root, { disabled: true })).body.error?.code).toBe('LAST_ADMIN');
    expect((await users()).find((u) => u.id === root)).toMatchObject({ disabled: false, roleOverride: null });
    expect((await me(t, password).expect(200)).body.role).toBe('admin');
    // Pinning the role it already has is no loss.
    expect((await patchUser(root, { roleOverride: 'admin' }, password)).status).toBe(200);
  });

  it('allows it once another admin can sign in; the change ends or downgrades the session at once', async () => {
    const password = await passwordAdmin();
    await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
    await sso(BOSS, [ADMIN_GROUP]);
    const res = await patchUser(await idOf(ROOT), { disabled: true }, password);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ email: ROOT, disabled: true });
    await me(t, password).expect(401);
  });

  it('counts only admins who can sign in: with SSO-only on, the password admin is no rescue for the last SSO admin', async () => {
    await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
    const boss = await sso(BOSS, [ADMIN_GROUP]);
    const bossId = await idOf(BOSS.nameId);
    // Before SSO-only the password admin remains: demoting the SSO admin is fine, and is undone.
    expect((await patchUser(bossId, { roleOverride: 'member' })).status).toBe(200);
    expect((await patchUser(bossId, { roleOverride: null })).status).toBe(200);

    expect((await patchAccount({ ssoOnly: true })).status).toBe(200);
    for (const body of [{ disabled: true }, { roleOverride: 'member' }]) {
      const res = await patchUser(bossId, body, boss);
      expect({ body, code: res.body.error?.code }).toEqual({ body, code: 'LAST_ADMIN' });
    }
    // Editing adminGroups so that nobody is an admin any more is the same loss.
    const groups = await patchAccount({ adminGroups: [] }, boss);
    expect(groups.status).toBe(409);
    expect(groups.body.error.code).toBe('LAST_ADMIN');
    expect((await settings()).adminGroups).toEqual([ADMIN_GROUP]);
    expect((await me(t, boss).expect(200)).body.role).toBe('admin');
    // …unless the operator accepts command-line-only recovery.
    expect((await patchAccount({ adminGroups: [], acceptCliRecoveryOnly: true })).status).toBe(200);
    expect((await me(t, boss).expect(200)).body.role).toBe('member');
  });

  it('does not count an SSO admin orphaned by a connection delete until they sign in through the new one', async () => {
    const password = await passwordAdmin();
    await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
    await sso(BOSS, [ADMIN_GROUP]);
    await request(t.app).delete('/api/accounts/acme/saml').set('Authorization', AUTH).expect(204);
    await request(t.app)
      .put('/api/accounts/acme/saml')
      .set('Authorization', AUTH)
      .send({ certificate: idpKey.cert, ssoUrl: SSO_URL })
      .expect(200);
    await sso(JANE); // the new connection works (active), for Jane
    const root = await idOf(ROOT);
    expect((await patchUser(root, { disabled: true }, password)).body.error?.code).toBe('LAST_ADMIN');
    expect((await patchAccount({ ssoOnly: true })).body.error?.code).toBe('SSO_ONLY_NO_SSO_ADMIN');
    // Once the boss signed in through the new connection, they count again.
    await sso(BOSS, [ADMIN_GROUP]);
    expect((await patchUser(root, { disabled: true }, password)).status).toBe(200);
  });

  it('does not block anything in an account that has no usable admin to lose', async () => {
    await sso(JANE);
    const root = await idOf(ROOT);
    // Root disabled by the operator at the command line (no rule there): nobody can administer now.
    await t.sp.stores.users.setDisabled(root, true);
    expect((await patchUser(await idOf(JANE.nameId), { disabled: true })).status).toBe(200);
    expect((await patchUser(await idOf(JANE.nameId), { disabled: false })).status).toBe(200);
  });

  it('two admins demoting each other at the same moment leave one admin', async () => {
    await sso(BOSS);
    await sso(JANE);
    const boss = await idOf(BOSS.nameId);
    const jane = await idOf(JANE.nameId);
    for (const id of [boss, jane]) expect((await patchUser(id, { roleOverride: 'admin' })).status).toBe(200);
    await patchAccount({ ssoOnly: true }); // the password admin no longer counts
    const results = await Promise.all([
      patchUser(boss, { roleOverride: 'member' }),
      patchUser(jane, { roleOverride: 'member' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect((await users()).filter((u) => u.role === 'admin' && u.kind === 'sso')).toHaveLength(1);
  });
});
