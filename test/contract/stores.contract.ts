/**
 * The ONE storage contract: every engine (SQLite file, SQLite in memory, PostgreSQL, Redis) runs these
 * same tests through {@link storeContract}. An engine declares which stores it provides; Redis only
 * holds sessions and one-time values.
 *
 * Where an engine can be opened twice on the same data (a SQLite file, a PostgreSQL schema, a Redis
 * prefix), the concurrency tests spread their calls over two independent handles — two connection
 * pools or clients, as two SP instances would have — so atomicity is tested across connections, not
 * just inside one.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type session from 'express-session';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSpError, SpError } from '../../src/errors.js';
import { AUDIT_TEXT_LIMITS } from '../../src/storage/audit-text.js';
import type { AuditRecord, OneTimeStore, Stores, StoredCertificate } from '../../src/storage/types.js';

/** One open handle on an engine. */
export interface ContractHandle {
  /** The record stores (accounts, connections, users, audit), when the engine holds them. */
  records?: Pick<
    Stores,
    'accounts' | 'connections' | 'oidcConnections' | 'users' | 'audit' | 'signInTests' | 'setupLinks' | 'bots'
  >;
  oneTime?: OneTimeStore;
  sessionStore?: session.Store;
  close(): Promise<void>;
}

/** What {@link storeContract} needs to know about an engine. */
export interface ContractEngine {
  /** Shown in the test names, e.g. `PostgreSQL`. */
  name: string;
  /** Which stores the engine provides (decides which tests are registered). */
  provides: { records: boolean; oneTime: boolean; sessions: boolean };
  /** True when a second `open()` reaches the same data through its own connection. */
  shared: boolean;
  /** Opens a handle (called once, or twice when `shared`). */
  open(): Promise<ContractHandle>;
  /** Removes what the run left behind (schema, keys, files), after every handle is closed. */
  cleanup?(): Promise<void>;
}

const uid = (): string => randomBytes(6).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`engine does not provide ${what}`);
  return value;
}

const cert: StoredCertificate = {
  pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  fingerprintSha256: 'AA:BB',
  subject: 'CN=test-tenant.auth0.com',
  notBefore: '2024-01-01T00:00:00.000Z',
  notAfter: '2034-01-01T00:00:00.000Z',
};

function sessionData(expiresInMs: number, user = 'u1'): session.SessionData {
  const expires = new Date(Date.now() + expiresInMs);
  return {
    cookie: { originalMaxAge: expiresInMs, expires, httpOnly: true, path: '/' },
    user: {
      userId: user,
      accountSlug: 'acme',
      nameId: `auth0|${user}`,
      email: `${user}@acme.test`,
      role: 'member',
      loginAt: new Date().toISOString(),
      via: 'sso',
    },
  };
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

function sessGet(store: session.Store, sid: string): Promise<session.SessionData | null | undefined> {
  return new Promise((resolve, reject) =>
    store.get(sid, (err: unknown, s?: session.SessionData | null) =>
      err ? reject(asError(err)) : resolve(s),
    ),
  );
}
function sessSet(store: session.Store, sid: string, s: session.SessionData): Promise<void> {
  return new Promise((resolve, reject) =>
    store.set(sid, s, (err?: unknown) => (err ? reject(asError(err)) : resolve())),
  );
}
function sessTouch(store: session.Store, sid: string, s: session.SessionData): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!store.touch) return reject(new Error('store has no touch()'));
    store.touch(sid, s, (err?: unknown) => (err ? reject(asError(err)) : resolve()));
  });
}
function sessDestroy(store: session.Store, sid: string): Promise<void> {
  return new Promise((resolve, reject) =>
    store.destroy(sid, (err?: unknown) => (err ? reject(asError(err)) : resolve())),
  );
}

/** Registers the contract tests for `engine` in the current vitest file. */
export function storeContract(engine: ContractEngine): void {
  describe(`storage contract: ${engine.name}`, () => {
    let a: ContractHandle;
    let b: ContractHandle;
    /** Alternates between the two handles, as a load balancer would between two instances. */
    const pick = (i: number): ContractHandle => (i % 2 === 0 ? a : b);

    beforeAll(async () => {
      a = await engine.open();
      b = engine.shared ? await engine.open() : a;
    });
    afterAll(async () => {
      if (b && b !== a) await b.close();
      if (a) await a.close();
      await engine.cleanup?.();
    });

    it('fails fast with STORE_UNAVAILABLE once its backend is gone (never a driver error, never a hang)', async () => {
      const gone = await engine.open();
      await gone.close();
      const unavailable = (e: unknown) => isSpError(e, 'STORE_UNAVAILABLE');
      const started = Date.now();
      if (gone.records) {
        await expect(gone.records.accounts.getBySlug('acme')).rejects.toSatisfy(unavailable);
        // A bot request whose token cannot be checked is a 503, never a pass.
        await expect(gone.records.bots.credential(randomUUID())).rejects.toSatisfy(unavailable);
      }
      if (gone.oneTime) {
        await expect(gone.oneTime.claim(`replay:acc:${uid()}`, 60_000)).rejects.toSatisfy(unavailable);
        await expect(gone.oneTime.take(`authn:c1:${uid()}`)).rejects.toSatisfy(unavailable);
      }
      if (gone.sessionStore) await expect(sessGet(gone.sessionStore, uid())).rejects.toSatisfy(unavailable);
      expect(Date.now() - started).toBeLessThan(3000);
    });

    if (engine.provides.records) {
      const rec = (h: ContractHandle) => required(h.records, 'record stores');

      describe('accounts', () => {
        it('creates an account and reads it back by slug with default settings', async () => {
          const slug = `acme-${uid()}`;
          const created = await rec(a).accounts.create({ slug, name: 'Acme Inc' });
          expect(created).toMatchObject({ slug, name: 'Acme Inc' });
          expect(created.settings).toEqual({
            idpInitiated: true,
            allowedEmailDomains: [],
            allowSha1: false,
            adminGroups: [],
            ssoOnly: false,
            loginConfirmation: true,
            requireEmail: true,
          });
          expect(await rec(b).accounts.getBySlug(slug)).toEqual(created);
          expect(await rec(b).accounts.getById(created.id)).toEqual(created);
          expect(await rec(b).accounts.getById(`none-${uid()}`)).toBeNull();
          expect(await rec(a).accounts.getBySlug(`none-${uid()}`)).toBeNull();
        });

        it('refuses a duplicate slug with ACCOUNT_EXISTS, also when two creates race', async () => {
          const slug = `dup-${uid()}`;
          const results = await Promise.allSettled(
            Array.from({ length: 10 }, (_, i) => rec(pick(i)).accounts.create({ slug, name: `n${i}` })),
          );
          expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
          for (const r of results) {
            if (r.status === 'rejected') expect(isSpError(r.reason, 'ACCOUNT_EXISTS')).toBe(true);
          }
        });

        it('updates settings, and reports ACCOUNT_NOT_FOUND for an unknown account', async () => {
          const acc = await rec(a).accounts.create({ slug: `set-${uid()}`, name: 'S' });
          const settings = { ...acc.settings, idpInitiated: false, adminGroups: ['admins'] };
          expect((await rec(b).accounts.updateSettings(acc.id, settings)).settings).toEqual(settings);
          expect((await rec(a).accounts.getBySlug(acc.slug))?.settings).toEqual(settings);
          await expect(rec(a).accounts.updateSettings('no-such-id', settings)).rejects.toSatisfy((e) =>
            isSpError(e, 'ACCOUNT_NOT_FOUND'),
          );
        });
      });

      describe('connections', () => {
        it('upserts (keeping the id), activates once, pins the issuer only when unknown, deletes', async () => {
          const acc = await rec(a).accounts.create({ slug: `conn-${uid()}`, name: 'C' });
          expect(await rec(a).connections.getByAccount(acc.id)).toBeNull();
          const first = await rec(a).connections.upsert(acc.id, {
            ssoUrl: 'https://t.auth0.com/samlp/1',
            idpEntityId: null,
            idpEntityIdSource: null,
            certificates: [cert],
          });
          expect(first).toMatchObject({
            accountId: acc.id,
            status: 'pending',
            idpEntityId: null,
            activatedAt: null,
          });
          expect(first.certificates).toEqual([cert]);

          await Promise.all([
            rec(a).connections.recordSuccessfulLogin(first.id, 'urn:first'),
            rec(b).connections.recordSuccessfulLogin(first.id, 'urn:second'),
          ]);
          const active = await rec(b).connections.getByAccount(acc.id);
          expect(active?.status).toBe('active');
          expect(['urn:first', 'urn:second']).toContain(active?.idpEntityId);
          expect(active?.idpEntityIdSource).toBe('first-login');
          await rec(a).connections.recordSuccessfulLogin(first.id, 'urn:later');
          expect((await rec(a).connections.getByAccount(acc.id))?.idpEntityId).toBe(active?.idpEntityId);

          const again = await rec(b).connections.upsert(acc.id, {
            ssoUrl: 'https://t.auth0.com/samlp/2',
            idpEntityId: 'urn:admin',
            idpEntityIdSource: 'admin',
            certificates: [cert, { ...cert, fingerprintSha256: 'CC:DD' }],
          });
          expect(again.id).toBe(first.id);
          expect(again).toMatchObject({
            ssoUrl: 'https://t.auth0.com/samlp/2',
            idpEntityId: 'urn:admin',
            status: 'active',
          });
          expect(again.certificates).toHaveLength(2);

          expect(await rec(a).connections.delete(acc.id)).toBe(true);
          expect(await rec(b).connections.delete(acc.id)).toBe(false);
          expect(await rec(a).connections.getByAccount(acc.id)).toBeNull();
        });

        it('reads an account with its connection in one call, the same as the two reads apart', async () => {
          const acc = await rec(a).accounts.create({ slug: `join-${uid()}`, name: 'J' });
          // Another account's connection is never the one read.
          const other = await rec(a).accounts.create({ slug: `join-other-${uid()}`, name: 'O' });
          await rec(a).connections.upsert(other.id, {
            ssoUrl: 'https://other.auth0.com/samlp/1',
            idpEntityId: null,
            idpEntityIdSource: null,
            certificates: [cert],
          });
          expect(await rec(b).accounts.getWithConnection(acc.slug)).toEqual({
            account: acc,
            connection: null,
          });
          await rec(a).connections.upsert(acc.id, {
            ssoUrl: 'https://t.auth0.com/samlp/join',
            idpEntityId: 'urn:join',
            idpEntityIdSource: 'admin',
            certificates: [cert],
          });
          const both = await rec(b).accounts.getWithConnection(acc.slug);
          expect(both).toEqual({
            account: await rec(b).accounts.getBySlug(acc.slug),
            connection: await rec(b).connections.getByAccount(acc.id),
          });
          expect(both?.connection).toMatchObject({
            ssoUrl: 'https://t.auth0.com/samlp/join',
            accountId: acc.id,
          });
          expect(await rec(a).accounts.getWithConnection(`none-${uid()}`)).toBeNull();
        });
      });

      describe('connections imported from a metadata URL', () => {
        const URL_A = 'https://t.auth0.com/samlp/metadata/abc';
        const input = {
          ssoUrl: 'https://t.auth0.com/samlp/abc',
          idpEntityId: 'urn:t.auth0.com',
          idpEntityIdSource: 'metadata' as const,
          certificates: [cert],
        };

        it('remembers the URL at import, and any other import clears it with its refresh state', async () => {
          const acc = await rec(a).accounts.create({ slug: `meta-${uid()}`, name: 'M' });
          const first = await rec(a).connections.upsert(acc.id, { ...input, metadataUrl: URL_A });
          expect(first).toMatchObject({ metadataUrl: URL_A, metadataRefreshError: null });
          expect(first.metadataRefreshedAt).toBe(first.updatedAt);
          expect(first.metadataCheckedAt).toBe(first.updatedAt);
          expect((await rec(b).connections.listWithMetadataUrl()).map((c) => c.id)).toContain(first.id);

          const failed = await rec(b).connections.recordMetadataRefresh(first.id, URL_A, {
            kind: 'failed',
            error: { at: '2030-01-01T00:00:00.000Z', code: 'METADATA_FETCH_FAILED', message: 'answered 404' },
          });
          expect(failed?.metadataRefreshError).toEqual({
            at: '2030-01-01T00:00:00.000Z',
            code: 'METADATA_FETCH_FAILED',
            message: 'answered 404',
          });

          const manual = await rec(a).connections.upsert(acc.id, { ...input, idpEntityIdSource: 'admin' });
          expect(manual.id).toBe(first.id);
          expect(manual).toMatchObject({
            metadataUrl: null,
            metadataRefreshedAt: null,
            metadataCheckedAt: null,
            metadataRefreshError: null,
          });
          expect((await rec(b).connections.listWithMetadataUrl()).map((c) => c.id)).not.toContain(first.id);
        });

        it('records a failure without touching the IdP values, then a success clears it; replaced values keep id and status', async () => {
          const acc = await rec(a).accounts.create({ slug: `meta-${uid()}`, name: 'M' });
          const conn = await rec(a).connections.upsert(acc.id, { ...input, metadataUrl: URL_A });
          await rec(a).connections.recordSuccessfulLogin(conn.id, null);
          const activated = (await rec(a).connections.getByAccount(acc.id))!;
          const error = { at: new Date().toISOString(), code: 'METADATA_FETCH_TIMEOUT', message: 'slow' };
          const failed = await rec(b).connections.recordMetadataRefresh(conn.id, URL_A, {
            kind: 'failed',
            error,
          });
          expect(failed).toMatchObject({ certificates: [cert], ssoUrl: input.ssoUrl, status: 'active' });
          expect(failed?.metadataRefreshedAt).toBe(conn.metadataRefreshedAt);
          expect(failed?.metadataCheckedAt).toBe(error.at);

          const later = new Date(Date.now() + 1000).toISOString();
          const unchanged = await rec(a).connections.recordMetadataRefresh(conn.id, URL_A, {
            kind: 'unchanged',
            at: later,
          });
          expect(unchanged).toMatchObject({
            metadataRefreshError: null,
            metadataRefreshedAt: later,
            updatedAt: activated.updatedAt,
          });

          const rotated = { ...cert, fingerprintSha256: 'EE:FF' };
          const replace = {
            kind: 'replaced' as const,
            at: new Date(Date.now() + 2000).toISOString(),
            input: { ...input, ssoUrl: 'https://t.auth0.com/samlp/new', certificates: [rotated] },
          };
          const replaced = await rec(b).connections.recordMetadataRefresh(conn.id, URL_A, replace);
          expect(replaced).toMatchObject({
            id: conn.id,
            status: 'active',
            ssoUrl: 'https://t.auth0.com/samlp/new',
            certificates: [rotated],
            metadataUrl: URL_A,
            metadataRefreshedAt: replace.at,
            updatedAt: replace.at,
          });
          // Written twice (two instances): the same connection.
          expect(await rec(a).connections.recordMetadataRefresh(conn.id, URL_A, replace)).toEqual(replaced);
        });

        it('writes nothing once the URL changed (a re-import wins over a refresh in flight)', async () => {
          const acc = await rec(a).accounts.create({ slug: `meta-${uid()}`, name: 'M' });
          const conn = await rec(a).connections.upsert(acc.id, { ...input, metadataUrl: URL_A });
          await rec(b).connections.upsert(acc.id, { ...input, idpEntityIdSource: 'admin' });
          const outcome = {
            kind: 'replaced' as const,
            at: new Date().toISOString(),
            input: { ...input, certificates: [{ ...cert, fingerprintSha256: '00:11' }] },
          };
          expect(await rec(a).connections.recordMetadataRefresh(conn.id, URL_A, outcome)).toBeNull();
          expect(await rec(a).connections.claimMetadataRefresh(conn.id, URL_A, '9999', '2030')).toBe(false);
          expect((await rec(b).connections.getByAccount(acc.id))?.certificates).toEqual([cert]);
        });

        it('lets exactly one of several racing instances claim a due refresh', async () => {
          const acc = await rec(a).accounts.create({ slug: `meta-${uid()}`, name: 'M' });
          const conn = await rec(a).connections.upsert(acc.id, { ...input, metadataUrl: URL_A });
          // Not due yet: checked at the import, after the cut-off.
          const early = new Date(Date.parse(conn.metadataCheckedAt!) - 60_000).toISOString();
          expect(
            await rec(a).connections.claimMetadataRefresh(conn.id, URL_A, early, new Date().toISOString()),
          ).toBe(false);
          const cutoff = new Date(Date.parse(conn.metadataCheckedAt!) + 1).toISOString();
          const at = new Date(Date.now() + 5000).toISOString();
          const claims = await Promise.all(
            Array.from({ length: 8 }, (_, i) =>
              rec(pick(i)).connections.claimMetadataRefresh(conn.id, URL_A, cutoff, at),
            ),
          );
          expect(claims.filter(Boolean)).toHaveLength(1);
          expect((await rec(b).connections.getByAccount(acc.id))?.metadataCheckedAt).toBe(at);
        });
      });

      describe('OIDC connections', () => {
        const oidc = {
          issuer: 'https://t.auth0.com/',
          authorizationUrl: 'https://t.auth0.com/authorize',
          tokenUrl: 'https://t.auth0.com/oauth/token',
          jwksUri: 'https://t.auth0.com/.well-known/jwks.json',
          userinfoUrl: 'https://t.auth0.com/userinfo',
          clientId: 'client-1',
          clientSecretEnc: 'v1.box',
          clientType: 'confidential' as const,
          tokenEndpointAuthMethod: 'client_secret_basic' as const,
          source: 'discovery' as const,
          idTokenSigningAlgs: ['RS256'],
        };

        it('upserts beside the SAML connection (keeping its id and status), activates once, deletes', async () => {
          const acc = await rec(a).accounts.create({ slug: `oidc-${uid()}`, name: 'O' });
          await rec(a).connections.upsert(acc.id, {
            ssoUrl: 'https://t.auth0.com/samlp/1',
            idpEntityId: null,
            idpEntityIdSource: null,
            certificates: [cert],
          });
          expect(await rec(a).oidcConnections.getByAccount(acc.id)).toBeNull();
          const first = await rec(a).oidcConnections.upsert(acc.id, oidc);
          expect(first).toMatchObject({ ...oidc, accountId: acc.id, status: 'pending', activatedAt: null });
          await Promise.all([
            rec(a).oidcConnections.recordSuccessfulLogin(first.id),
            rec(b).oidcConnections.recordSuccessfulLogin(first.id),
          ]);
          const active = await rec(b).oidcConnections.getByAccount(acc.id);
          expect(active?.status).toBe('active');
          const again = await rec(b).oidcConnections.upsert(acc.id, {
            ...oidc,
            clientType: 'public',
            clientSecretEnc: null,
            tokenEndpointAuthMethod: 'none',
            userinfoUrl: null,
            source: 'manual',
            idTokenSigningAlgs: [],
          });
          expect(again).toMatchObject({
            id: first.id,
            status: 'active',
            clientType: 'public',
            clientSecretEnc: null,
          });
          expect(await rec(a).oidcConnections.delete(acc.id)).toBe(true);
          expect(await rec(b).oidcConnections.delete(acc.id)).toBe(false);
          expect(await rec(a).connections.getByAccount(acc.id)).not.toBeNull();
        });

        it('keys OIDC users by (connection, sub), apart from SAML users with the same NameID; orphaned on delete', async () => {
          const acc = await rec(a).accounts.create({ slug: `oidcu-${uid()}`, name: 'O' });
          const saml = await rec(a).connections.upsert(acc.id, {
            ssoUrl: 'https://t.auth0.com/samlp/1',
            idpEntityId: null,
            idpEntityIdSource: null,
            certificates: [cert],
          });
          const conn = await rec(a).oidcConnections.upsert(acc.id, oidc);
          const base = {
            accountId: acc.id,
            nameId: 'auth0|same',
            email: null,
            name: null,
            groups: [],
            role: 'member' as const,
          };
          const samlUser = await rec(a).users.upsertFromSso({
            ...base,
            connectionId: saml.id,
            flow: 'sp-initiated',
          });
          const [x, y] = await Promise.all([
            rec(a).users.upsertFromSso({
              ...base,
              connectionId: conn.id,
              protocol: 'oidc',
              flow: 'sp-initiated',
            }),
            rec(b).users.upsertFromSso({
              ...base,
              connectionId: conn.id,
              protocol: 'oidc',
              flow: 'sp-initiated',
            }),
          ]);
          expect(x.user.id).toBe(y.user.id);
          expect([x.created, y.created].sort()).toEqual([false, true]);
          expect(x.user.id).not.toBe(samlUser.user.id);
          expect(x.user).toMatchObject({
            protocol: 'oidc',
            oidcConnectionId: conn.id,
            connectionId: null,
            kind: 'sso',
          });
          expect(samlUser.user).toMatchObject({
            protocol: 'saml',
            connectionId: saml.id,
            oidcConnectionId: null,
          });

          await rec(a).oidcConnections.delete(acc.id);
          expect((await rec(a).users.getById(x.user.id))?.oidcConnectionId).toBeNull();
          expect((await rec(a).users.getById(samlUser.user.id))?.connectionId).toBe(saml.id);
          const back = await rec(b).oidcConnections.upsert(acc.id, oidc);
          const again = await rec(a).users.upsertFromSso({
            ...base,
            connectionId: back.id,
            protocol: 'oidc',
            flow: 'sp-initiated',
          });
          expect(again).toMatchObject({ created: false, user: { id: x.user.id, oidcConnectionId: back.id } });
        });
      });

      describe('users', () => {
        async function connectionFor(h: ContractHandle) {
          const acc = await rec(h).accounts.create({ slug: `users-${uid()}`, name: 'U' });
          const conn = await rec(h).connections.upsert(acc.id, {
            ssoUrl: 'https://t.auth0.com/samlp/1',
            idpEntityId: null,
            idpEntityIdSource: null,
            certificates: [cert],
          });
          return { acc, conn };
        }

        it('creates a user at the first login and updates it at the next', async () => {
          const { acc, conn } = await connectionFor(a);
          const input = {
            accountId: acc.id,
            connectionId: conn.id,
            nameId: 'auth0|1',
            email: 'jane@acme.test',
            name: 'Jane',
            groups: ['g1'],
            role: 'member' as const,
            flow: 'sp-initiated' as const,
          };
          const first = await rec(a).users.upsertFromSso(input);
          expect(first.created).toBe(true);
          expect(first.user).toMatchObject({
            nameId: 'auth0|1',
            email: 'jane@acme.test',
            groups: ['g1'],
            role: 'member',
          });
          const second = await rec(b).users.upsertFromSso({
            ...input,
            email: 'jane@new.test',
            role: 'admin',
          });
          expect(second.created).toBe(false);
          expect(second.user.id).toBe(first.user.id);
          expect(second.user).toMatchObject({ email: 'jane@new.test', role: 'admin' });
          expect(await rec(a).users.getById(first.user.id)).toMatchObject({ email: 'jane@new.test' });
          expect(await rec(a).users.getById('no-such-user')).toBeNull();
        });

        it('20 simultaneous first logins of one new user create exactly one user', async () => {
          const { acc, conn } = await connectionFor(a);
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              rec(pick(i)).users.upsertFromSso({
                accountId: acc.id,
                connectionId: conn.id,
                nameId: 'auth0|race',
                email: 'race@acme.test',
                name: null,
                groups: [],
                role: 'member',
                flow: 'idp-initiated',
              }),
            ),
          );
          expect(results.filter((r) => r.created)).toHaveLength(1);
          expect(new Set(results.map((r) => r.user.id)).size).toBe(1);
          expect(await rec(b).users.listByAccount(acc.id)).toHaveLength(1);
        });

        it('creates a local password user once per e-mail, finds it, and disables it', async () => {
          const { acc } = await connectionFor(a);
          const input = {
            accountId: acc.id,
            email: 'root@acme.test',
            name: 'Root',
            role: 'admin' as const,
            passwordHash: 'scrypt$1$8$1$c2FsdA$aGFzaA',
          };
          const created = await rec(a).users.createLocal(input);
          expect(created).toMatchObject({
            email: 'root@acme.test',
            role: 'admin',
            connectionId: null,
            disabled: false,
            kind: 'local',
          });
          expect(await rec(b).users.createLocal(input)).toBeNull();
          const found = await rec(b).users.findLocal(acc.id, 'ROOT@acme.test');
          expect(found?.id).toBe(created!.id);
          expect(found?.passwordHash).toBe(input.passwordHash);
          expect(await rec(a).users.findLocal(acc.id, 'other@acme.test')).toBeNull();
          expect(await rec(a).users.setDisabled(created!.id, true)).toBe(true);
          expect((await rec(b).users.findLocal(acc.id, 'root@acme.test'))?.disabled).toBe(true);
          expect(await rec(a).users.setDisabled('no-such-user', true)).toBe(false);
        });

        it('two simultaneous creations of one local user create exactly one', async () => {
          const { acc } = await connectionFor(a);
          const results = await Promise.all(
            Array.from({ length: 10 }, (_, i) =>
              rec(pick(i)).users.createLocal({
                accountId: acc.id,
                email: 'race@acme.test',
                name: null,
                role: 'admin',
                passwordHash: 'x',
              }),
            ),
          );
          expect(results.filter((r) => r !== null)).toHaveLength(1);
        });

        it('re-attaches an SSO user orphaned by a connection delete, disabled if it was; deleting never fails', async () => {
          const { acc, conn } = await connectionFor(a);
          const sso = (connectionId: string, nameId: string) =>
            rec(pick(nameId.length)).users.upsertFromSso({
              accountId: acc.id,
              connectionId,
              nameId,
              email: null,
              name: null,
              groups: [],
              role: 'member',
              flow: 'idp-initiated',
            });
          const jane = (await sso(conn.id, 'auth0|jane')).user;
          const bob = (await sso(conn.id, 'auth0|bob')).user;
          expect(jane.kind).toBe('sso');
          expect(await rec(b).users.setDisabled(bob.id, true)).toBe(true);
          let current = conn.id;
          for (let round = 0; round < 3; round++) {
            expect(await rec(pick(round)).connections.delete(acc.id)).toBe(true);
            const orphans = await rec(a).users.listByAccount(acc.id);
            expect(orphans.map((u) => u.connectionId)).toEqual([null, null]);
            current = (
              await rec(b).connections.upsert(acc.id, {
                ssoUrl: 'https://t.auth0.com/samlp/1',
                idpEntityId: null,
                idpEntityIdSource: null,
                certificates: [cert],
              })
            ).id;
            const again = await sso(current, 'auth0|jane');
            expect(again).toMatchObject({ created: false, user: { id: jane.id, connectionId: current } });
            const bobAgain = await sso(current, 'auth0|bob');
            expect(bobAgain).toMatchObject({ created: false, user: { id: bob.id, disabled: true } });
          }
          expect(await rec(a).users.listByAccount(acc.id)).toHaveLength(2);
        });

        it('keeps local and SSO users apart even when an IdP sends a local-looking NameID', async () => {
          const { acc, conn } = await connectionFor(a);
          const local = await rec(a).users.createLocal({
            accountId: acc.id,
            email: 'root@acme.test',
            name: null,
            role: 'admin',
            passwordHash: 'x',
          });
          expect(local).toMatchObject({ kind: 'local', connectionId: null });
          const sso = await rec(b).users.upsertFromSso({
            accountId: acc.id,
            connectionId: conn.id,
            nameId: 'local:root@acme.test',
            email: 'root@acme.test',
            name: null,
            groups: [],
            role: 'member',
            flow: 'idp-initiated',
          });
          expect(sso).toMatchObject({ created: true, user: { kind: 'sso' } });
          expect(sso.user.id).not.toBe(local!.id);
          expect(await rec(a).connections.delete(acc.id)).toBe(true);
          expect((await rec(b).users.findLocal(acc.id, 'root@acme.test'))?.id).toBe(local!.id);
          expect(await rec(b).users.findLocal(acc.id, 'ghost@acme.test')).toBeNull();
        });

        it('lists an account’s users only', async () => {
          const one = await connectionFor(a);
          const two = await connectionFor(b);
          for (const [ctx, nameId] of [
            [one, 'auth0|a'],
            [one, 'auth0|b'],
            [two, 'auth0|c'],
          ] as const) {
            await rec(a).users.upsertFromSso({
              accountId: ctx.acc.id,
              connectionId: ctx.conn.id,
              nameId,
              email: null,
              name: null,
              groups: [],
              role: 'member',
              flow: 'idp-initiated',
            });
          }
          expect((await rec(b).users.listByAccount(one.acc.id)).map((u) => u.nameId).sort()).toEqual([
            'auth0|a',
            'auth0|b',
          ]);
        });

        it('keeps an admin’s role override and disabled flag across sign-ins, and records each sign-in’s flow', async () => {
          const { acc, conn } = await connectionFor(a);
          const signIn = (flow: 'sp-initiated' | 'idp-initiated', i: number) =>
            rec(pick(i)).users.upsertFromSso({
              accountId: acc.id,
              connectionId: conn.id,
              nameId: 'auth0|ann',
              email: 'ann@acme.test',
              name: null,
              groups: ['staff'],
              role: 'member',
              flow,
            });
          const first = (await signIn('sp-initiated', 0)).user;
          expect(first).toMatchObject({ roleOverride: null, lastLoginFlow: 'sp-initiated', disabled: false });
          expect(first.lastLoginAt).not.toBeNull();

          const changed = await rec(b).users.update(acc.id, first.id, {
            roleOverride: 'admin',
            disabled: true,
          });
          expect(changed).toMatchObject({
            id: first.id,
            roleOverride: 'admin',
            disabled: true,
            role: 'member',
          });
          // Only the fields sent change.
          expect(await rec(a).users.update(acc.id, first.id, { disabled: false })).toMatchObject({
            roleOverride: 'admin',
            disabled: false,
          });
          // A sign-in rewrites the profile and the flow, never the admin's decisions.
          await rec(a).users.update(acc.id, first.id, { disabled: true });
          const again = (await signIn('idp-initiated', 1)).user;
          expect(again).toMatchObject({
            roleOverride: 'admin',
            disabled: true,
            lastLoginFlow: 'idp-initiated',
          });
          expect(await rec(b).users.update(acc.id, first.id, { roleOverride: null })).toMatchObject({
            roleOverride: null,
          });

          // Another account's user, or no user: null, and nothing changes.
          const other = await connectionFor(b);
          expect(await rec(a).users.update(other.acc.id, first.id, { disabled: false })).toBeNull();
          expect(await rec(a).users.update(acc.id, 'no-such-user', { disabled: false })).toBeNull();
          expect((await rec(b).users.getById(first.id))?.disabled).toBe(true);
        });

        it('records a password sign-in (time and flow) on a local user', async () => {
          const { acc } = await connectionFor(a);
          const local = await rec(a).users.createLocal({
            accountId: acc.id,
            email: 'root@acme.test',
            name: null,
            role: 'admin',
            passwordHash: 'x',
          });
          expect(local).toMatchObject({ lastLoginAt: null, lastLoginFlow: null, roleOverride: null });
          const before = Date.now();
          await rec(b).users.recordLogin(local!.id, 'password');
          const read = await rec(a).users.getById(local!.id);
          expect(read?.lastLoginFlow).toBe('password');
          expect(Date.parse(read!.lastLoginAt!)).toBeGreaterThanOrEqual(before - 1000);
        });

        it('a guarded change sees the account before and after it, and writes nothing when refused', async () => {
          const { acc, conn } = await connectionFor(a);
          const jane = (
            await rec(a).users.upsertFromSso({
              accountId: acc.id,
              connectionId: conn.id,
              nameId: 'auth0|jane',
              email: null,
              name: null,
              groups: [],
              role: 'member',
              flow: 'sp-initiated',
            })
          ).user;
          const seen: string[] = [];
          const refused = rec(b).users.update(acc.id, jane.id, { disabled: true }, (before, after) => {
            seen.push(
              `${before.account.id === acc.id} ${before.connection?.id === conn.id}`,
              `${before.users.find((u) => u.id === jane.id)?.disabled} -> ${after.users.find((u) => u.id === jane.id)?.disabled}`,
            );
            throw new SpError('LAST_ADMIN', { detail: 'refused by the guard' });
          });
          await expect(refused).rejects.toMatchObject({ code: 'LAST_ADMIN', detail: 'refused by the guard' });
          expect(seen).toEqual(['true true', 'false -> true']);
          expect((await rec(a).users.getById(jane.id))?.disabled).toBe(false);

          // Settings too: the guard sees old and new settings; a refusal keeps the old ones.
          const settings = { ...acc.settings, adminGroups: ['ops'] };
          const seenSettings: string[][] = [];
          await expect(
            rec(a).accounts.updateSettings(acc.id, settings, (before, after) => {
              seenSettings.push(before.account.settings.adminGroups, after.account.settings.adminGroups);
              expect(after.users.map((u) => u.id)).toEqual([jane.id]);
              throw new SpError('SETTINGS_INVALID');
            }),
          ).rejects.toSatisfy((e: unknown) => isSpError(e, 'SETTINGS_INVALID'));
          expect(seenSettings).toEqual([[], ['ops']]);
          expect((await rec(b).accounts.getBySlug(acc.slug))?.settings.adminGroups).toEqual([]);
          const saved = await rec(b).accounts.updateSettings(acc.id, settings, () => undefined);
          expect(saved.settings.adminGroups).toEqual(['ops']);
          await expect(
            rec(a).accounts.updateSettings('no-such-account', settings, () => undefined),
          ).rejects.toSatisfy((e: unknown) => isSpError(e, 'ACCOUNT_NOT_FOUND'));
        });

        it('guarded changes of one account are serialised: admins demoting each other at once leave one admin', async () => {
          for (let round = 0; round < 3; round++) {
            const { acc, conn } = await connectionFor(a);
            const admins = [];
            for (const nameId of ['auth0|x', 'auth0|y', 'auth0|z']) {
              const { user } = await rec(a).users.upsertFromSso({
                accountId: acc.id,
                connectionId: conn.id,
                nameId,
                email: null,
                name: null,
                groups: [],
                role: 'member',
                flow: 'sp-initiated',
              });
              admins.push((await rec(a).users.update(acc.id, user.id, { roleOverride: 'admin' }))!);
            }
            // "At least one admin must remain", judged on what each change sees inside its transaction.
            const keepOne = (_before: unknown, after: { users: { roleOverride: string | null }[] }) => {
              if (!after.users.some((u) => u.roleOverride === 'admin')) throw new SpError('LAST_ADMIN');
            };
            const results = await Promise.allSettled(
              admins.map((u, i) =>
                rec(pick(i)).users.update(acc.id, u.id, { roleOverride: 'member' }, keepOne),
              ),
            );
            expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
            const left = (await rec(b).users.listByAccount(acc.id)).filter((u) => u.roleOverride === 'admin');
            expect(left).toHaveLength(1);
          }
        });
      });

      describe('setup links', () => {
        it('creates, lists newest first, finds by hash, revokes within the account only', async () => {
          const acc = await rec(a).accounts.create({ slug: `setup-${uid()}`, name: 'S' });
          const other = await rec(a).accounts.create({ slug: `setup-${uid()}`, name: 'O' });
          const expiresAt = new Date(Date.now() + 3600_000).toISOString();
          const first = await rec(a).setupLinks.create({
            id: `l-${uid()}`,
            accountId: acc.id,
            tokenHash: `h-${uid()}`,
            expiresAt,
          });
          await new Promise((r) => setTimeout(r, 5));
          const hash = `h-${uid()}`;
          const second = await rec(a).setupLinks.create({
            id: `l-${uid()}`,
            accountId: acc.id,
            tokenHash: hash,
            expiresAt,
          });
          expect((await rec(b).setupLinks.list(acc.id)).map((l) => l.id)).toEqual([second.id, first.id]);
          expect(await rec(b).setupLinks.findByTokenHash(hash)).toEqual(second);
          expect(await rec(b).setupLinks.findByTokenHash(`none-${uid()}`)).toBeNull();
          expect(await rec(a).setupLinks.revoke(other.id, second.id, new Date().toISOString())).toBe(false);
          expect((await rec(b).setupLinks.get(second.id))!.revokedAt).toBeNull();
          const at = new Date().toISOString();
          expect(await rec(a).setupLinks.revoke(acc.id, second.id, at)).toBe(true);
          expect((await rec(b).setupLinks.get(second.id))!.revokedAt).toBe(at);
          // idempotent, and the first revocation time stays
          expect(
            await rec(a).setupLinks.revoke(acc.id, second.id, new Date(Date.now() + 1000).toISOString()),
          ).toBe(true);
          expect((await rec(b).setupLinks.get(second.id))!.revokedAt).toBe(at);
        });
      });

      describe('sign-in tests', () => {
        async function newTest(expiresInMs = 60_000) {
          const acc = await rec(a).accounts.create({ slug: `tst-${uid()}`, name: 'T' });
          const conn = await rec(a).connections.upsert(acc.id, {
            ssoUrl: 'https://idp.example/sso',
            idpEntityId: null,
            idpEntityIdSource: null,
            certificates: [],
          });
          const tokenHash = `hash-${uid()}`;
          const created = await rec(a).signInTests.create({
            id: `t-${uid()}`,
            accountId: acc.id,
            connectionId: conn.id,
            tokenHash,
            expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
          });
          return { acc, created, tokenHash };
        }

        it('creates a pending test, readable only within its account', async () => {
          const { acc, created } = await newTest();
          expect(created).toMatchObject({ status: 'pending', checks: [], startedAt: null, protocol: 'saml' });
          expect(await rec(b).signInTests.get(acc.id, created.id)).toEqual(created);
          const other = await rec(a).accounts.create({ slug: `tst-${uid()}`, name: 'O' });
          expect(await rec(b).signInTests.get(other.id, created.id)).toBeNull();
        });

        it('keeps the protocol of the connection tested (SAML by default, or OIDC)', async () => {
          const acc = await rec(a).accounts.create({ slug: `tst-${uid()}`, name: 'T' });
          const tokenHash = `hash-${uid()}`;
          const created = await rec(a).signInTests.create({
            id: `t-${uid()}`,
            accountId: acc.id,
            connectionId: `oidc-${uid()}`,
            tokenHash,
            expiresAt: new Date(Date.now() + 60_000).toISOString(),
            protocol: 'oidc',
          });
          expect(created.protocol).toBe('oidc');
          expect((await rec(b).signInTests.get(acc.id, created.id))?.protocol).toBe('oidc');
          expect((await rec(b).signInTests.start(tokenHash, new Date().toISOString()))?.protocol).toBe(
            'oidc',
          );
        });

        it('starts once: of concurrent followers of the link exactly one wins', async () => {
          const { tokenHash } = await newTest();
          const at = new Date().toISOString();
          const results = await Promise.all(
            Array.from({ length: 10 }, (_, i) => rec(i % 2 ? a : b).signInTests.start(tokenHash, at)),
          );
          expect(results.filter((r) => r !== null)).toHaveLength(1);
          expect(await rec(a).signInTests.start(tokenHash, at)).toBeNull();
          expect(await rec(a).signInTests.start(`unknown-${uid()}`, at)).toBeNull();
        });

        it('does not start after expiry', async () => {
          const { tokenHash } = await newTest(-1000);
          expect(await rec(a).signInTests.start(tokenHash, new Date().toISOString())).toBeNull();
        });

        it('records one verdict, only for a started test', async () => {
          const { acc, created, tokenHash } = await newTest();
          const verdict = {
            status: 'failed' as const,
            checks: [
              { name: 'audience', ok: false, evaluated: true, expected: 'x', received: 'y', hint: 'h' },
            ],
            referenceId: `ref_${uid()}`,
          };
          expect(await rec(a).signInTests.finish(created.id, verdict)).toBe(false);
          await rec(a).signInTests.start(tokenHash, new Date().toISOString());
          expect(await rec(b).signInTests.finish(created.id, verdict)).toBe(true);
          expect(await rec(a).signInTests.finish(created.id, { ...verdict, status: 'passed' })).toBe(false);
          expect(await rec(b).signInTests.get(acc.id, created.id)).toMatchObject({
            status: 'failed',
            checks: verdict.checks,
            referenceId: verdict.referenceId,
          });
        });

        it('deletes expired tests', async () => {
          const { acc, created } = await newTest(-2000);
          expect(
            await rec(a).signInTests.deleteExpiredBefore(new Date().toISOString()),
          ).toBeGreaterThanOrEqual(1);
          expect(await rec(a).signInTests.get(acc.id, created.id)).toBeNull();
        });
      });

      describe('audit', () => {
        /** A failure event of `account`, now, unless overridden. */
        function event(
          account: { id: string; slug: string },
          overrides: Partial<AuditRecord> = {},
        ): AuditRecord {
          return {
            referenceId: `ref_${uid()}`,
            at: new Date().toISOString(),
            accountId: account.id,
            accountSlug: account.slug,
            connectionId: null,
            outcome: 'failure',
            code: 'SAML_REPLAY',
            subject: 'auth0|x',
            userId: null,
            clientIp: '127.0.0.1',
            detail: null,
            expected: null,
            received: null,
            hint: null,
            ...overrides,
          };
        }

        it('keeps the diagnosis of a failure (expected, received, hint), capped', async () => {
          const acc = await rec(a).accounts.create({ slug: `diag-${uid()}`, name: 'D' });
          const referenceId = `ref_${uid()}`;
          await rec(a).audit.record(
            event(acc, {
              referenceId,
              code: 'SAML_AUDIENCE_MISMATCH',
              expected: 'https://sp.example/sso/x/metadata',
              received: 'unverified: urn:other',
              hint: 'set "audience"'.padEnd(5000, '.'),
            }),
          );
          const got = await rec(b).audit.getByReference(referenceId);
          expect(got).toMatchObject({
            expected: 'https://sp.example/sso/x/metadata',
            received: 'unverified: urn:other',
          });
          expect(got!.hint!.length).toBeLessThanOrEqual(1500);
          expect(got!.hint!.startsWith('set "audience"')).toBe(true);
        });

        it('records events, lists them newest first with a limit, finds one by reference', async () => {
          const acc = await rec(a).accounts.create({ slug: `audit-${uid()}`, name: 'A' });
          const refs: string[] = [];
          for (let i = 0; i < 5; i++) {
            const e = event(acc, i === 4 ? { outcome: 'success', code: 'OK' } : {});
            refs.push(e.referenceId);
            await rec(pick(i)).audit.record(e);
          }
          const listed = await rec(a).audit.list(acc.id, { limit: 3 });
          expect(listed.map((e) => e.referenceId)).toEqual([refs[4], refs[3], refs[2]]);
          expect(listed[0]).toMatchObject({ accountId: acc.id, accountSlug: acc.slug, outcome: 'success' });
          expect(await rec(b).audit.getByReference(refs[0]!)).toMatchObject({
            code: 'SAML_REPLAY',
            accountId: acc.id,
            accountSlug: acc.slug,
          });
          expect(await rec(b).audit.getByReference('ref_none')).toBeNull();
        });

        it('lists by account id: never another account’s events, nor events carrying the same slug', async () => {
          const mine = await rec(a).accounts.create({ slug: `audit-${uid()}`, name: 'Mine' });
          const other = await rec(a).accounts.create({ slug: `audit-${uid()}`, name: 'Other' });
          const own = event(mine);
          await rec(a).audit.record(own);
          // Same slug, other account id: e.g. an account deleted and re-created under the same slug.
          await rec(b).audit.record(event({ id: other.id, slug: mine.slug }));
          await rec(b).audit.record(event(other));
          expect((await rec(b).audit.list(mine.id, { limit: 50 })).map((e) => e.referenceId)).toEqual([
            own.referenceId,
          ]);
          expect(await rec(a).audit.list(`no-such-${uid()}`, { limit: 50 })).toEqual([]);
        });

        it('filters by outcome and by code, newest first, so a flood of failures cannot hide a success', async () => {
          const acc = await rec(a).accounts.create({ slug: `audit-${uid()}`, name: 'F' });
          const success = event(acc, { outcome: 'success', code: 'OK', subject: 'auth0|real' });
          await rec(a).audit.record(success);
          const signature = event(acc, { code: 'SAML_SIGNATURE_INVALID' });
          await rec(b).audit.record(signature);
          for (let i = 0; i < 30; i++)
            await rec(pick(i)).audit.record(event(acc, { code: 'SAML_RESPONSE_MALFORMED' }));
          expect(await rec(a).audit.list(acc.id, { limit: 5 })).toHaveLength(5);
          const successes = await rec(b).audit.list(acc.id, { limit: 5, outcome: 'success' });
          expect(successes.map((e) => e.referenceId)).toEqual([success.referenceId]);
          const failures = await rec(a).audit.list(acc.id, { limit: 100, outcome: 'failure' });
          expect(failures).toHaveLength(31);
          expect(failures.every((e) => e.outcome === 'failure')).toBe(true);
          const byCode = await rec(b).audit.list(acc.id, { limit: 5, code: 'SAML_SIGNATURE_INVALID' });
          expect(byCode.map((e) => e.referenceId)).toEqual([signature.referenceId]);
          expect(
            await rec(a).audit.list(acc.id, { limit: 5, outcome: 'success', code: 'SAML_REPLAY' }),
          ).toEqual([]);
        });

        it('caps every free-text field and strips control characters, whatever the caller sends', async () => {
          const acc = await rec(a).accounts.create({ slug: `audit-${uid()}`, name: 'C' });
          const huge = 'x'.repeat(100_000);
          const e = event(acc, {
            subject: `auth0|${huge}`,
            clientIp: `10.0.0.1, ${huge}`,
            code: `CODE_${'Y'.repeat(10_000)}`,
            detail: `line1\nline2\u0000\u001b[31m${huge}`,
            expected: huge,
            received: `unverified: ${huge}`,
            hint: huge,
          });
          await rec(a).audit.record(e);
          const stored = await rec(b).audit.getByReference(e.referenceId);
          expect(stored!.subject!.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.subject);
          expect(stored!.clientIp!.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.clientIp);
          expect(stored!.code.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.code);
          expect(stored!.detail!.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.detail);
          expect(stored!.expected!.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.expected);
          expect(stored!.received!.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.received);
          expect(stored!.hint!.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.hint);
          // Hints are our own sentences (with quoted values): longer than the rest, still bounded.
          const { hint: hintLimit, ...rest } = AUDIT_TEXT_LIMITS;
          expect(Math.max(...Object.values(rest))).toBeLessThanOrEqual(500);
          expect(hintLimit).toBeLessThanOrEqual(1500);
          expect(stored!.subject).toMatch(/^auth0\|x+…$/);
          expect(stored!.detail).toMatch(/^line1 line2 {2}\[31mx+…$/);
          const short = event(acc, { subject: 'auth0|short', detail: 'kept as is' });
          await rec(a).audit.record(short);
          expect(await rec(b).audit.getByReference(short.referenceId)).toMatchObject({
            subject: 'auth0|short',
            detail: 'kept as is',
          });
        });

        it('deletes events older than a cutoff, in batches, and keeps the newer ones', async () => {
          const acc = await rec(a).accounts.create({ slug: `audit-${uid()}`, name: 'R' });
          const day = 24 * 3600 * 1000;
          const cutoff = new Date(Date.now() - 90 * day);
          const old = Array.from({ length: 7 }, (_, i) =>
            event(acc, { at: new Date(cutoff.getTime() - (i + 1) * day).toISOString() }),
          );
          const kept = event(acc, { at: new Date(cutoff.getTime() + 1000).toISOString() });
          for (const e of [...old, kept]) await rec(a).audit.record(e);
          const deleted = await rec(b).audit.deleteOlderThan(cutoff.toISOString(), { batchSize: 3 });
          // Other suites share the engine: at least ours went, and only events older than the cutoff.
          expect(deleted).toBeGreaterThanOrEqual(7);
          expect((await rec(a).audit.list(acc.id, { limit: 50 })).map((e) => e.referenceId)).toEqual([
            kept.referenceId,
          ]);
          expect(await rec(a).audit.getByReference(old[0]!.referenceId)).toBeNull();
          expect(await rec(b).audit.deleteOlderThan(cutoff.toISOString())).toBe(0);
        });
      });
    }

    if (engine.provides.records) {
      const rec = (h: ContractHandle) => required(h.records, 'record stores');

      describe('bots', () => {
        const newToken = (botId: string, expiresAt: string | null = '2099-01-01T00:00:00.000Z') => ({
          id: randomUUID(),
          botId,
          kid: 'kid-1',
          expiresAt,
          createdBy: 'operator',
        });

        it('creates bots per account and lists them in creation order; a bot is found by id from the other handle', async () => {
          const acc = await rec(a).accounts.create({ slug: `bots-${uid()}`, name: 'B' });
          const other = await rec(a).accounts.create({ slug: `bots-${uid()}`, name: 'O' });
          const first = await rec(a).bots.create({
            accountId: acc.id,
            name: 'ingest',
            role: 'member',
            createdBy: 'operator',
          });
          await sleep(5); // creation order is by time (ties within a millisecond are ordered by id)
          const second = await rec(b).bots.create({
            accountId: acc.id,
            name: 'ci',
            role: 'admin',
            createdBy: 'user:u1',
          });
          await rec(b).bots.create({
            accountId: other.id,
            name: 'elsewhere',
            role: 'admin',
            createdBy: 'operator',
          });
          expect(first).toEqual({
            id: expect.any(String),
            accountId: acc.id,
            name: 'ingest',
            role: 'member',
            disabled: false,
            createdAt: expect.any(String),
            disabledAt: null,
            createdBy: 'operator',
          });
          expect(await rec(b).bots.getById(first.id)).toEqual(first);
          expect((await rec(a).bots.listByAccount(acc.id)).map((x) => x.id)).toEqual([first.id, second.id]);
          expect(await rec(a).bots.getById(randomUUID())).toBeNull();
        });

        it('refuses a role other than admin or member at the database too', async () => {
          const acc = await rec(a).accounts.create({ slug: `bots-${uid()}`, name: 'R' });
          await expect(
            rec(a).bots.create({
              accountId: acc.id,
              name: 'x',
              role: 'owner' as 'admin',
              createdBy: 'operator',
            }),
          ).rejects.toBeDefined();
        });

        it('records tokens (never the token itself), lists them newest first, and reads a credential in one call', async () => {
          const acc = await rec(a).accounts.create({ slug: `bots-${uid()}`, name: 'T' });
          const bot = await rec(a).bots.create({
            accountId: acc.id,
            name: 'ingest',
            role: 'admin',
            createdBy: 'operator',
          });
          const t1 = await rec(a).bots.addToken(newToken(bot.id));
          await sleep(5);
          const t2 = await rec(b).bots.addToken(newToken(bot.id, null));
          expect(t1).toEqual({
            ...newToken(bot.id),
            id: t1.id,
            createdAt: expect.any(String),
            revokedAt: null,
          });
          expect((await rec(b).bots.listTokens(bot.id)).map((t) => t.id)).toEqual([t2.id, t1.id]);
          expect(await rec(b).bots.credential(t2.id)).toEqual({ token: t2, bot, accountSlug: acc.slug });
          expect(await rec(a).bots.credential(randomUUID())).toBeNull();
        });

        it('revocation and disabling are seen at once through the other handle, and are idempotent', async () => {
          const acc = await rec(a).accounts.create({ slug: `bots-${uid()}`, name: 'V' });
          const bot = await rec(a).bots.create({
            accountId: acc.id,
            name: 'ingest',
            role: 'admin',
            createdBy: 'operator',
          });
          const other = await rec(a).bots.create({
            accountId: acc.id,
            name: 'other',
            role: 'admin',
            createdBy: 'operator',
          });
          const tok = await rec(a).bots.addToken(newToken(bot.id));
          expect((await rec(a).bots.credential(tok.id))!.token.revokedAt).toBeNull();
          // Only through its own bot.
          expect(await rec(b).bots.revokeToken(other.id, tok.id)).toBe(false);
          expect(await rec(b).bots.revokeToken(bot.id, tok.id)).toBe(true);
          const revokedAt = (await rec(a).bots.credential(tok.id))!.token.revokedAt;
          expect(revokedAt).toEqual(expect.any(String));
          await sleep(5);
          expect(await rec(a).bots.revokeToken(bot.id, tok.id)).toBe(true);
          expect((await rec(b).bots.credential(tok.id))!.token.revokedAt).toBe(revokedAt);
          expect(await rec(b).bots.revokeToken(bot.id, randomUUID())).toBe(false);

          expect(await rec(b).bots.disable(bot.id)).toBe(true);
          const disabled = (await rec(a).bots.credential(tok.id))!.bot;
          expect(disabled).toMatchObject({ disabled: true, disabledAt: expect.any(String) });
          await sleep(5);
          expect(await rec(a).bots.disable(bot.id)).toBe(true);
          expect((await rec(b).bots.getById(bot.id))!.disabledAt).toBe(disabled.disabledAt);
          expect(await rec(a).bots.disable(randomUUID())).toBe(false);
        });
      });
    }

    if (engine.provides.oneTime) {
      const ot = (h: ContractHandle) => required(h.oneTime, 'a one-time store');

      describe('one-time values', () => {
        it('take() returns a stored value once, then null', async () => {
          const key = `authn:c1:${uid()}`;
          await ot(a).put(key, 'nonce-hash', 60_000);
          expect(await ot(b).take(key)).toBe('nonce-hash');
          expect(await ot(a).take(key)).toBeNull();
          expect(await ot(a).take(`authn:c1:${uid()}`)).toBeNull();
        });

        it('put() replaces the value under a key', async () => {
          const key = `authn:c1:${uid()}`;
          await ot(a).put(key, 'v1', 60_000);
          await ot(b).put(key, 'v2', 60_000);
          expect(await ot(a).take(key)).toBe('v2');
        });

        it('keys are namespaced per connection: one connection never consumes another’s', async () => {
          const id = uid();
          await ot(a).put(`authn:conn-a:${id}`, 'for-a', 60_000);
          expect(await ot(a).take(`authn:conn-b:${id}`)).toBeNull();
          expect(await ot(b).claim(`replay:acc-a:${id}`, 60_000)).toBe(true);
          expect(await ot(b).claim(`replay:acc-b:${id}`, 60_000)).toBe(true);
          expect(await ot(a).take(`authn:conn-a:${id}`)).toBe('for-a');
        });

        it('claim() succeeds once per key while the record lives', async () => {
          const key = `replay:acc:${uid()}`;
          expect(await ot(a).claim(key, 60_000)).toBe(true);
          expect(await ot(b).claim(key, 60_000)).toBe(false);
          expect(await ot(a).claim(key, 60_000)).toBe(false);
        });

        it('honours expiry: an expired value cannot be taken, an expired claim can be made again', async () => {
          const taken = `authn:c1:${uid()}`;
          const claimed = `replay:acc:${uid()}`;
          await ot(a).put(taken, 'v', 80);
          expect(await ot(a).claim(claimed, 80)).toBe(true);
          await sleep(250);
          expect(await ot(b).take(taken)).toBeNull();
          expect(await ot(b).claim(claimed, 60_000)).toBe(true);
          expect(await ot(a).claim(claimed, 60_000)).toBe(false);
        });

        it('50 concurrent claim() of one key: exactly one true', async () => {
          const key = `replay:acc:${uid()}`;
          const results = await Promise.all(
            Array.from({ length: 50 }, (_, i) => ot(pick(i)).claim(key, 60_000)),
          );
          expect(results.filter(Boolean)).toHaveLength(1);
        });

        it('50 concurrent take() of one key: exactly one gets the value', async () => {
          const key = `authn:c1:${uid()}`;
          await ot(a).put(key, 'only-once', 60_000);
          const results = await Promise.all(Array.from({ length: 50 }, (_, i) => ot(pick(i)).take(key)));
          expect(results.filter((v) => v === 'only-once')).toHaveLength(1);
          expect(results.filter((v) => v === null)).toHaveLength(49);
        });
      });
    }

    if (engine.provides.sessions) {
      const ss = (h: ContractHandle) => required(h.sessionStore, 'a session store');

      describe('sessions', () => {
        it('stores, reads (from the other handle) and destroys a session', async () => {
          const sid = uid();
          await sessSet(ss(a), sid, sessionData(60_000, 'alice'));
          const read = await sessGet(ss(b), sid);
          expect(read?.user).toMatchObject({ userId: 'alice', email: 'alice@acme.test' });
          await sessDestroy(ss(b), sid);
          expect(await sessGet(ss(a), sid)).toBeFalsy();
          expect(await sessGet(ss(a), uid())).toBeFalsy();
        });

        it('replaces a session on set()', async () => {
          const sid = uid();
          await sessSet(ss(a), sid, sessionData(60_000, 'one'));
          await sessSet(ss(b), sid, sessionData(60_000, 'two'));
          expect((await sessGet(ss(a), sid))?.user?.userId).toBe('two');
        });

        it('honours the cookie expiry, and touch() extends it', async () => {
          const gone = uid();
          const kept = uid();
          await sessSet(ss(a), gone, sessionData(1000));
          await sessSet(ss(a), kept, sessionData(1000));
          await sessTouch(ss(b), kept, sessionData(60_000));
          await sleep(1300);
          expect(await sessGet(ss(b), gone)).toBeFalsy();
          expect(await sessGet(ss(b), kept)).toBeTruthy();
        });

        it('does not return a session whose cookie has already expired', async () => {
          const sid = uid();
          await sessSet(ss(a), sid, sessionData(-1000));
          expect(await sessGet(ss(b), sid)).toBeFalsy();
        });
      });
    }
  });
}
