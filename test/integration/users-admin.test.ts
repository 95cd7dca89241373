// The account's users as admins manage them: the list (API and page) with IdP groups as last received,
// how each user last signed in, the effective role and the last sign-in; disabling and enabling any
// user (SSO users too) ends their sessions at once; a role override takes effect on the next request of
// a session that already exists; the same from the operator's command line.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { provisionUser } from '../../src/users/provision.js';
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
  startLogin,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { decodeRedirect } from '../support/idp.js';

const PASSWORD = 'correct horse battery staple';
const ROOT = 'root@acme.test';
const AUTH = `Bearer ${ADMIN_TOKEN}`;
const ADMIN_GROUP = 'sp-admins';
const BOSS = { nameId: 'auth0|boss', email: 'boss@acme.test' } as const;
const JANE = { nameId: 'auth0|jane', email: 'jane@acme.test' } as const;

interface UserJson {
  id: string;
  kind: 'sso' | 'local';
  nameId: string;
  email: string | null;
  name: string | null;
  groups: string[];
  role: 'admin' | 'member';
  roleOverride: 'admin' | 'member' | null;
  disabled: boolean;
  createdAt: string;
  lastLoginAt: string | null;
  lastLoginFlow: string | null;
  connectionId: string | null;
}

let t: TestSp;
beforeEach(async () => {
  t = await startSp();
  await createAccountWithIdp(t, 'acme');
  await createLocalAdmin(t.sp.stores, { account: 'acme', email: ROOT, password: PASSWORD });
  await patchSettings(t, 'acme', { adminGroups: [ADMIN_GROUP] });
});
afterEach(async () => t.close());

async function sso(who: { nameId: string; email: string }, groups: string[] = []): Promise<string[]> {
  const res = await postAcs(t, 'acme', responseFor(t, 'acme', { ...who, groups }));
  expect(res.status).toBe(303);
  return cookiesFrom(res);
}

async function passwordAdmin(): Promise<{ cookies: string[]; csrf: string }> {
  const form = await request(t.app).get('/login/password').expect(200);
  const res = await request(t.app)
    .post('/login/password')
    .set('Cookie', cookiesFrom(form))
    .type('form')
    .send({ _csrf: csrfOf(form.text), account: 'acme', email: ROOT, password: PASSWORD });
  expect(res.status).toBe(303);
  const cookies = [...cookiesFrom(form), ...cookiesFrom(res)];
  const page = await request(t.app).get('/admin').set('Cookie', cookies).expect(200);
  return { cookies, csrf: csrfOf(page.text) };
}

function csrfOf(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  expect(token).toBeDefined();
  return token!;
}

async function list(): Promise<UserJson[]> {
  return (await adminGet(t, '/api/accounts/acme/users')).body.users as UserJson[];
}

async function user(match: string): Promise<UserJson> {
  const found = (await list()).find((u) => u.email === match || u.nameId === match);
  expect(found, match).toBeDefined();
  return found!;
}

function patchUser(id: string, body: unknown) {
  return request(t.app)
    .patch(`/api/accounts/acme/users/${id}`)
    .set('Authorization', AUTH)
    .send(body as object);
}

describe('GET /api/accounts/:slug/users', () => {
  it('lists each user with groups as last received, flow, effective role and last sign-in; never a password hash', async () => {
    await sso(BOSS, ['staff', ADMIN_GROUP]);
    await sso(JANE, ['staff', 'designers']);
    await passwordAdmin();

    const users = await list();
    expect(users.map((u) => u.kind)).toEqual(['local', 'sso', 'sso']);
    for (const u of users) {
      expect(Object.keys(u).sort()).toEqual(
        [
          'connectionId',
          'createdAt',
          'disabled',
          'email',
          'groups',
          'id',
          'kind',
          'lastLoginAt',
          'lastLoginFlow',
          'name',
          'nameId',
          'oidcConnectionId',
          'protocol',
          'role',
          'roleOverride',
        ].sort(),
      );
    }
    const text = JSON.stringify(users);
    expect(text).not.toContain('scrypt');
    expect(text).not.toMatch(/password_?hash/i);

    expect(await user(ROOT)).toMatchObject({
      kind: 'local',
      role: 'admin',
      roleOverride: null,
      groups: [],
      lastLoginFlow: 'password',
      disabled: false,
    });
    expect((await user(ROOT)).lastLoginAt).not.toBeNull();
    expect(await user(BOSS.nameId)).toMatchObject({
      kind: 'sso',
      email: BOSS.email,
      groups: ['staff', ADMIN_GROUP],
      role: 'admin',
      lastLoginFlow: 'idp-initiated',
    });
    expect(await user(JANE.nameId)).toMatchObject({ role: 'member', groups: ['staff', 'designers'] });

    // Groups are as the IdP last sent them; the role follows the current adminGroups at once.
    await sso(JANE, ['designers']);
    await patchSettings(t, 'acme', { adminGroups: ['designers', ADMIN_GROUP] });
    expect(await user(JANE.nameId)).toMatchObject({ groups: ['designers'], role: 'admin' });
  });

  it('records how each user last signed in: SP-initiated, IdP-initiated, after the confirmation step, by password', async () => {
    // SP-initiated: the response answers our AuthnRequest.
    const login = await startLogin(t, 'acme');
    const answer = responseFor(t, 'acme', { ...JANE, inResponseTo: login.request.id });
    await postAcs(t, 'acme', answer, { cookie: login.cookies }).expect(303);
    const first = await user(JANE.nameId);
    expect(first.lastLoginFlow).toBe('sp-initiated');

    // IdP-initiated, later: flow and time move on.
    await new Promise((r) => setTimeout(r, 5));
    await sso(JANE);
    const second = await user(JANE.nameId);
    expect(second.lastLoginFlow).toBe('idp-initiated');
    expect(Date.parse(second.lastLoginAt!)).toBeGreaterThan(Date.parse(first.lastLoginAt!));

    // With the confirmation step (the default for real accounts): recorded when the user confirms.
    await patchSettings(t, 'acme', { loginConfirmation: true });
    for (const start of ['idp', 'cross-site-sp'] as const) {
      let cookies: string[] = [];
      let inResponseTo: string | undefined;
      if (start === 'cross-site-sp') {
        const res = await request(t.app)
          .get('/sso/acme/login')
          .set('Sec-Fetch-Site', 'cross-site')
          .expect(302);
        cookies = cookiesFrom(res);
        inResponseTo = decodeRedirect(res.headers.location as string).id;
      }
      const held = await postAcs(
        t,
        'acme',
        responseFor(t, 'acme', { ...BOSS, ...(inResponseTo ? { inResponseTo } : {}) }),
        { cookie: cookies },
      ).expect(200);
      const confirmation = held.body.confirmation as { token: string };
      const before = (await list()).find((u) => u.nameId === BOSS.nameId);
      await request(t.app)
        .post('/sso/acme/confirm')
        .set('Origin', BASE_URL)
        .set('Cookie', [...cookies, ...cookiesFrom(held)].join('; '))
        .type('form')
        .send({ token: confirmation.token })
        .expect(303);
      const after = await user(BOSS.nameId);
      expect(after.lastLoginFlow).toBe(start === 'idp' ? 'idp-initiated' : 'sp-initiated');
      if (before) expect(Date.parse(after.lastLoginAt!)).toBeGreaterThan(Date.parse(before.lastLoginAt!));
    }

    // Password: the local admin had never signed in.
    expect((await user(ROOT)).lastLoginAt).toBeNull();
    await passwordAdmin();
    expect(await user(ROOT)).toMatchObject({ lastLoginFlow: 'password' });
    expect((await user(ROOT)).lastLoginAt).not.toBeNull();
  });
});

describe('PATCH /api/accounts/:slug/users/:userId', () => {
  it('refuses unknown fields and wrong types with a message naming the field, and changes nothing', async () => {
    await sso(JANE);
    const jane = await user(JANE.nameId);
    const cases: [unknown, string][] = [
      [{ disabled: true, role: 'admin' }, '"role"'],
      [{ disabled: 'yes' }, '"disabled"'],
      [{ roleOverride: 'owner' }, '"roleOverride"'],
      [{ passwordHash: 'x' }, '"passwordHash"'],
      [{}, '"disabled"'],
      [[], 'JSON object'],
    ];
    for (const [body, named] of cases) {
      const res = await patchUser(jane.id, body);
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({
        body,
        status: 400,
        code: 'REQUEST_INVALID',
      });
      expect(res.body.error.message, JSON.stringify(body)).toContain(named);
    }
    expect(await user(JANE.nameId)).toEqual(jane);
  });

  it('404 USER_NOT_FOUND for an unknown id or another account’s user; 403 for another account’s admin', async () => {
    await createAccountWithIdp(t, 'globex');
    await postAcs(t, 'globex', responseFor(t, 'globex', { nameId: 'auth0|g' })).expect(303);
    const globexUser = ((await adminGet(t, '/api/accounts/globex/users')).body.users as UserJson[])[0]!;
    for (const id of [globexUser.id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await patchUser(id, { disabled: true });
      expect({ id, status: res.status, code: res.body.error?.code }).toEqual({
        id,
        status: 404,
        code: 'USER_NOT_FOUND',
      });
    }
    const { cookies } = await passwordAdmin();
    const cross = await request(t.app)
      .patch(`/api/accounts/globex/users/${globexUser.id}`)
      .set('Cookie', cookies)
      .set('Origin', BASE_URL)
      .send({ disabled: true });
    expect(cross.status).toBe(403);
    expect(((await adminGet(t, '/api/accounts/globex/users')).body.users as UserJson[])[0]!.disabled).toBe(
      false,
    );
  });

  it('disabling an SSO user ends their session at once; their next sign-in is refused; enabling lets them sign in again', async () => {
    const jane = await sso(JANE);
    await me(t, jane).expect(200);
    const id = (await user(JANE.nameId)).id;

    const res = await patchUser(id, { disabled: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, disabled: true, kind: 'sso' });
    await me(t, jane).expect(401);

    const again = await postAcs(t, 'acme', responseFor(t, 'acme', JANE));
    expect(again.status).toBe(403);
    expect(again.body.error.code).toBe('USER_IS_DISABLED');

    expect((await patchUser(id, { disabled: false })).status).toBe(200);
    await me(t, jane).expect(401); // ended, not suspended
    await me(t, await sso(JANE)).expect(200);
  });

  it('a role override takes effect on the next request of a session that already exists, both ways', async () => {
    const jane = await sso(JANE, ['staff']);
    const boss = await sso(BOSS, [ADMIN_GROUP]);
    expect((await me(t, jane).expect(200)).body.role).toBe('member');
    await request(t.app).get('/admin').set('Cookie', jane).expect(403);

    const promoted = await patchUser((await user(JANE.nameId)).id, { roleOverride: 'admin' });
    expect(promoted.body).toMatchObject({ role: 'admin', roleOverride: 'admin' });
    expect((await me(t, jane).expect(200)).body.role).toBe('admin');
    await request(t.app).get('/admin').set('Cookie', jane).expect(200);

    // An override wins over the admin group, and "automatic" (null) gives the group back its say.
    const bossId = (await user(BOSS.nameId)).id;
    expect((await patchUser(bossId, { roleOverride: 'member' })).body.role).toBe('member');
    expect((await me(t, boss).expect(200)).body.role).toBe('member');
    await request(t.app).get('/admin').set('Cookie', boss).expect(403);
    expect((await patchUser(bossId, { roleOverride: null })).body).toMatchObject({
      role: 'admin',
      roleOverride: null,
    });
    expect((await me(t, boss).expect(200)).body.role).toBe('admin');
    // The override survives the next sign-in (provisioning rewrites groups, never the admin's decision).
    await patchUser(bossId, { roleOverride: 'member' });
    const fresh = await sso(BOSS, [ADMIN_GROUP]);
    expect((await me(t, fresh).expect(200)).body.role).toBe('member');
  });

  it('provisioning hands the session the effective role (the override), not the one the groups give', async () => {
    await sso(BOSS, [ADMIN_GROUP]);
    const boss = await user(BOSS.nameId);
    await patchUser(boss.id, { roleOverride: 'member' }).expect(200);
    const account = (await t.sp.stores.accounts.getBySlug('acme'))!;
    const connection = (await t.sp.stores.connections.getByAccount(account.id))!;
    const profile = {
      email: BOSS.email,
      name: null,
      givenName: null,
      familyName: null,
      groups: [ADMIN_GROUP],
    };
    const provisioned = await provisionUser(
      t.sp.stores.users,
      account,
      connection,
      BOSS.nameId,
      profile,
      {},
      undefined,
      'sp-initiated',
    );
    expect(provisioned).toMatchObject({ id: boss.id, role: 'member', created: false });
  });

  it('puts every change in the trail with who made it', async () => {
    await sso(JANE);
    const id = (await user(JANE.nameId)).id;
    const { cookies } = await passwordAdmin();
    await request(t.app)
      .patch(`/api/accounts/acme/users/${id}`)
      .set('Cookie', cookies)
      .set('Origin', BASE_URL)
      .send({ disabled: true, roleOverride: 'admin' })
      .expect(200);
    await patchUser(id, { disabled: false }).expect(200);
    const events = (await adminGet(t, '/api/accounts/acme/audit?limit=3')).body.events as {
      code: string;
      subject: string;
      userId: string;
      detail: string;
    }[];
    expect(events.map((e) => e.code)).toEqual(['USER_ENABLED', 'USER_ROLE_CHANGED', 'USER_DISABLED']);
    for (const e of events) expect(e).toMatchObject({ subject: JANE.email, userId: id });
    expect(events[0]!.detail).toContain('by the operator (admin API token)');
    expect(events[1]!.detail).toContain('none (automatic) -> admin');
    expect(events[1]!.detail).toContain(`by ${ROOT}`);
    expect(events[2]!.detail).toContain(`by ${ROOT}`);
    const filtered = await adminGet(t, '/api/accounts/acme/audit?code=USER_DISABLED');
    expect(filtered.body.events).toHaveLength(1);
  });
});

describe('the users table of the admin page', () => {
  it('shows groups, flow, role (override marked) and last sign-in, and scrolls inside its box', async () => {
    await sso(BOSS, ['staff', ADMIN_GROUP]);
    await sso(JANE, ['designers']);
    await patchUser((await user(JANE.nameId)).id, { roleOverride: 'admin' });
    const { cookies } = await passwordAdmin();
    const page = await request(t.app).get('/admin').set('Cookie', cookies).expect(200);
    const table = /<table class="users">[\s\S]*?<\/table>/.exec(page.text)?.[0] ?? '';
    expect(table).toContain('<code>staff</code>, <code>sp-admins</code>');
    expect(table).toContain('<code>designers</code>');
    expect(table).toContain('set by an admin');
    expect(table).toContain('(from groups)');
    expect(table).toContain('SSO, from the IdP');
    expect(table).toContain('password');
    expect(table).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(page.text).toMatch(/<div class="table-wrap" tabindex="0" role="region" aria-label="Users">/);
    // Every row has CSRF-protected Disable and role forms.
    expect(table.match(/<form method="post" action="\/admin\/users\/[0-9a-f-]{36}"/g)).toHaveLength(6);
    expect(table.match(/name="_csrf"/g)).toHaveLength(6);
  });

  it('disables, enables and sets roles through the forms; refuses a post without the CSRF token and the last admin', async () => {
    const jane = await sso(JANE);
    const id = (await user(JANE.nameId)).id;
    const { cookies, csrf } = await passwordAdmin();
    const post = (target: string, fields: Record<string, string>) =>
      request(t.app).post(`/admin/users/${target}`).set('Cookie', cookies).type('form').send(fields);

    // Nobody but an admin of the account: anonymous, a member, with or without a token.
    const anonymous = await request(t.app).post(`/admin/users/${id}`).type('form').send({ disabled: 'true' });
    expect(anonymous.status).toBe(401);
    const member = await request(t.app)
      .post(`/admin/users/${id}`)
      .set('Cookie', jane)
      .type('form')
      .send({ _csrf: csrf, disabled: 'true' });
    expect(member.status).toBe(403);

    const forged = await post(id, { disabled: 'true' });
    expect(forged.status).toBe(403);
    expect(forged.text).toContain('CSRF_INVALID');
    expect((await user(JANE.nameId)).disabled).toBe(false);

    await post(id, { _csrf: csrf, disabled: 'true' })
      .expect(303)
      .expect('Location', '/admin?saved=user#users');
    expect((await user(JANE.nameId)).disabled).toBe(true);
    await me(t, jane).expect(401);
    await post(id, { _csrf: csrf, disabled: 'false' }).expect(303);
    await post(id, { _csrf: csrf, role: 'admin' }).expect(303);
    expect(await user(JANE.nameId)).toMatchObject({ disabled: false, roleOverride: 'admin', role: 'admin' });
    await post(id, { _csrf: csrf, role: 'auto' }).expect(303);
    expect(await user(JANE.nameId)).toMatchObject({ roleOverride: null, role: 'member' });
    expect((await post(id, { _csrf: csrf, role: 'owner' })).status).toBe(400);

    // The only admin demoting themselves: refused on the page with the reason, nothing changed.
    const self = await post((await user(ROOT)).id, { _csrf: csrf, role: 'member' });
    expect(self.status).toBe(409);
    expect(self.text).toContain('LAST_ADMIN');
    expect(self.text).toContain('without an administrator who can sign in');
    expect((await user(ROOT)).roleOverride).toBeNull();
  });
});

describe('the operator CLI for users', () => {
  // Each CLI process compiles TypeScript on start: slow on a busy 2-core machine.
  it(
    'disables and enables SSO and local users by e-mail or NameID, sets roles, and says who the SSO admins are',
    { timeout: 180_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sspk-cli-users-'));
      const databaseUrl = `sqlite:${join(dir, 'cli.db')}`;
      const { BASE_URL: _vite, ...inherited } = process.env;
      const env = { ...inherited, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' };
      const cli = (...args: string[]) =>
        spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
          env,
          encoding: 'utf8',
          timeout: 60_000,
        });
      const sp = await startSp({ databaseUrl });
      try {
        await createAccountWithIdp(sp, 'acme');
        await createLocalAdmin(sp.sp.stores, { account: 'acme', email: ROOT, password: PASSWORD });
        const jane = await postAcs(sp, 'acme', responseFor(sp, 'acme', JANE)).expect(303);
        const janeCookies = cookiesFrom(jane);
        await me(sp, janeCookies).expect(200);

        // An SSO user, by NameID: the session of the running app ends at once.
        const off = cli('disable-user', '--account', 'acme', '--name-id', JANE.nameId);
        expect(off.stderr).toBe('');
        expect(off.status).toBe(0);
        expect(off.stdout).toContain(`disabled sso user ${JANE.email} in acme`);
        expect(off.stdout).toContain('WARNING: no administrator can sign in with single sign-on');
        await me(sp, janeCookies).expect(401);

        // By e-mail, which finds SSO users too; the role: the CLI bypasses nothing it should not.
        const on = cli('enable-user', '--account', 'acme', '--email', JANE.email);
        expect(on.status).toBe(0);
        const role = cli('set-role', '--account', 'acme', '--email', JANE.email, '--role', 'admin');
        expect(role.status).toBe(0);
        expect(role.stdout).toContain(`sso user ${JANE.email} in acme: role admin (set by the operator)`);
        expect(role.stdout).toContain(`administrators who can sign in with SSO: ${JANE.email}`);
        const session = await postAcs(sp, 'acme', responseFor(sp, 'acme', JANE)).expect(303);
        expect((await me(sp, cookiesFrom(session)).expect(200)).body.role).toBe('admin');

        // SSO-only on from the command line names who keeps access.
        const ssoOnly = cli('sso-only', 'acme', 'on');
        expect(ssoOnly.status).toBe(0);
        expect(ssoOnly.stdout).toContain(`administrators who can sign in with SSO: ${JANE.email}`);

        // The operator may remove the last admin (the recovery tool), and is told.
        const auto = cli('set-role', '--account', 'acme', '--name-id', JANE.nameId, '--role', 'auto');
        expect(auto.status).toBe(0);
        expect(auto.stdout).toContain('role member (automatic)');
        expect(auto.stdout).toContain('WARNING');
        // A local user by e-mail; a user nobody has; both or neither selector.
        expect(cli('disable-user', '--account', 'acme', '--email', ROOT).status).toBe(0);
        const missing = cli('disable-user', '--account', 'acme', '--email', 'nobody@acme.test');
        expect(missing.status).toBe(1);
        expect(missing.stderr).toContain('USER_NOT_FOUND');
        const neither = cli('enable-user', '--account', 'acme');
        expect(neither.status).toBe(1);
        expect(neither.stderr).toContain('--email or with --name-id');

        const users = (await adminGet(sp, '/api/accounts/acme/users')).body.users as UserJson[];
        expect(users.find((u) => u.email === ROOT)?.disabled).toBe(true);
        expect(users.find((u) => u.nameId === JANE.nameId)).toMatchObject({
          disabled: false,
          roleOverride: null,
        });
        const trail = (await adminGet(sp, '/api/accounts/acme/audit?limit=100')).body.events as {
          code: string;
          detail: string | null;
        }[];
        const byCli = trail.filter((e) => e.detail?.includes('by the operator (command line)'));
        expect(byCli.map((e) => e.code)).toEqual([
          'USER_DISABLED',
          'USER_ROLE_CHANGED',
          'SETTINGS_CHANGED',
          'USER_ROLE_CHANGED',
          'USER_ENABLED',
          'USER_DISABLED',
        ]);
      } finally {
        await sp.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
