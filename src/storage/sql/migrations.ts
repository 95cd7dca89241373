import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './schema.js';

/**
 * The schema, as ordered migrations. Written once with kysely's schema builder so SQLite and
 * PostgreSQL get the same tables; `dialect` only picks the auto-increment column type.
 */
function migrations(dialect: 'sqlite' | 'postgres'): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('accounts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('slug', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('settings', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('connections')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) =>
            c.notNull().unique().references('accounts.id').onDelete('cascade'),
          )
          .addColumn('sso_url', 'text', (c) => c.notNull())
          .addColumn('idp_entity_id', 'text')
          .addColumn('idp_entity_id_source', 'text')
          .addColumn('certificates', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('activated_at', 'text')
          .execute();
        await db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('connection_id', 'text', (c) => c.references('connections.id').onDelete('set null'))
          .addColumn('name_id', 'text', (c) => c.notNull())
          .addColumn('email', 'text')
          .addColumn('name', 'text')
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('groups', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text')
          .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('last_login_at', 'text')
          .addUniqueConstraint('users_connection_name_id', ['connection_id', 'name_id'])
          .execute();
        await db.schema.createIndex('users_account').on('users').column('account_id').execute();
        await db.schema
          .createTable('audit')
          .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('reference_id', 'text', (c) => c.notNull().unique())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('account_slug', 'text')
          .addColumn('connection_id', 'text')
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('code', 'text', (c) => c.notNull())
          .addColumn('subject', 'text')
          .addColumn('user_id', 'text')
          .addColumn('client_ip', 'text')
          .addColumn('detail', 'text')
          .execute();
        await db.schema.createIndex('audit_account').on('audit').columns(['account_slug', 'seq']).execute();
        await db.schema
          .createTable('one_time')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('one_time_expiry').on('one_time').column('expires_at').execute();
        await db.schema
          .createTable('sessions')
          .addColumn('sid', 'text', (c) => c.primaryKey())
          .addColumn('sess', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sessions_expiry').on('sessions').column('expires_at').execute();
      },
      async down(db: Kysely<unknown>) {
        for (const t of ['sessions', 'one_time', 'audit', 'users', 'connections', 'accounts']) {
          await db.schema.dropTable(t).ifExists().execute();
        }
      },
    },
    '0002_local_users': {
      async up(db: Kysely<unknown>) {
        // Local password users have no connection; the (connection_id, name_id) constraint ignores them
        // (NULLs are distinct), so they get their own partial unique index.
        await db.schema
          .createIndex('users_local_unique')
          .on('users')
          .columns(['account_id', 'name_id'])
          .unique()
          .where(sql.ref('connection_id'), 'is', null)
          .execute();
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropIndex('users_local_unique').ifExists().execute();
      },
    },
    '0003_audit_account_id': {
      async up(db: Kysely<unknown>) {
        await inTransaction(db, async (tx) => {
          // The trail was keyed by slug, so posts to a slug nobody had yet were shown to whoever created
          // that account later. Events now belong to an account id.
          await tx.schema.alterTable('audit').addColumn('account_id', 'text').execute();
          // Backfill only rows not older than the account: rows written before it existed (junk posted
          // to a free slug) stay unattributed and appear in no trail. Both columns hold
          // Date#toISOString() text, which sorts chronologically.
          await sql`UPDATE audit SET account_id = (
              SELECT a.id FROM accounts a WHERE a.slug = audit.account_slug AND a.created_at <= audit.at
            )`.execute(tx);
          await tx.schema.dropIndex('audit_account').execute();
          await tx.schema
            .createIndex('audit_account_seq')
            .on('audit')
            .columns(['account_id', 'seq'])
            .execute();
          // Filters an admin uses to find real events under a flood of junk ones.
          await tx.schema
            .createIndex('audit_account_outcome_seq')
            .on('audit')
            .columns(['account_id', 'outcome', 'seq'])
            .execute();
          await tx.schema
            .createIndex('audit_account_code_seq')
            .on('audit')
            .columns(['account_id', 'code', 'seq'])
            .execute();
          // Retention sweep.
          await tx.schema.createIndex('audit_at').on('audit').column('at').execute();
        });
      },
      async down(db: Kysely<unknown>) {
        for (const i of [
          'audit_at',
          'audit_account_code_seq',
          'audit_account_outcome_seq',
          'audit_account_seq',
        ]) {
          await db.schema.dropIndex(i).ifExists().execute();
        }
        await db.schema.alterTable('audit').dropColumn('account_id').execute();
        await db.schema.createIndex('audit_account').on('audit').columns(['account_slug', 'seq']).execute();
      },
    },
    '0004_user_kind': {
      async up(db: Kysely<unknown>) {
        await inTransaction(db, async (tx) => {
          // Deleting a connection sets its users' connection_id to NULL, which made orphaned SSO users
          // look like local password users: they collided in users_local_unique (503 on the second
          // delete) and could be found by findLocal. Every user now says what it is.
          await tx.schema
            .alterTable('users')
            .addColumn('kind', 'text', (c) =>
              c
                .notNull()
                .defaultTo('sso')
                .check(sql`kind IN ('local', 'sso')`),
            )
            .execute();
          // Local users are the only rows ever written with a password hash (and never a connection).
          await sql`UPDATE users SET kind = 'local' WHERE connection_id IS NULL AND password_hash IS NOT NULL`.execute(
            tx,
          );
          await dedupeSsoUsers(tx);
          await tx.schema.dropIndex('users_local_unique').execute();
          // One user per (account, kind, NameID): an SSO user is the account's IdP's NameID, whichever
          // import of the connection it signed in through (see SqlUserStore.upsertFromSso). The old
          // (connection_id, name_id) constraint stays (SQLite cannot drop it without rebuilding the
          // table); it is implied by this index and never decides anything.
          await tx.schema
            .createIndex('users_account_kind_name_id')
            .on('users')
            .columns(['account_id', 'kind', 'name_id'])
            .unique()
            .execute();
        });
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropIndex('users_account_kind_name_id').ifExists().execute();
        await db.schema
          .createIndex('users_local_unique')
          .on('users')
          .columns(['account_id', 'name_id'])
          .unique()
          .where(sql.ref('connection_id'), 'is', null)
          .execute();
        await db.schema.alterTable('users').dropColumn('kind').execute();
      },
    },
    '0008_setup_links': {
      async up(db: Kysely<unknown>) {
        // Links a vendor hands a customer's IT admin: an admin session for one account, until the link
        // expires or is revoked. Only a hash of the link's secret is stored.
        await db.schema
          .createTable('setup_links')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .execute();
        await db.schema.createIndex('setup_links_account').on('setup_links').column('account_id').execute();
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropTable('setup_links').ifExists().execute();
      },
    },
    '0005_diagnosis': {
      async up(db: Kysely<unknown>) {
        await inTransaction(db, async (tx) => {
          // What an admin needs to fix a failed sign-in: the value expected, the value received (marked
          // unverified when read before the signature was checked) and the hint naming the IdP setting.
          for (const column of ['expected', 'received', 'hint']) {
            await tx.schema.alterTable('audit').addColumn(column, 'text').execute();
          }
          // Test sign-ins: a one-time login link (stored as a hash) and the verdict of its response.
          await tx.schema
            .createTable('sign_in_tests')
            .addColumn('id', 'text', (c) => c.primaryKey())
            .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
            .addColumn('connection_id', 'text', (c) => c.notNull())
            .addColumn('token_hash', 'text', (c) => c.notNull().unique())
            .addColumn('status', 'text', (c) => c.notNull())
            .addColumn('checks', 'text', (c) => c.notNull())
            .addColumn('reference_id', 'text')
            .addColumn('created_at', 'text', (c) => c.notNull())
            .addColumn('expires_at', 'text', (c) => c.notNull())
            .addColumn('started_at', 'text')
            .addColumn('finished_at', 'text')
            .execute();
          await tx.schema
            .createIndex('sign_in_tests_expiry')
            .on('sign_in_tests')
            .column('expires_at')
            .execute();
        });
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropTable('sign_in_tests').ifExists().execute();
        for (const column of ['hint', 'received', 'expected']) {
          await db.schema.alterTable('audit').dropColumn(column).execute();
        }
      },
    },
    // 0006 is another branch's (bots); numbers only order migrations, so a gap is harmless.
    '0007_users_admin': {
      async up(db: Kysely<unknown>) {
        await inTransaction(db, async (tx) => {
          // An admin's per-user role decision, kept apart from `role` (which JIT provisioning rewrites
          // from the IdP groups at every sign-in): null means "follow the groups".
          await tx.schema
            .alterTable('users')
            .addColumn('role_override', 'text', (c) => c.check(sql`role_override IN ('admin', 'member')`))
            .execute();
          // How the user last signed in (sp-initiated, idp-initiated, password, setup-link). Unknown for
          // sign-ins before this migration: left null rather than guessed.
          await tx.schema.alterTable('users').addColumn('last_login_flow', 'text').execute();
        });
      },
      async down(db: Kysely<unknown>) {
        for (const column of ['last_login_flow', 'role_override']) {
          await db.schema.alterTable('users').dropColumn(column).execute();
        }
      },
    },
    // 0009: IdP metadata imported from a URL and refreshed on a schedule.
    '0009_idp_metadata_url': {
      async up(db: Kysely<unknown>) {
        await inTransaction(db, async (tx) => {
          // The URL the connection was imported from (null: imported from a certificate or a file), the
          // last successful fetch, the last attempt (claimed by one instance at a time), and the last
          // failure as JSON { at, code, message } (null once a fetch succeeds again).
          for (const column of [
            'metadata_url',
            'metadata_refreshed_at',
            'metadata_checked_at',
            'metadata_error',
          ]) {
            await tx.schema.alterTable('connections').addColumn(column, 'text').execute();
          }
        });
      },
      async down(db: Kysely<unknown>) {
        for (const column of [
          'metadata_error',
          'metadata_checked_at',
          'metadata_refreshed_at',
          'metadata_url',
        ]) {
          await db.schema.alterTable('connections').dropColumn(column).execute();
        }
      },
    },
    // 0010: OAuth 2.0 / OpenID Connect connections.
    '0010_oidc_connections': {
      async up(db: Kysely<unknown>) {
        await inTransaction(db, async (tx) => {
          // An account's OAuth 2.0 / OpenID Connect connection, beside (not instead of) its SAML one. The
          // client secret is stored only as an AES-256-GCM box (src/connections/secret-box.ts).
          await tx.schema
            .createTable('oidc_connections')
            .addColumn('id', 'text', (c) => c.primaryKey())
            .addColumn('account_id', 'text', (c) =>
              c.notNull().unique().references('accounts.id').onDelete('cascade'),
            )
            .addColumn('issuer', 'text', (c) => c.notNull())
            .addColumn('authorization_url', 'text', (c) => c.notNull())
            .addColumn('token_url', 'text', (c) => c.notNull())
            .addColumn('jwks_uri', 'text', (c) => c.notNull())
            .addColumn('userinfo_url', 'text')
            .addColumn('client_id', 'text', (c) => c.notNull())
            .addColumn('client_secret_enc', 'text')
            .addColumn('client_type', 'text', (c) =>
              c.notNull().check(sql`client_type IN ('confidential', 'public')`),
            )
            .addColumn('token_endpoint_auth_method', 'text', (c) => c.notNull())
            .addColumn('source', 'text', (c) => c.notNull())
            .addColumn('metadata', 'text', (c) => c.notNull())
            .addColumn('status', 'text', (c) => c.notNull())
            .addColumn('created_at', 'text', (c) => c.notNull())
            .addColumn('updated_at', 'text', (c) => c.notNull())
            .addColumn('activated_at', 'text')
            .execute();
          // OIDC users are the provider's `sub` (kept in name_id). A `sub` and a SAML NameID live in
          // different namespaces: an OIDC provider that mints the `sub` of some SAML user's NameID must
          // not sign in as that user. So SSO users now say which protocol knows them, and are unique per
          // (account, kind, protocol, name_id): an OIDC user orphaned by a connection delete is the same
          // user after the connection is configured again, as SAML users are (see SqlUserStore).
          await tx.schema
            .alterTable('users')
            .addColumn('protocol', 'text', (c) =>
              c
                .notNull()
                .defaultTo('saml')
                .check(sql`protocol IN ('saml', 'oidc')`),
            )
            .execute();
          await tx.schema
            .alterTable('users')
            .addColumn('oidc_connection_id', 'text', (c) =>
              c.references('oidc_connections.id').onDelete('set null'),
            )
            .execute();
          await tx.schema.dropIndex('users_account_kind_name_id').execute();
          await tx.schema
            .createIndex('users_account_kind_protocol_name_id')
            .on('users')
            .columns(['account_id', 'kind', 'protocol', 'name_id'])
            .unique()
            .execute();
          await tx.schema
            .createIndex('users_oidc_connection_name_id')
            .on('users')
            .columns(['oidc_connection_id', 'name_id'])
            .unique()
            .execute();
        });
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropIndex('users_oidc_connection_name_id').ifExists().execute();
        await db.schema.dropIndex('users_account_kind_protocol_name_id').ifExists().execute();
        await sql`DELETE FROM users WHERE protocol = 'oidc'`.execute(db);
        await db.schema
          .createIndex('users_account_kind_name_id')
          .on('users')
          .columns(['account_id', 'kind', 'name_id'])
          .unique()
          .execute();
        await db.schema.alterTable('users').dropColumn('oidc_connection_id').execute();
        await db.schema.alterTable('users').dropColumn('protocol').execute();
        await db.schema.dropTable('oidc_connections').ifExists().execute();
      },
    },
    // 0011: a test sign-in tests a SAML or an OIDC connection (its id alone cannot tell which).
    '0011_sign_in_test_protocol': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('sign_in_tests')
          .addColumn('protocol', 'text', (c) =>
            c
              .notNull()
              .defaultTo('saml')
              .check(sql`protocol IN ('saml', 'oidc')`),
          )
          .execute();
      },
      async down(db: Kysely<unknown>) {
        await sql`DELETE FROM sign_in_tests WHERE protocol = 'oidc'`.execute(db);
        await db.schema.alterTable('sign_in_tests').dropColumn('protocol').execute();
      },
    },
    // 0005 is taken by a parallel change; numbers only order migrations.
    '0006_bots': {
      async up(db: Kysely<unknown>) {
        await inTransaction(db, async (tx) => {
          await tx.schema
            .createTable('bots')
            .addColumn('id', 'text', (c) => c.primaryKey())
            .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
            .addColumn('name', 'text', (c) => c.notNull())
            .addColumn('role', 'text', (c) => c.notNull().check(sql`role IN ('admin', 'member')`))
            .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
            .addColumn('created_at', 'text', (c) => c.notNull())
            .addColumn('disabled_at', 'text')
            .addColumn('created_by', 'text', (c) => c.notNull())
            .execute();
          await tx.schema
            .createIndex('bots_account')
            .on('bots')
            .columns(['account_id', 'created_at'])
            .execute();
          // Only the token's id (the JWT jti) and metadata: the signed token is shown once and never stored,
          // so a copy of the database holds no usable credential.
          await tx.schema
            .createTable('bot_tokens')
            .addColumn('id', 'text', (c) => c.primaryKey())
            .addColumn('bot_id', 'text', (c) => c.notNull().references('bots.id').onDelete('cascade'))
            .addColumn('kid', 'text', (c) => c.notNull())
            .addColumn('created_at', 'text', (c) => c.notNull())
            .addColumn('expires_at', 'text')
            .addColumn('revoked_at', 'text')
            .addColumn('created_by', 'text', (c) => c.notNull())
            .execute();
          await tx.schema
            .createIndex('bot_tokens_bot')
            .on('bot_tokens')
            .columns(['bot_id', 'created_at'])
            .execute();
        });
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropTable('bot_tokens').ifExists().execute();
        await db.schema.dropTable('bots').ifExists().execute();
      },
    },
  };
}

/**
 * Before 0004 a user orphaned by a connection delete and the same user signing in after the re-import
 * were two rows. Keeps one per (account, NameID): the row the live connection uses, else the one that
 * signed in last; it is disabled when any of them was (an admin's decision is never undone by a
 * re-import). The others are deleted; audit events keep their old user ids.
 */
async function dedupeSsoUsers(tx: Kysely<unknown>): Promise<void> {
  const groups = await sql<{ account_id: string; name_id: string }>`
    SELECT account_id, name_id FROM users WHERE kind = 'sso'
    GROUP BY account_id, name_id HAVING COUNT(*) > 1`.execute(tx);
  for (const g of groups.rows) {
    const rows = await sql<{
      id: string;
      connection_id: string | null;
      disabled: number | string;
      last_login_at: string | null;
      created_at: string;
    }>`SELECT id, connection_id, disabled, last_login_at, created_at FROM users
       WHERE kind = 'sso' AND account_id = ${g.account_id} AND name_id = ${g.name_id}`.execute(tx);
    const rank = (r: (typeof rows.rows)[number]) =>
      `${r.connection_id === null ? 0 : 1}|${r.last_login_at ?? ''}|${r.created_at}|${r.id}`;
    const keep = rows.rows.reduce((best, r) => (rank(r) > rank(best) ? r : best));
    const disabled = rows.rows.some((r) => Number(r.disabled) === 1);
    await sql`DELETE FROM users WHERE kind = 'sso' AND account_id = ${g.account_id} AND name_id = ${g.name_id}
              AND id <> ${keep.id}`.execute(tx);
    if (disabled) await sql`UPDATE users SET disabled = 1 WHERE id = ${keep.id}`.execute(tx);
  }
}

/**
 * Runs `fn` in a transaction. PostgreSQL migrations already run inside the migrator's transaction;
 * kysely runs SQLite migrations without one, so a failure half-way would leave a half-migrated file.
 */
async function inTransaction(db: Kysely<unknown>, fn: (tx: Kysely<unknown>) => Promise<void>): Promise<void> {
  if (db.isTransaction) return fn(db);
  await db.transaction().execute(fn);
}

/** Names of every migration, in order (for tests that build an older schema). */
export function migrationNames(): string[] {
  return Object.keys(migrations('sqlite')).sort();
}

/**
 * Brings the schema up to date and returns the names of the migrations it applied. Safe to run from
 * several processes at once on PostgreSQL (kysely takes an advisory lock). `schema` (PostgreSQL) pins
 * kysely's bookkeeping tables to the kit's schema: kysely otherwise looks for them in any schema of the
 * database and would skip creating them when another schema (another deployment) already has them.
 */
export async function migrateToLatest(
  db: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  schema: string | null = null,
  /** Stop after this migration instead (tests build the schema a deployed database still has). */
  target?: string,
): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations(dialect)) };
  // Unordered: migrations developed in parallel (0006, 0007, 0008…) may land in any order; each is
  // applied once whatever the order, and none depends on another's tables.
  const migrator = new Migrator({
    db,
    provider,
    allowUnorderedMigrations: true,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await (target === undefined
    ? migrator.migrateToLatest()
    : migrator.migrateTo(target));
  if (error) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
