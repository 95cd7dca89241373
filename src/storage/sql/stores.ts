import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { prepare, type Arg } from './prepared.js';
import { SpError } from '../../errors.js';
import { AUDIT_TEXT_LIMITS, capAuditText } from '../audit-text.js';
import type {
  LocalUserInput,
  Account,
  AccountSettings,
  AccountState,
  AccountStore,
  AuditEvent,
  AuditQuery,
  AuditRecord,
  AuditStore,
  ChangeGuard,
  Connection,
  ConnectionStore,
  MetadataRefreshError,
  MetadataRefreshOutcome,
  LoginFlow,
  OidcConnection,
  OidcConnectionInput,
  OidcConnectionStore,
  OneTimeStore,
  SetupLink,
  SetupLinkStore,
  SignInCheck,
  SignInTest,
  SignInTestStore,
  User,
  UserAdminPatch,
  UserStore,
} from '../types.js';
import type {
  AccountsTable,
  AuditTable,
  ConnectionsTable,
  Database,
  OidcConnectionsTable,
  SetupLinksTable,
  SignInTestsTable,
  UsersTable,
} from './schema.js';

/** Rows an expiry sweep deletes per statement: a few milliseconds of write lock each. */
export const SWEEP_BATCH = 2000;

/**
 * Runs `deleteBatch` (which deletes at most `batch` rows and says how many) until a batch comes back
 * short; returns the rows deleted. Between two batches the requests waiting on the event loop run
 * first: without that the batches, each awaited, would run back to back (SQLite answers
 * synchronously) and hold the worker.
 */
export async function deleteInBatches(batch: number, deleteBatch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await deleteBatch();
    total += n;
    if (n < batch) return total;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Defaults for accounts created before a setting existed, and for new accounts. */
export const defaultAccountSettings: AccountSettings = Object.freeze({
  idpInitiated: true,
  allowedEmailDomains: [],
  allowSha1: false,
  adminGroups: [],
  ssoOnly: false,
  loginConfirmation: true,
  requireEmail: true,
});

const now = (): string => new Date().toISOString();

/** Local password users live beside SSO users (`kind` tells them apart), with no connection. */
const localNameId = (email: string): string => `local:${email.toLowerCase()}`;

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return (
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e?.code === '23505'
  );
}

function toAccount(row: Selectable<AccountsTable>): Account {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    createdAt: row.created_at,
    settings: { ...defaultAccountSettings, ...(JSON.parse(row.settings) as Partial<AccountSettings>) },
  };
}

function toConnection(row: Selectable<ConnectionsTable>): Connection {
  return {
    id: row.id,
    accountId: row.account_id,
    ssoUrl: row.sso_url,
    idpEntityId: row.idp_entity_id,
    idpEntityIdSource: row.idp_entity_id_source as Connection['idpEntityIdSource'],
    certificates: JSON.parse(row.certificates) as Connection['certificates'],
    status: row.status === 'active' ? 'active' : 'pending',
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    activatedAt: row.activated_at,
    metadataUrl: row.metadata_url ?? null,
    metadataRefreshedAt: row.metadata_refreshed_at ?? null,
    metadataCheckedAt: row.metadata_checked_at ?? null,
    metadataRefreshError: parseRefreshError(row.metadata_error ?? null),
  };
}

function parseRefreshError(text: string | null): MetadataRefreshError | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as Partial<MetadataRefreshError>;
    return typeof v.at === 'string' && typeof v.code === 'string' && typeof v.message === 'string'
      ? { at: v.at, code: v.code, message: v.message }
      : null;
  } catch {
    return null;
  }
}

const LOGIN_FLOWS: readonly string[] = ['sp-initiated', 'idp-initiated', 'password', 'setup-link'];

function toUser(row: Selectable<UsersTable>): User {
  const override = row.role_override;
  return {
    id: row.id,
    accountId: row.account_id,
    connectionId: row.connection_id,
    nameId: row.name_id,
    email: row.email,
    name: row.name,
    role: row.role === 'admin' ? 'admin' : 'member',
    roleOverride: override === 'admin' || override === 'member' ? override : null,
    groups: JSON.parse(row.groups) as string[],
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at,
    lastLoginFlow: LOGIN_FLOWS.includes(row.last_login_flow ?? '')
      ? (row.last_login_flow as LoginFlow)
      : null,
    passwordHash: row.password_hash,
    disabled: Number(row.disabled) === 1,
    kind: row.kind === 'local' ? 'local' : 'sso',
    protocol: row.kind === 'local' ? null : row.protocol === 'oidc' ? 'oidc' : 'saml',
    oidcConnectionId: row.oidc_connection_id,
  };
}

function toOidcConnection(row: Selectable<OidcConnectionsTable>): OidcConnection {
  const metadata = JSON.parse(row.metadata) as { idTokenSigningAlgs?: string[] };
  return {
    id: row.id,
    accountId: row.account_id,
    issuer: row.issuer,
    authorizationUrl: row.authorization_url,
    tokenUrl: row.token_url,
    jwksUri: row.jwks_uri,
    userinfoUrl: row.userinfo_url,
    clientId: row.client_id,
    clientSecretEnc: row.client_secret_enc,
    clientType: row.client_type === 'public' ? 'public' : 'confidential',
    tokenEndpointAuthMethod:
      row.token_endpoint_auth_method === 'client_secret_post' || row.token_endpoint_auth_method === 'none'
        ? row.token_endpoint_auth_method
        : 'client_secret_basic',
    source: row.source === 'manual' ? 'manual' : 'discovery',
    idTokenSigningAlgs: Array.isArray(metadata.idTokenSigningAlgs) ? metadata.idTokenSigningAlgs : [],
    status: row.status === 'active' ? 'active' : 'pending',
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    activatedAt: row.activated_at,
  };
}

function toAudit(row: Selectable<AuditTable>): AuditEvent {
  return {
    referenceId: row.reference_id,
    at: row.at,
    accountId: row.account_id,
    accountSlug: row.account_slug,
    connectionId: row.connection_id,
    outcome: row.outcome === 'success' ? 'success' : 'failure',
    code: row.code,
    subject: row.subject,
    userId: row.user_id,
    clientIp: row.client_ip,
    detail: row.detail,
    expected: row.expected,
    received: row.received,
    hint: row.hint,
  };
}

function toSignInTest(row: Selectable<SignInTestsTable>): SignInTest {
  const status = row.status;
  return {
    id: row.id,
    accountId: row.account_id,
    connectionId: row.connection_id,
    protocol: row.protocol === 'oidc' ? 'oidc' : 'saml',
    status: status === 'passed' || status === 'failed' || status === 'started' ? status : 'pending',
    checks: JSON.parse(row.checks) as SignInCheck[],
    referenceId: row.reference_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/**
 * Serialises guarded changes of one account: a no-op UPDATE of the account row. On PostgreSQL it takes
 * the row lock until the transaction ends, so a second guarded change of the same account waits and
 * then reads what the first one wrote (READ COMMITTED reads afresh at each statement). On SQLite any
 * write takes the database write lock, and taking it first (before reading) means two processes never
 * both read and then both try to upgrade to writing. False when the account does not exist.
 *
 * Why: two admins removing each other's admin role at the same moment must not both see "another admin
 * remains" and leave the account with none.
 */
async function lockAccount(trx: Transaction<Database>, accountId: string): Promise<boolean> {
  const res = await trx
    .updateTable('accounts')
    .set((eb) => ({ settings: eb.ref('settings') }))
    .where('id', '=', accountId)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** The account, its connection and its users, read inside a guarded change. */
async function readAccountState(trx: Transaction<Database>, accountId: string): Promise<AccountState> {
  const account = await trx.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
  if (!account) throw new SpError('ACCOUNT_NOT_FOUND');
  const connection = await trx
    .selectFrom('connections')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  const oidcConnection = await trx
    .selectFrom('oidc_connections')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  const users = await trx
    .selectFrom('users')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('created_at')
    .execute();
  return {
    account: toAccount(account),
    connection: connection ? toConnection(connection) : null,
    oidcConnection: oidcConnection ? toOidcConnection(oidcConnection) : null,
    users: users.map(toUser),
  };
}

/** Every column of a connection, for a read that joins it to its account (prefixed `c_` there). */
const CONNECTION_COLUMNS = [
  'id',
  'account_id',
  'sso_url',
  'idp_entity_id',
  'idp_entity_id_source',
  'certificates',
  'status',
  'created_at',
  'updated_at',
  'activated_at',
  'metadata_url',
  'metadata_refreshed_at',
  'metadata_checked_at',
  'metadata_error',
] as const satisfies readonly (keyof ConnectionsTable)[];
// A column added to the table and not to the list above fails to compile here.
const everyConnectionColumn: Exclude<
  keyof ConnectionsTable,
  (typeof CONNECTION_COLUMNS)[number]
> extends never
  ? true
  : never = true;
void everyConnectionColumn;

/** Accounts in SQL. */
export class SqlAccountStore implements AccountStore {
  /** An OIDC login's first read (see prepare()). */
  private readonly bySlug;
  /** A SAML login's first read. */
  private readonly withConnection;

  constructor(private readonly db: Kysely<Database>) {
    this.bySlug = prepare(db, (arg: Arg<{ slug: string }>) =>
      db.selectFrom('accounts').selectAll().where('slug', '=', arg('slug')),
    );
    this.withConnection = prepare(db, (arg: Arg<{ slug: string }>) =>
      db
        .selectFrom('accounts')
        .leftJoin('connections', 'connections.account_id', 'accounts.id')
        .selectAll('accounts')
        .select(CONNECTION_COLUMNS.map((c) => `connections.${c} as c_${c}` as const))
        .where('accounts.slug', '=', arg('slug')),
    );
  }

  async getWithConnection(slug: string): Promise<{ account: Account; connection: Connection | null } | null> {
    const [row] = await this.withConnection({ slug });
    if (!row) return null;
    if (row.c_id === null) return { account: toAccount(row), connection: null };
    const connection: Record<string, unknown> = {};
    for (const column of CONNECTION_COLUMNS) connection[column] = row[`c_${column}`];
    return { account: toAccount(row), connection: toConnection(connection as Selectable<ConnectionsTable>) };
  }

  async create(input: { slug: string; name: string }): Promise<Account> {
    const row = {
      id: randomUUID(),
      slug: input.slug,
      name: input.name,
      settings: JSON.stringify(defaultAccountSettings),
      created_at: now(),
    };
    try {
      await this.db.insertInto('accounts').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new SpError('ACCOUNT_EXISTS', { cause: err });
      throw err;
    }
    return toAccount(row);
  }

  async getById(id: string): Promise<Account | null> {
    const row = await this.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toAccount(row) : null;
  }

  async getBySlug(slug: string): Promise<Account | null> {
    const [row] = await this.bySlug({ slug });
    return row ? toAccount(row) : null;
  }

  async updateSettings(accountId: string, settings: AccountSettings, guard?: ChangeGuard): Promise<Account> {
    if (guard) {
      return this.db.transaction().execute(async (trx) => {
        if (!(await lockAccount(trx, accountId))) throw new SpError('ACCOUNT_NOT_FOUND');
        const before = await readAccountState(trx, accountId);
        const row = await trx
          .updateTable('accounts')
          .set({ settings: JSON.stringify(settings) })
          .where('id', '=', accountId)
          .returningAll()
          .executeTakeFirstOrThrow();
        const account = toAccount(row);
        guard(before, { ...before, account });
        return account;
      });
    }
    const row = await this.db
      .updateTable('accounts')
      .set({ settings: JSON.stringify(settings) })
      .where('id', '=', accountId)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new SpError('ACCOUNT_NOT_FOUND');
    return toAccount(row);
  }
}

/** IdP connections in SQL. */
export class SqlConnectionStore implements ConnectionStore {
  constructor(private readonly db: Kysely<Database>) {}

  // A login reads its connection with the account (SqlAccountStore.getWithConnection), not here.
  async getByAccount(accountId: string): Promise<Connection | null> {
    const row = await this.db
      .selectFrom('connections')
      .selectAll()
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    return row ? toConnection(row) : null;
  }

  async upsert(accountId: string, input: Parameters<ConnectionStore['upsert']>[1]): Promise<Connection> {
    const t = now();
    // An import from a URL starts its refresh state afresh; any other import clears it.
    const metadataUrl = input.metadataUrl ?? null;
    const metadata = {
      metadata_url: metadataUrl,
      metadata_refreshed_at: metadataUrl === null ? null : t,
      metadata_checked_at: metadataUrl === null ? null : t,
      metadata_error: null,
    };
    const row = await this.db
      .insertInto('connections')
      .values({
        id: randomUUID(),
        account_id: accountId,
        sso_url: input.ssoUrl,
        idp_entity_id: input.idpEntityId,
        idp_entity_id_source: input.idpEntityIdSource,
        certificates: JSON.stringify(input.certificates),
        status: 'pending',
        created_at: t,
        updated_at: t,
        activated_at: null,
        ...metadata,
      })
      .onConflict((oc) =>
        oc.column('account_id').doUpdateSet({
          sso_url: input.ssoUrl,
          idp_entity_id: input.idpEntityId,
          idp_entity_id_source: input.idpEntityIdSource,
          certificates: JSON.stringify(input.certificates),
          updated_at: t,
          ...metadata,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    return toConnection(row);
  }

  async delete(accountId: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('connections')
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async recordSuccessfulLogin(connectionId: string, issuer: string | null): Promise<void> {
    const t = now();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('connections')
        .set({ status: 'active', activated_at: t, updated_at: t })
        .where('id', '=', connectionId)
        .where('status', '<>', 'active')
        .execute();
      if (issuer !== null) {
        await trx
          .updateTable('connections')
          .set({ idp_entity_id: issuer, idp_entity_id_source: 'first-login', updated_at: t })
          .where('id', '=', connectionId)
          .where('idp_entity_id', 'is', null)
          .execute();
      }
    });
  }

  async list(): Promise<Connection[]> {
    const rows = await this.db.selectFrom('connections').selectAll().orderBy('id').execute();
    return rows.map(toConnection);
  }

  async listWithMetadataUrl(): Promise<Connection[]> {
    const rows = await this.db
      .selectFrom('connections')
      .selectAll()
      .where('metadata_url', 'is not', null)
      .orderBy('id')
      .execute();
    return rows.map(toConnection);
  }

  async claimMetadataRefresh(
    connectionId: string,
    metadataUrl: string,
    staleBefore: string,
    at: string,
  ): Promise<boolean> {
    // One conditional UPDATE: the row lock (PostgreSQL) or the database lock (SQLite) lets exactly one
    // of several racing instances match the condition.
    const res = await this.db
      .updateTable('connections')
      .set({ metadata_checked_at: at })
      .where('id', '=', connectionId)
      .where('metadata_url', '=', metadataUrl)
      .where((eb) =>
        eb.or([eb('metadata_checked_at', 'is', null), eb('metadata_checked_at', '<', staleBefore)]),
      )
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async recordMetadataRefresh(
    connectionId: string,
    metadataUrl: string,
    outcome: MetadataRefreshOutcome,
  ): Promise<Connection | null> {
    const base = this.db
      .updateTable('connections')
      .where('id', '=', connectionId)
      .where('metadata_url', '=', metadataUrl);
    const query =
      outcome.kind === 'failed'
        ? base.set({
            metadata_error: JSON.stringify(outcome.error),
            metadata_checked_at: outcome.error.at,
          })
        : outcome.kind === 'unchanged'
          ? base.set({
              metadata_refreshed_at: outcome.at,
              metadata_checked_at: outcome.at,
              metadata_error: null,
            })
          : base.set({
              sso_url: outcome.input.ssoUrl,
              idp_entity_id: outcome.input.idpEntityId,
              idp_entity_id_source: outcome.input.idpEntityIdSource,
              certificates: JSON.stringify(outcome.input.certificates),
              updated_at: outcome.at,
              metadata_refreshed_at: outcome.at,
              metadata_checked_at: outcome.at,
              metadata_error: null,
            });
    const row = await query.returningAll().executeTakeFirst();
    return row ? toConnection(row) : null;
  }
}

/** OAuth 2.0 / OpenID Connect connections in SQL (one per account). */
export class SqlOidcConnectionStore implements OidcConnectionStore {
  constructor(private readonly db: Kysely<Database>) {}

  async getByAccount(accountId: string): Promise<OidcConnection | null> {
    const row = await this.db
      .selectFrom('oidc_connections')
      .selectAll()
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    return row ? toOidcConnection(row) : null;
  }

  async upsert(accountId: string, input: OidcConnectionInput): Promise<OidcConnection> {
    const t = now();
    const fields = {
      issuer: input.issuer,
      authorization_url: input.authorizationUrl,
      token_url: input.tokenUrl,
      jwks_uri: input.jwksUri,
      userinfo_url: input.userinfoUrl,
      client_id: input.clientId,
      client_secret_enc: input.clientSecretEnc,
      client_type: input.clientType,
      token_endpoint_auth_method: input.tokenEndpointAuthMethod,
      source: input.source,
      metadata: JSON.stringify({ idTokenSigningAlgs: input.idTokenSigningAlgs }),
      updated_at: t,
    };
    const row = await this.db
      .insertInto('oidc_connections')
      .values({
        id: randomUUID(),
        account_id: accountId,
        ...fields,
        status: 'pending',
        created_at: t,
        activated_at: null,
      })
      .onConflict((oc) => oc.column('account_id').doUpdateSet(fields))
      .returningAll()
      .executeTakeFirstOrThrow();
    return toOidcConnection(row);
  }

  async delete(accountId: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('oidc_connections')
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async recordSuccessfulLogin(connectionId: string): Promise<void> {
    const t = now();
    await this.db
      .updateTable('oidc_connections')
      .set({ status: 'active', activated_at: t, updated_at: t })
      .where('id', '=', connectionId)
      .where('status', '<>', 'active')
      .execute();
  }
}

/** The columns a returning SSO user's sign-in sets, and the user it finds. */
type SsoUserUpdate = Pick<
  UsersTable,
  'email' | 'name' | 'groups' | 'role' | 'updated_at' | 'last_login_at'
> & {
  last_login_flow: string;
  connectionId: string;
  accountId: string;
  protocol: string;
  nameId: string;
};

/**
 * Users in SQL. Local password users and SSO users are told apart by `kind`, and each is unique per
 * (account, kind, NameID).
 *
 * Why an SSO user belongs to the account and not to one import of its connection: the account admin
 * decides which IdP speaks for the account, and a NameID is that IdP's name for a person. Deleting the
 * connection (an incident-response step) and importing it again must give the same people back their
 * same user — with the same id for the host application's data, and with the state the admin set:
 * a user disabled before the delete is still disabled after the re-import. Keying users by connection
 * would mint fresh, enabled rows on every re-import. Replacing the IdP in place (PUT) already kept users
 * attached; delete + import now behaves the same.
 */
export class SqlUserStore implements UserStore {
  /**
   * A returning user's sign-in, per protocol (the column the connection goes in differs; see
   * prepare()). `attached`, the statement of nearly every login, finds the user already attached to
   * this connection and leaves the connection column out of its SET: SQLite rewrites the entries of
   * every index on a column an UPDATE sets, even to the same value (with 20,000 users, measured: an
   * update took 9–17 µs with the column in its SET, 2.5–4.5 µs without).
   * `attach` also (re-)attaches the user: one orphaned by a connection delete, or of a replaced
   * connection. `disabled` is never touched here.
   */
  private readonly signIn;

  constructor(private readonly db: Kysely<Database>) {
    const update = (column: 'connection_id' | 'oidc_connection_id', attach: boolean) =>
      prepare(db, (arg: Arg<SsoUserUpdate>) => {
        const q = db
          .updateTable('users')
          .set({
            email: arg('email'),
            name: arg('name'),
            groups: arg('groups'),
            role: arg('role'),
            updated_at: arg('updated_at'),
            last_login_at: arg('last_login_at'),
            last_login_flow: arg('last_login_flow'),
            ...(attach ? { [column]: arg('connectionId') } : {}),
          })
          .where('account_id', '=', arg('accountId'))
          .where('kind', '=', 'sso')
          .where('protocol', '=', arg('protocol'))
          .where('name_id', '=', arg('nameId'));
        return (attach ? q : q.where(column, '=', arg('connectionId'))).returningAll();
      });
    this.signIn = {
      saml: { attached: update('connection_id', false), attach: update('connection_id', true) },
      oidc: { attached: update('oidc_connection_id', false), attach: update('oidc_connection_id', true) },
    };
  }

  async upsertFromSso(
    input: Parameters<UserStore['upsertFromSso']>[0],
  ): Promise<{ user: User; created: boolean }> {
    const t = now();
    const protocol = input.protocol ?? 'saml';
    // The connection column of the user's protocol; the other stays as it is (null for a new user).
    const attach =
      protocol === 'oidc'
        ? { oidc_connection_id: input.connectionId }
        : { connection_id: input.connectionId };
    const profile = {
      email: input.email,
      name: input.name,
      groups: JSON.stringify(input.groups),
      role: input.role,
      updated_at: t,
      last_login_at: t,
      last_login_flow: input.flow,
    };
    const args = {
      ...profile,
      connectionId: input.connectionId,
      accountId: input.accountId,
      protocol,
      nameId: input.nameId,
    };
    // A returning user (the usual login) is one UPDATE.
    const [attached] = await this.signIn[protocol].attached(args);
    if (attached) return { user: toUser(attached), created: false };
    const update = async () => (await this.signIn[protocol].attach(args))[0];
    const existing = await update();
    if (existing) return { user: toUser(existing), created: false };
    // INSERT … ON CONFLICT DO NOTHING is atomic: of two simultaneous first logins exactly one inserts,
    // the other falls through to the update below and sees the same row. No conflict target: the row
    // can conflict on (account_id, kind, name_id) and on the older, implied (connection_id, name_id);
    // with a target, a race on the other one would raise instead of falling through.
    const inserted = await this.db
      .insertInto('users')
      .values({
        id: randomUUID(),
        account_id: input.accountId,
        connection_id: null,
        oidc_connection_id: null,
        ...attach,
        name_id: input.nameId,
        kind: 'sso',
        protocol,
        password_hash: null,
        disabled: 0,
        role_override: null,
        created_at: t,
        ...profile,
      })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { user: toUser(inserted), created: true };
    const updated = await update();
    if (!updated) throw new Error('SSO user neither inserted nor found');
    return { user: toUser(updated), created: false };
  }

  async getById(id: string): Promise<User | null> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async createLocal(input: LocalUserInput): Promise<User | null> {
    const t = now();
    const row = await this.db
      .insertInto('users')
      .values({
        id: randomUUID(),
        account_id: input.accountId,
        connection_id: null,
        oidc_connection_id: null,
        name_id: localNameId(input.email),
        kind: 'local',
        protocol: 'saml',
        email: input.email,
        name: input.name,
        role: input.role,
        groups: '[]',
        password_hash: input.passwordHash,
        disabled: 0,
        role_override: null,
        created_at: t,
        updated_at: t,
        last_login_at: null,
        last_login_flow: null,
      })
      .onConflict((oc) => oc.columns(['account_id', 'kind', 'protocol', 'name_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async findLocal(accountId: string, email: string): Promise<User | null> {
    const row = await this.db
      .selectFrom('users')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('kind', '=', 'local')
      .where('name_id', '=', localNameId(email))
      .executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<boolean> {
    const res = await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_at: now() })
      .where('id', '=', userId)
      .where('kind', '=', 'local')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async setDisabled(userId: string, disabled: boolean): Promise<boolean> {
    const res = await this.db
      .updateTable('users')
      .set({ disabled: disabled ? 1 : 0, updated_at: now() })
      .where('id', '=', userId)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async update(
    accountId: string,
    userId: string,
    patch: UserAdminPatch,
    guard?: ChangeGuard,
  ): Promise<User | null> {
    return this.db.transaction().execute(async (trx) => {
      if (guard && !(await lockAccount(trx, accountId))) return null;
      const before = guard ? await readAccountState(trx, accountId) : null;
      const set: { updated_at: string; disabled?: number; role_override?: string | null } = {
        updated_at: now(),
      };
      if (patch.disabled !== undefined) set.disabled = patch.disabled ? 1 : 0;
      if (patch.roleOverride !== undefined) set.role_override = patch.roleOverride;
      const row = await trx
        .updateTable('users')
        .set(set)
        .where('id', '=', userId)
        .where('account_id', '=', accountId)
        .returningAll()
        .executeTakeFirst();
      if (!row) return null;
      const user = toUser(row);
      if (guard && before) {
        guard(before, { ...before, users: before.users.map((u) => (u.id === user.id ? user : u)) });
      }
      return user;
    });
  }

  async recordLogin(userId: string, flow: LoginFlow): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ last_login_at: now(), last_login_flow: flow })
      .where('id', '=', userId)
      .execute();
  }

  async listByAccount(accountId: string): Promise<User[]> {
    const rows = await this.db
      .selectFrom('users')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at')
      .execute();
    return rows.map(toUser);
  }
}

/** An audit row as inserted (the database numbers it). */
type AuditInsert = Omit<AuditTable, 'seq'>;

/** The ACS audit trail in SQL, kept per account id. */
export class SqlAuditStore implements AuditStore {
  /** Every sign-in, refusal and error page writes one (see prepare()). */
  private readonly insert;

  constructor(private readonly db: Kysely<Database>) {
    this.insert = prepare(db, (arg: Arg<AuditInsert>) =>
      db.insertInto('audit').values({
        reference_id: arg('reference_id'),
        at: arg('at'),
        account_id: arg('account_id'),
        account_slug: arg('account_slug'),
        connection_id: arg('connection_id'),
        outcome: arg('outcome'),
        code: arg('code'),
        subject: arg('subject'),
        user_id: arg('user_id'),
        client_ip: arg('client_ip'),
        detail: arg('detail'),
        expected: arg('expected'),
        received: arg('received'),
        hint: arg('hint'),
      }),
    );
  }

  async record(e: AuditRecord): Promise<void> {
    const max = AUDIT_TEXT_LIMITS;
    await this.insert({
      reference_id: e.referenceId,
      at: e.at,
      account_id: e.accountId,
      account_slug: capAuditText(e.accountSlug, max.accountSlug),
      connection_id: e.connectionId,
      outcome: e.outcome === 'success' ? 'success' : 'failure',
      code: capAuditText(e.code, max.code),
      subject: capAuditText(e.subject, max.subject),
      user_id: e.userId,
      client_ip: capAuditText(e.clientIp, max.clientIp),
      detail: capAuditText(e.detail, max.detail),
      expected: capAuditText(e.expected, max.expected),
      received: capAuditText(e.received, max.received),
      hint: capAuditText(e.hint, max.hint),
    });
  }

  async list(accountId: string, query: AuditQuery): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit').selectAll().where('account_id', '=', accountId);
    if (query.outcome !== undefined) q = q.where('outcome', '=', query.outcome);
    if (query.code !== undefined) q = q.where('code', '=', query.code);
    const rows = await q.orderBy('seq', 'desc').limit(query.limit).execute();
    return rows.map(toAudit);
  }

  async getByReference(referenceId: string): Promise<AuditEvent | null> {
    const row = await this.db
      .selectFrom('audit')
      .selectAll()
      .where('reference_id', '=', referenceId)
      .executeTakeFirst();
    return row ? toAudit(row) : null;
  }

  async deleteOlderThan(cutoff: string, opts: { batchSize?: number } = {}): Promise<number> {
    // In batches, so a large backlog never holds a long write lock (SQLite) or one huge transaction.
    const batch = Math.max(1, opts.batchSize ?? 5000);
    return deleteInBatches(batch, async () => {
      const res = await this.db
        .deleteFrom('audit')
        .where('seq', 'in', (eb) =>
          eb.selectFrom('audit').select('seq').where('at', '<', cutoff).orderBy('seq').limit(batch),
        )
        .executeTakeFirst();
      return Number(res.numDeletedRows);
    });
  }
}

function toSetupLink(row: Selectable<SetupLinksTable>): SetupLink {
  return {
    id: row.id,
    accountId: row.account_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

/** Setup links in SQL. */
export class SqlSetupLinkStore implements SetupLinkStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(input: Parameters<SetupLinkStore['create']>[0]): Promise<SetupLink> {
    const row = {
      id: input.id,
      account_id: input.accountId,
      token_hash: input.tokenHash,
      created_at: now(),
      expires_at: input.expiresAt,
      revoked_at: null,
    };
    await this.db.insertInto('setup_links').values(row).execute();
    return toSetupLink(row);
  }

  async list(accountId: string): Promise<SetupLink[]> {
    const rows = await this.db
      .selectFrom('setup_links')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at', 'desc')
      .limit(200)
      .execute();
    return rows.map(toSetupLink);
  }

  async get(id: string): Promise<SetupLink | null> {
    const row = await this.db.selectFrom('setup_links').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toSetupLink(row) : null;
  }

  async findByTokenHash(tokenHash: string): Promise<SetupLink | null> {
    const row = await this.db
      .selectFrom('setup_links')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row ? toSetupLink(row) : null;
  }

  async revoke(accountId: string, id: string, at: string): Promise<boolean> {
    const link = await this.db
      .selectFrom('setup_links')
      .select('id')
      .where('id', '=', id)
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    if (!link) return false;
    await this.db
      .updateTable('setup_links')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
    return true;
  }
}

/** Test sign-ins in SQL. */
export class SqlSignInTestStore implements SignInTestStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(input: Parameters<SignInTestStore['create']>[0]): Promise<SignInTest> {
    const row = {
      id: input.id,
      account_id: input.accountId,
      connection_id: input.connectionId,
      token_hash: input.tokenHash,
      status: 'pending',
      checks: '[]',
      reference_id: null,
      created_at: now(),
      expires_at: input.expiresAt,
      started_at: null,
      finished_at: null,
      protocol: input.protocol ?? 'saml',
    };
    await this.db.insertInto('sign_in_tests').values(row).execute();
    return toSignInTest(row);
  }

  async get(accountId: string, id: string): Promise<SignInTest | null> {
    const row = await this.db
      .selectFrom('sign_in_tests')
      .selectAll()
      .where('id', '=', id)
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    return row ? toSignInTest(row) : null;
  }

  async start(tokenHash: string, at: string): Promise<SignInTest | null> {
    // One guarded UPDATE: of two browsers following the link at once, exactly one gets the test.
    const row = await this.db
      .updateTable('sign_in_tests')
      .set({ status: 'started', started_at: at })
      .where('token_hash', '=', tokenHash)
      .where('status', '=', 'pending')
      .where('expires_at', '>', at)
      .returningAll()
      .executeTakeFirst();
    return row ? toSignInTest(row) : null;
  }

  async finish(
    id: string,
    verdict: { status: 'passed' | 'failed'; checks: SignInCheck[]; referenceId: string },
  ): Promise<boolean> {
    const res = await this.db
      .updateTable('sign_in_tests')
      .set({
        status: verdict.status,
        checks: JSON.stringify(verdict.checks),
        reference_id: verdict.referenceId,
        finished_at: now(),
      })
      .where('id', '=', id)
      .where('status', '=', 'started')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async deleteExpiredBefore(cutoff: string): Promise<number> {
    const res = await this.db.deleteFrom('sign_in_tests').where('expires_at', '<', cutoff).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

/** One-time values in SQL: atomic through DELETE … RETURNING and a guarded upsert. */
export class SqlOneTimeStore implements OneTimeStore {
  /**
   * A record that has expired may be claimed again; a live one may not. The conflict branch only
   * fires its update (and returns a row) when the stored record is expired. Every login claims its
   * assertion ID (see prepare()).
   */
  private readonly claimKey;

  constructor(private readonly db: Kysely<Database>) {
    this.claimKey = prepare(db, (arg: Arg<{ key: string; now: number; expiresAt: number }>) =>
      db
        .insertInto('one_time')
        .values({ key: arg('key'), value: '1', expires_at: arg('expiresAt') })
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet({ value: '1', expires_at: arg('expiresAt') })
            .where('one_time.expires_at', '<=', arg('now')),
        )
        .returning('key'),
    );
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    const expires = Date.now() + ttlMs;
    await this.db
      .insertInto('one_time')
      .values({ key, value, expires_at: expires })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, expires_at: expires }))
      .execute();
  }

  async take(key: string): Promise<string | null> {
    const row = await this.db
      .deleteFrom('one_time')
      .where('key', '=', key)
      .returning(['value', 'expires_at'])
      .executeTakeFirst();
    if (!row || Number(row.expires_at) <= Date.now()) return null;
    return row.value;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const t = Date.now();
    const rows = await this.claimKey({ key, now: t, expiresAt: t + ttlMs });
    return rows.length > 0;
  }

  /**
   * Deletes expired rows; called periodically. In batches: one DELETE of a million expired replay
   * entries held SQLite's write lock (and the worker) for over a second, stalling every login.
   */
  async sweep(opts: { batchSize?: number } = {}): Promise<number> {
    const batch = Math.max(1, opts.batchSize ?? SWEEP_BATCH);
    const now = Date.now();
    return deleteInBatches(batch, async () => {
      const res = await this.db
        .deleteFrom('one_time')
        .where('key', 'in', (eb) =>
          eb.selectFrom('one_time').select('key').where('expires_at', '<=', now).limit(batch),
        )
        .executeTakeFirst();
      return Number(res.numDeletedRows);
    });
  }
}
