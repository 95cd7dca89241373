// Removing an IdP connection is an incident-response step (a compromised or misconfigured IdP): it must
// work every time. It used to fail with 503 the second time a user who had signed in through two
// imports of the IdP was orphaned: their rows collided in the unique index meant for local password
// users. And a user an admin disabled must stay disabled when the IdP is imported again.
import { sql } from 'kysely';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import { openSqlDatabase } from '../../src/storage/sql/engine.js';
import { migrateToLatest } from '../../src/storage/sql/migrations.js';
import { createLocalAdmin, passwordLogin } from '../../src/users/local-login.js';
import {
  ADMIN_TOKEN,
  adminGet,
  createAccountWithIdp,
  postAcs,
  responseFor,
  SSO_URL,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { idpKey } from '../support/idp.js';
import { sqlEngines } from '../support/sql-engines.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const PASSWORD = 'correct horse battery staple';

function deleteConnection(t: TestSp, slug: string) {
  return request(t.app).delete(`/api/accounts/${slug}/saml`).set('Authorization', `Bearer ${ADMIN_TOKEN}`);
}

async function reimport(t: TestSp, slug: string): Promise<void> {
  await request(t.app)
    .put(`/api/accounts/${slug}/saml`)
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send({ certificate: idpKey.cert, ssoUrl: SSO_URL })
    .expect(200);
}

type ListedUser = {
  id: string;
  nameId: string;
  kind: string;
  disabled: boolean;
  connectionId: string | null;
};

async function users(t: TestSp, slug: string): Promise<ListedUser[]> {
  return (await adminGet(t, `/api/accounts/${slug}/users`)).body.users as ListedUser[];
}

for (const engine of sqlEngines) {
  describe.skipIf(!engine.enabled)(engine.title('deleting an IdP connection'), () => {
    async function sp(): Promise<TestSp> {
      const fresh = engine.fresh();
      const t = await startSp({ databaseUrl: fresh.databaseUrl });
      cleanups.push(() => fresh.cleanup());
      cleanups.push(() => t.close());
      return t;
    }

    it('works every time: sign in, delete, re-import, sign in again — three rounds, then a last delete', async () => {
      const t = await sp();
      await createAccountWithIdp(t, 'acme');
      let firstId: string | undefined;
      for (let round = 1; round <= 3; round++) {
        const login = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|jane' }));
        expect(login.status, `round ${round}: ${login.text}`).toBe(303);
        const [jane] = await users(t, 'acme');
        firstId ??= jane!.id;
        // The same SSO user row every time: re-attached to the new connection, not a new user.
        expect(jane).toMatchObject({ id: firstId, nameId: 'auth0|jane', kind: 'sso', disabled: false });
        expect(jane!.connectionId).not.toBeNull();

        const deleted = await deleteConnection(t, 'acme');
        expect(deleted.status, `round ${round}: ${deleted.text}`).toBe(204);
        expect((await users(t, 'acme')).map((u) => [u.nameId, u.connectionId])).toEqual([
          ['auth0|jane', null],
        ]);
        await reimport(t, 'acme');
      }
      expect((await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|jane' }))).status).toBe(303);
      await deleteConnection(t, 'acme').expect(204);
      expect(await users(t, 'acme')).toHaveLength(1);
    });

    it('a disabled user stays disabled across delete and re-import', async () => {
      const t = await sp();
      await createAccountWithIdp(t, 'acme');
      expect((await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|mallory' }))).status).toBe(
        303,
      );
      const [mallory] = await users(t, 'acme');
      // An operator disables the user in the store (the CLI's disable-user does this for local users).
      expect(await t.sp.stores.users.setDisabled(mallory!.id, true)).toBe(true);
      const refused = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|mallory' }));
      expect(refused.body.error?.code).toBe('USER_IS_DISABLED');

      for (let round = 1; round <= 2; round++) {
        await deleteConnection(t, 'acme').expect(204);
        await reimport(t, 'acme');
        const again = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|mallory' }));
        expect(again.status, `round ${round}`).toBe(403);
        expect(again.body.error.code).toBe('USER_IS_DISABLED');
        expect(await users(t, 'acme')).toEqual([
          expect.objectContaining({ id: mallory!.id, disabled: true }),
        ]);
      }
    });

    it('an IdP NameID that looks like a local user’s never collides with, or becomes, the local admin', async () => {
      const t = await sp();
      await createAccountWithIdp(t, 'acme');
      const admin = await createLocalAdmin(t.sp.stores, {
        account: 'acme',
        email: 'root@acme.test',
        password: PASSWORD,
      });
      // The IdP (or a user who can pick their own NameID there) sends the local users' NameID form.
      for (const nameId of ['local:root@acme.test', 'local:eve@acme.test']) {
        expect((await postAcs(t, 'acme', responseFor(t, 'acme', { nameId }))).status).toBe(303);
      }
      await deleteConnection(t, 'acme').expect(204);

      const account = (await t.sp.stores.accounts.getBySlug('acme'))!;
      expect((await t.sp.stores.users.findLocal(account.id, 'root@acme.test'))?.id).toBe(admin.id);
      expect(await t.sp.stores.users.findLocal(account.id, 'eve@acme.test')).toBeNull();
      const signedIn = await passwordLogin(t.sp.stores, {
        account: 'acme',
        email: 'root@acme.test',
        password: PASSWORD,
      });
      expect(signedIn.user).toMatchObject({ id: admin.id, kind: 'local' });
      // The orphaned SSO row with eve's local NameID does not block creating the local user eve.
      await createLocalAdmin(t.sp.stores, { account: 'acme', email: 'eve@acme.test', password: PASSWORD });

      await reimport(t, 'acme');
      expect(
        (await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'local:root@acme.test' }))).status,
      ).toBe(303);
      await deleteConnection(t, 'acme').expect(204);
      const kinds = (await users(t, 'acme')).map((u) => `${u.kind}:${u.nameId}`).sort();
      expect(kinds).toEqual([
        'local:local:eve@acme.test',
        'local:local:root@acme.test',
        'sso:local:eve@acme.test',
        'sso:local:root@acme.test',
      ]);
    });

    it('migrates a database that already holds colliding and orphaned rows (keeps one row per SSO user, disabled wins)', async () => {
      const fresh = engine.fresh();
      cleanups.push(() => fresh.cleanup());
      const { db, dialect, schema } = await openSqlDatabase(fresh.databaseUrl);
      const t0 = '2024-01-01T00:00:00.000Z';
      try {
        await migrateToLatest(db, dialect, schema, '0003_audit_account_id');
        await sql`INSERT INTO accounts (id, slug, name, settings, created_at) VALUES
            ('acc-1', 'acme', 'Acme', '{}', ${t0}), ('acc-2', 'other', 'Other', '{}', ${t0})`.execute(db);
        await sql`INSERT INTO connections (id, account_id, sso_url, certificates, status, created_at, updated_at)
            VALUES ('conn-now', 'acc-1', ${SSO_URL}, '[]', 'active', ${t0}, ${t0}),
                   ('conn-other', 'acc-2', ${SSO_URL}, '[]', 'active', ${t0}, ${t0})`.execute(db);
        const user = (
          id: string,
          account: string,
          connection: string | null,
          nameId: string,
          opts: { disabled?: boolean; hash?: string; lastLogin?: string } = {},
        ) =>
          sql`INSERT INTO users (id, account_id, connection_id, name_id, role, groups, password_hash, disabled,
              created_at, updated_at, last_login_at)
            VALUES (${id}, ${account}, ${connection}, ${nameId}, 'member', '[]', ${opts.hash ?? null},
              ${opts.disabled ? 1 : 0}, ${t0}, ${t0}, ${opts.lastLogin ?? null})`.execute(db);
        // jane: orphaned by an earlier delete (and disabled then), back through the re-import.
        await user('u-jane-old', 'acc-1', null, 'auth0|jane', { disabled: true, lastLogin: t0 });
        await user('u-jane-now', 'acc-1', 'conn-now', 'auth0|jane', {
          lastLogin: '2024-02-01T00:00:00.000Z',
        });
        // bob: orphaned twice over the years is impossible (the old index), but orphan + attached is not.
        await user('u-bob-old', 'acc-1', null, 'auth0|bob');
        await user('u-bob-now', 'acc-1', 'conn-now', 'auth0|bob', { disabled: true });
        await user('u-carol', 'acc-1', 'conn-now', 'auth0|carol');
        await user('u-dan-orphan', 'acc-1', null, 'auth0|dan');
        await user('u-root', 'acc-1', null, 'local:root@acme.test', { hash: 'scrypt$x' });
        await user('u-eve-sso', 'acc-1', null, 'local:eve@acme.test');
        await user('u-jane-other', 'acc-2', 'conn-other', 'auth0|jane');

        // The bug, on the old schema: the delete collides (jane's and bob's rows both go to NULL).
        await expect(sql`DELETE FROM connections WHERE id = 'conn-now'`.execute(db)).rejects.toThrow(
          /unique/i,
        );

        expect(await migrateToLatest(db, dialect, schema)).toContain('0004_user_kind');
      } finally {
        await db.destroy();
      }

      const { stores } = await openStorage({ databaseUrl: fresh.databaseUrl, sessionTtlMs: 60_000 });
      try {
        const listed = await stores.users.listByAccount('acc-1');
        const byName = Object.fromEntries(listed.map((u) => [`${u.kind}:${u.nameId}`, u]));
        expect(Object.keys(byName).sort()).toEqual([
          'local:local:root@acme.test',
          'sso:auth0|bob',
          'sso:auth0|carol',
          'sso:auth0|dan',
          'sso:auth0|jane',
          'sso:local:eve@acme.test',
        ]);
        // The row the live connection uses is kept; disabled anywhere means disabled.
        expect(byName['sso:auth0|jane']).toMatchObject({
          id: 'u-jane-now',
          disabled: true,
          connectionId: 'conn-now',
        });
        expect(byName['sso:auth0|bob']).toMatchObject({ id: 'u-bob-now', disabled: true });
        expect(byName['sso:auth0|carol']).toMatchObject({ id: 'u-carol', disabled: false });
        expect(await stores.users.findLocal('acc-1', 'eve@acme.test')).toBeNull();
        expect((await stores.users.findLocal('acc-1', 'root@acme.test'))?.id).toBe('u-root');
        expect((await stores.users.listByAccount('acc-2')).map((u) => u.id)).toEqual(['u-jane-other']);

        // The delete that failed before now works, and the re-import re-attaches the same rows.
        expect(await stores.connections.delete('acc-1')).toBe(true);
        const conn = await stores.connections.upsert('acc-1', {
          ssoUrl: SSO_URL,
          idpEntityId: null,
          idpEntityIdSource: null,
          certificates: [],
        });
        const jane = await stores.users.upsertFromSso({
          accountId: 'acc-1',
          connectionId: conn.id,
          nameId: 'auth0|jane',
          email: null,
          name: null,
          groups: [],
          role: 'member',
          flow: 'sp-initiated',
        });
        expect(jane).toMatchObject({
          created: false,
          user: { id: 'u-jane-now', disabled: true, connectionId: conn.id },
        });
        expect(await stores.connections.delete('acc-1')).toBe(true);
      } finally {
        await stores.close();
      }
    });
  });
}
