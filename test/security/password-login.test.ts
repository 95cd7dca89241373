// Local password accounts (the bootstrap admin) and "SSO only": once SSO works an admin switches off
// password sign-in, as the seed guides demand of default admin accounts (OWASP ASVS 2.1 / 2.2; login
// CSRF per Barth et al., "Robust Defenses for Cross-Site Request Forgery", 2008).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { cliRunner } from '../support/cli.js';
import {
  adminGet,
  cookiesFrom,
  createAccountWithIdp,
  me,
  patchSettings,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';

const PASSWORD = 'correct horse battery staple';

async function loginForm(t: TestSp): Promise<{ csrf: string; cookies: string[] }> {
  const res = await request(t.app).get('/login/password').expect(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(res.text)?.[1];
  expect(csrf).toBeDefined();
  return { csrf: csrf!, cookies: cookiesFrom(res) };
}

async function passwordLogin(t: TestSp, fields: Record<string, string>, withCsrf = true) {
  const form = await loginForm(t);
  return request(t.app)
    .post('/login/password')
    .set('Cookie', form.cookies)
    .set('Accept', 'application/json')
    .type('form')
    .send({ ...(withCsrf ? { _csrf: form.csrf } : {}), ...fields });
}

describe('local password sign-in and SSO-only', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    await createLocalAdmin(t.sp.stores, { account: 'acme', email: 'Admin@Acme.test', password: PASSWORD });
  });
  afterEach(async () => t.close());

  it('signs the bootstrap admin in with the right password, as an admin of its account', async () => {
    const res = await passwordLogin(t, { account: 'acme', email: 'admin@acme.test', password: PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/admin');
    const who = await me(t, cookiesFrom(res)).expect(200);
    expect(who.body).toMatchObject({ email: 'admin@acme.test', account: 'acme', role: 'admin' });
  });

  it('gives the same LOGIN_FAILED for a wrong password, an unknown e-mail and an unknown account', async () => {
    for (const fields of [
      { account: 'acme', email: 'admin@acme.test', password: 'wrong password!!' },
      { account: 'acme', email: 'nobody@acme.test', password: PASSWORD },
      { account: 'nope', email: 'admin@acme.test', password: PASSWORD },
    ]) {
      const res = await passwordLogin(t, fields);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('LOGIN_FAILED');
      await me(t, cookiesFrom(res)).expect(401);
    }
  });

  it('refuses a login form posted without the CSRF token (login CSRF)', async () => {
    const res = await passwordLogin(
      t,
      { account: 'acme', email: 'admin@acme.test', password: PASSWORD },
      false,
    );
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('CSRF_INVALID');
  });

  it('refuses a disabled local user', async () => {
    const user = await t.sp.stores.users.findLocal(
      (await t.sp.stores.accounts.getBySlug('acme'))!.id,
      'admin@acme.test',
    );
    await t.sp.stores.users.setDisabled(user!.id, true);
    const res = await passwordLogin(t, { account: 'acme', email: 'admin@acme.test', password: PASSWORD });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('LOGIN_FAILED');
  });

  it('turns password sign-in off once SSO-only is on, answering exactly like an unknown account', async () => {
    await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303); // SSO works: connection active
    // (that SSO user is no admin: the switch needs the explicit acceptance, see sso-only-lockout)
    await patchSettings(t, 'acme', { ssoOnly: true, acceptCliRecoveryOnly: true });
    const res = await passwordLogin(t, { account: 'acme', email: 'admin@acme.test', password: PASSWORD });
    const unknown = await passwordLogin(t, {
      account: 'nobody',
      email: 'admin@acme.test',
      password: PASSWORD,
    });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('LOGIN_FAILED');
    // No oracle (which accounts exist and are SSO-only) and no operator command on a public page.
    expect({ ...res.body.error, referenceId: null }).toEqual({ ...unknown.body.error, referenceId: null });
    expect(JSON.stringify(res.body)).not.toContain('npm run cli');
    expect(JSON.stringify(res.body)).not.toContain('sso-only');
    await me(t, cookiesFrom(res)).expect(401);
    // SSO keeps working.
    const sso = await postAcs(t, 'acme', responseFor(t, 'acme'));
    expect(sso.status).toBe(303);
    // The way back in.
    await patchSettings(t, 'acme', { ssoOnly: false });
    expect(
      (await passwordLogin(t, { account: 'acme', email: 'admin@acme.test', password: PASSWORD })).status,
    ).toBe(303);
  });
});

describe('the audit trail of password sign-ins', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    await createLocalAdmin(t.sp.stores, { account: 'acme', email: 'admin@acme.test', password: PASSWORD });
  });
  afterEach(async () => t.close());

  const eventOf = async (ref: string) =>
    (await adminGet(t, `/api/accounts/acme/audit/${ref}`)).body as Record<string, unknown>;

  it('records a success (who, from where) and the user’s last sign-in', async () => {
    const res = await passwordLogin(t, { account: 'acme', email: 'admin@acme.test', password: PASSWORD });
    expect(res.status).toBe(303);
    const events = (await adminGet(t, '/api/accounts/acme/audit?code=OK')).body.events as Record<
      string,
      unknown
    >[];
    const user = await t.sp.stores.users.findLocal(
      (await t.sp.stores.accounts.getBySlug('acme'))!.id,
      'admin@acme.test',
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      outcome: 'success',
      code: 'OK',
      subject: 'admin@acme.test',
      userId: user!.id,
      detail: 'password sign-in',
    });
    expect(events[0]!.clientIp).toBeTruthy();
    expect(user).toMatchObject({ lastLoginFlow: 'password' });
    expect(user!.lastLoginAt).not.toBeNull();
  });

  it('records every refusal under the reference the answer carries, with the reason only admins see', async () => {
    const user = await t.sp.stores.users.findLocal(
      (await t.sp.stores.accounts.getBySlug('acme'))!.id,
      'admin@acme.test',
    );
    const wrong = await passwordLogin(t, {
      account: 'acme',
      email: 'admin@acme.test',
      password: 'nope nope nope',
    });
    const unknown = await passwordLogin(t, { account: 'acme', email: 'ghost@acme.test', password: PASSWORD });
    const noCsrf = await passwordLogin(
      t,
      { account: 'acme', email: 'admin@acme.test', password: PASSWORD },
      false,
    );
    await t.sp.stores.users.setDisabled(user!.id, true);
    const disabled = await passwordLogin(t, {
      account: 'acme',
      email: 'admin@acme.test',
      password: PASSWORD,
    });
    await t.sp.stores.users.setDisabled(user!.id, false);
    await postAcs(t, 'acme', responseFor(t, 'acme')).expect(303);
    await patchSettings(t, 'acme', { ssoOnly: true, acceptCliRecoveryOnly: true });
    const ssoOnly = await passwordLogin(t, { account: 'acme', email: 'admin@acme.test', password: PASSWORD });

    const cases = [
      [wrong, 'LOGIN_FAILED', 'wrong password', 'admin@acme.test'],
      [unknown, 'LOGIN_FAILED', 'no local user with this e-mail', 'ghost@acme.test'],
      [noCsrf, 'CSRF_INVALID', 'password sign-in refused', null],
      [disabled, 'LOGIN_FAILED', 'user disabled', 'admin@acme.test'],
      [ssoOnly, 'LOGIN_FAILED', 'is SSO-only', 'admin@acme.test'],
    ] as const;
    for (const [res, code, reason, subject] of cases) {
      expect(res.body.error.code).toBe(code);
      // The public answer never tells the reasons apart.
      expect(JSON.stringify(res.body)).not.toContain(reason);
      const event = await eventOf(res.body.error.referenceId as string);
      expect(event).toMatchObject({ outcome: 'failure', code, accountSlug: 'acme', subject });
      expect(event.detail).toContain(reason);
      expect(event.hint).toBeTruthy();
    }
  });

  it('never stores what was typed as the e-mail when it is no e-mail address (it may be a password)', async () => {
    const res = await passwordLogin(t, {
      account: 'acme',
      email: 'hunter2-secret',
      password: 'x'.repeat(12),
    });
    const event = await eventOf(res.body.error.referenceId as string);
    expect(event.subject).toBeNull();
    expect(JSON.stringify(event)).not.toContain('hunter2');
  });

  it('only logs a sign-in to an account that does not exist; the error page says so', async () => {
    const res = await passwordLogin(t, { account: 'nobody', email: 'admin@acme.test', password: PASSWORD });
    expect(await t.sp.stores.audit.getByReference(res.body.error.referenceId as string)).toBeNull();
    const form = await loginForm(t);
    const page = await request(t.app)
      .post('/login/password')
      .set('Cookie', form.cookies)
      .type('form')
      .send({ _csrf: form.csrf, account: 'nobody', email: 'admin@acme.test', password: PASSWORD });
    expect(page.status).toBe(401);
    expect(page.text).toContain('server log');
    expect(page.text).not.toContain('Quote the reference to your administrator');
  });

  it('the reference on the error page of a refused sign-in leads the account’s admin to the event', async () => {
    const form = await loginForm(t);
    const page = await request(t.app)
      .post('/login/password')
      .set('Cookie', form.cookies)
      .type('form')
      .send({ _csrf: form.csrf, account: 'acme', email: 'admin@acme.test', password: 'wrong password!' });
    expect(page.status).toBe(401);
    expect(page.text).toContain('Quote the reference to your administrator');
    const ref = /ref_[0-9a-f]{16}/.exec(page.text)![0];
    expect(await eventOf(ref)).toMatchObject({ code: 'LOGIN_FAILED', referenceId: ref });
    // Exactly one event for it (the route audited it; the error page did not record it again).
    const all = (await adminGet(t, '/api/accounts/acme/audit?code=LOGIN_FAILED')).body.events as unknown[];
    expect(all).toHaveLength(1);
  });
});

describe('the operator CLI', () => {
  // Six CLI processes, each compiling TypeScript on start: slow on a busy 2-core machine.
  it(
    'creates an account and a bootstrap admin, and turns SSO-only off again for recovery',
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sspk-cli-'));
      const env = {
        DATABASE_URL: `sqlite:${join(dir, 'cli.db')}`,
        SSPK_ADMIN_PASSWORD: PASSWORD,
        LOG_LEVEL: 'silent',
      };
      const cli = cliRunner(env);
      try {
        const created = cli('create-account', 'acme', 'Acme Inc');
        expect(created.stderr).toBe('');
        expect(created.status).toBe(0);
        const admin = cli('create-admin', '--account', 'acme', '--email', 'root@acme.test');
        expect(admin.status).toBe(0);
        expect(admin.stdout).not.toContain(PASSWORD);
        const early = cli('sso-only', 'acme', 'on');
        expect(early.status).toBe(1);
        expect(early.stderr).toContain('SETTINGS_INVALID');
        expect(cli('sso-only', 'acme', 'off').status).toBe(0);
        const t = await startSp({ databaseUrl: env.DATABASE_URL });
        try {
          expect(
            (await passwordLogin(t, { account: 'acme', email: 'root@acme.test', password: PASSWORD })).status,
          ).toBe(303);
        } finally {
          await t.close();
        }
        expect(cli('disable-user', '--account', 'acme', '--email', 'root@acme.test').status).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
