/**
 * Just-in-time provisioning, account policies (e-mail domains, admin groups), the host provisioning
 * hook, and RelayState handling after a successful login.
 */
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SpError, type ErrorCode } from '../../src/errors.js';
import type { ProvisionInput, ProvisionedUser } from '../../src/users/provision.js';
import {
  ADMIN_TOKEN,
  cookiesFrom,
  createAccountWithIdp,
  me,
  patchSettings,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';

type AcsResponse = Awaited<ReturnType<typeof postAcs>>;

interface UserJson {
  id: string;
  nameId: string;
  email: string | null;
  name: string | null;
  role: string;
  groups: string[];
}

async function listUsers(t: TestSp, slug: string): Promise<UserJson[]> {
  const res = await request(t.app)
    .get(`/api/accounts/${slug}/users`)
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .expect(200);
  return res.body.users as UserJson[];
}

async function expectLoggedIn(t: TestSp, res: AcsResponse) {
  expect(res.status, JSON.stringify(res.body)).toBe(303);
  const who = await me(t, cookiesFrom(res)).expect(200);
  return who.body as { email: string | null; nameId: string; account: string; role: string };
}

async function expectRejected(t: TestSp, res: AcsResponse, status: number, code: ErrorCode) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.referenceId).toMatch(/^ref_/);
  expect(res.headers.location).toBeUndefined();
  await me(t, cookiesFrom(res)).expect(401);
}

describe('JIT provisioning with the built-in user table', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
  });
  afterEach(async () => t.close());

  it('creates the user at the first login as a member, with e-mail and name from the Auth0 claims', async () => {
    expect(await listUsers(t, 'acme')).toHaveLength(0);
    const who = await expectLoggedIn(
      t,
      await postAcs(
        t,
        'acme',
        responseFor(t, 'acme', { nameId: 'auth0|first', email: 'First.User@Acme.test', name: 'First User' }),
      ),
    );
    expect(who).toEqual({
      email: 'first.user@acme.test',
      nameId: 'auth0|first',
      account: 'acme',
      role: 'member',
    });
    const users = await listUsers(t, 'acme');
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({
      nameId: 'auth0|first',
      email: 'first.user@acme.test',
      name: 'First User',
      role: 'member',
    });
  });

  it('updates the same user (keyed by NameID) when the e-mail changes', async () => {
    await expectLoggedIn(
      t,
      await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|stable', email: 'old@acme.test' })),
    );
    const [before] = await listUsers(t, 'acme');
    const who = await expectLoggedIn(
      t,
      await postAcs(
        t,
        'acme',
        responseFor(t, 'acme', { nameId: 'auth0|stable', email: 'new@acme.test', name: 'Renamed' }),
      ),
    );
    expect(who.email).toBe('new@acme.test');
    const users = await listUsers(t, 'acme');
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({ id: before!.id, email: 'new@acme.test', name: 'Renamed' });
  });

  it('creates a second user for a different NameID with the same e-mail', async () => {
    await expectLoggedIn(
      t,
      await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|one', email: 'same@acme.test' })),
    );
    const who = await expectLoggedIn(
      t,
      await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|two', email: 'same@acme.test' })),
    );
    expect(who.nameId).toBe('auth0|two');
    const users = await listUsers(t, 'acme');
    expect(users).toHaveLength(2);
    expect(users.map((u) => u.nameId).sort()).toEqual(['auth0|one', 'auth0|two']);
    expect(new Set(users.map((u) => u.id)).size).toBe(2);
  });

  it('creates exactly one user for two simultaneous first logins of the same NameID', async () => {
    const [a, b] = await Promise.all([
      postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|racer', email: 'racer@acme.test' })),
      postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|racer', email: 'racer@acme.test' })),
    ]);
    expect((await expectLoggedIn(t, a)).nameId).toBe('auth0|racer');
    expect((await expectLoggedIn(t, b)).nameId).toBe('auth0|racer');
    const users = await listUsers(t, 'acme');
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({ nameId: 'auth0|racer', email: 'racer@acme.test' });
  });

  it('admits only allowed e-mail domains', async () => {
    await patchSettings(t, 'acme', { allowedEmailDomains: ['acme.test'] });
    const ok = await expectLoggedIn(
      t,
      await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|in', email: 'x@acme.test' })),
    );
    expect(ok.email).toBe('x@acme.test');
    const res = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { nameId: 'auth0|out', email: 'x@evil.test' }),
    );
    await expectRejected(t, res, 403, 'USER_EMAIL_DOMAIN_NOT_ALLOWED');
    const users = await listUsers(t, 'acme');
    expect(users.map((u) => u.nameId)).toEqual(['auth0|in']);
  });

  it('gives the admin role to members of an admin group, member otherwise', async () => {
    await patchSettings(t, 'acme', { adminGroups: ['sso-admins'] });
    const admin = await expectLoggedIn(
      t,
      await postAcs(
        t,
        'acme',
        responseFor(t, 'acme', { nameId: 'auth0|boss', groups: ['staff', 'sso-admins'] }),
      ),
    );
    expect(admin.role).toBe('admin');
    const member = await expectLoggedIn(
      t,
      await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|staff', groups: ['staff'] })),
    );
    expect(member.role).toBe('member');
    const users = await listUsers(t, 'acme');
    expect(users.find((u) => u.nameId === 'auth0|boss')).toMatchObject({
      role: 'admin',
      groups: ['staff', 'sso-admins'],
    });
  });
});

describe('custom provisioning hook', () => {
  let t: TestSp | null = null;
  afterEach(async () => {
    await t?.close();
    t = null;
  });

  it('is called with the mapped profile and groups, and /api/me reflects what it returns', async () => {
    const hook = vi.fn((input: ProvisionInput): Promise<ProvisionedUser> =>
      Promise.resolve({
        id: 'host-' + input.nameId,
        email: input.profile.email,
        role: 'member',
        created: true,
      }),
    );
    t = await startSp({}, { provisionUser: hook });
    await createAccountWithIdp(t, 'acme');
    const who = await expectLoggedIn(
      t,
      await postAcs(
        t,
        'acme',
        responseFor(t, 'acme', {
          nameId: 'auth0|hooked',
          email: 'Hooked@Acme.test',
          name: 'Hooked Person',
          groups: ['eng', 'eng', 'ops'],
        }),
      ),
    );
    expect(hook).toHaveBeenCalledTimes(1);
    const input = hook.mock.calls[0]![0];
    expect(input).toMatchObject({
      account: { slug: 'acme' },
      nameId: 'auth0|hooked',
      profile: {
        email: 'hooked@acme.test',
        name: 'Hooked Person',
        givenName: 'Jane',
        familyName: 'Doe',
        groups: ['eng', 'ops'],
      },
      suggestedRole: 'member',
    });
    expect(input.attributes['http://schemas.xmlsoap.org/claims/Group']).toEqual(['eng', 'eng', 'ops']);
    expect(who).toEqual({
      email: 'hooked@acme.test',
      nameId: 'auth0|hooked',
      account: 'acme',
      role: 'member',
    });
    // The hook replaces the built-in user table.
    expect(await listUsers(t, 'acme')).toHaveLength(0);
  });

  it('refuses the login when the hook throws PROVISIONING_REJECTED', async () => {
    const hook = vi.fn((): Promise<ProvisionedUser> => Promise.reject(new SpError('PROVISIONING_REJECTED')));
    t = await startSp({}, { provisionUser: hook });
    await createAccountWithIdp(t, 'acme');
    const res = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|refused' }));
    expect(hook).toHaveBeenCalledTimes(1);
    await expectRejected(t, res, 403, 'PROVISIONING_REJECTED');
  });
});

describe('RelayState after login', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
  });
  afterEach(async () => t.close());

  it('keeps a same-origin path', async () => {
    const res = await postAcs(t, 'acme', responseFor(t, 'acme'), { relayState: '/ok' });
    await expectLoggedIn(t, res);
    expect(res.headers.location).toBe('/ok');
  });

  it.each(['//evil.com', 'https://evil.com', '/\\evil.com', 'javascript:alert(1)'])(
    'falls back to / for %s',
    async (relayState) => {
      const res = await postAcs(t, 'acme', responseFor(t, 'acme'), { relayState });
      await expectLoggedIn(t, res);
      expect(res.headers.location).toBe('/');
    },
  );
});
