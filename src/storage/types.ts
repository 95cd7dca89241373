/**
 * The storage interfaces. One small interface per store; each engine implements them and one
 * contract test suite (test/contract/) runs against every engine.
 */

/** A customer account (tenant). */
export interface Account {
  id: string;
  slug: string;
  name: string;
  createdAt: string;
  settings: AccountSettings;
}

/** Per-account SSO policy. */
export interface AccountSettings {
  /** Accept unsolicited (IdP-initiated) responses, e.g. the Auth0 app tile. */
  idpInitiated: boolean;
  /** When non-empty, only users whose e-mail domain is listed may be provisioned or sign in. */
  allowedEmailDomains: string[];
  /** Relaxation: accept SHA-1 signatures and digests (Auth0's historic default). Off by default. */
  allowSha1: boolean;
  /** IdP groups whose members get the `admin` role in this account. */
  adminGroups: string[];
  /** When true (only possible once SSO is active), password sign-in is refused for this account's users. */
  ssoOnly: boolean;
  /**
   * A sign-in that did not start on this site (an unsolicited response, or a login started by a
   * cross-site navigation) waits for the user to confirm on a page of this origin (login CSRF defence).
   * `false` signs in directly and is open to login CSRF.
   */
  loginConfirmation: boolean;
  /** A sign-in without an e-mail (attribute, or an e-mail NameID) is refused. */
  requireEmail: boolean;
}

/** An X.509 certificate the admin imported. */
export interface StoredCertificate {
  pem: string;
  fingerprintSha256: string;
  subject: string;
  notBefore: string;
  notAfter: string;
}

/** The account's IdP connection. */
export interface Connection {
  id: string;
  accountId: string;
  ssoUrl: string;
  /** Expected Issuer; null until known (from metadata, the admin, or pinned at the first login). */
  idpEntityId: string | null;
  idpEntityIdSource: 'admin' | 'metadata' | 'first-login' | null;
  certificates: StoredCertificate[];
  status: 'pending' | 'active';
  createdAt: string;
  updatedAt: string;
  activatedAt: string | null;
  /**
   * The IdP metadata URL the connection was imported from, refreshed on a schedule; null when it was
   * imported from a certificate or a metadata file.
   */
  metadataUrl: string | null;
  /** The last successful fetch of {@link metadataUrl} (import or refresh). */
  metadataRefreshedAt: string | null;
  /** The last fetch attempt, successful or not (the scheduler's claim). */
  metadataCheckedAt: string | null;
  /** The last failed refresh, until a fetch succeeds again; the last good metadata stays in use. */
  metadataRefreshError: MetadataRefreshError | null;
}

/** Why a metadata refresh failed, and when. */
export interface MetadataRefreshError {
  at: string;
  code: string;
  message: string;
}

/** What an import writes. */
export interface ConnectionInput {
  ssoUrl: string;
  idpEntityId: string | null;
  idpEntityIdSource: Connection['idpEntityIdSource'];
  certificates: StoredCertificate[];
  /** The metadata URL it was fetched from; absent or null clears the connection's URL (and its refresh state). */
  metadataUrl?: string | null;
}

/** What a metadata refresh found. */
export type MetadataRefreshOutcome =
  /** The fetched metadata, written over the connection's IdP values (certificates, SSO URL, entity ID). */
  | { kind: 'replaced'; at: string; input: Omit<ConnectionInput, 'metadataUrl'> }
  /** The same IdP values as stored: only the refresh time changes. */
  | { kind: 'unchanged'; at: string }
  /** The fetch or the metadata failed: the stored IdP values stay, the error is recorded. */
  | { kind: 'failed'; error: MetadataRefreshError };
/** Whether a client can keep a secret: Auth0 "Regular Web Application" (confidential) or "Single Page Application" (public). */
export type OidcClientType = 'confidential' | 'public';

/** How a client authenticates at the token endpoint (`none` for public clients). */
export type OidcTokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/**
 * The account's OAuth 2.0 / OpenID Connect connection (one per account, beside its SAML connection).
 * The client secret is only ever held encrypted here (`clientSecretEnc`, see src/connections/secret-box.ts).
 */
export interface OidcConnection {
  id: string;
  accountId: string;
  /** The issuer, exactly as the provider publishes it (Auth0's ends with a slash). */
  issuer: string;
  authorizationUrl: string;
  tokenUrl: string;
  jwksUri: string;
  userinfoUrl: string | null;
  clientId: string;
  /** AES-256-GCM box of the client secret; null for public clients. */
  clientSecretEnc: string | null;
  clientType: OidcClientType;
  tokenEndpointAuthMethod: OidcTokenEndpointAuthMethod;
  /** `discovery`: endpoints read from the issuer's discovery document; `manual`: given by the admin. */
  source: 'discovery' | 'manual';
  /** The signing algorithms the provider announces for ID tokens (discovery), else empty (RS256 then). */
  idTokenSigningAlgs: string[];
  status: 'pending' | 'active';
  createdAt: string;
  updatedAt: string;
  activatedAt: string | null;
}

/** What configuring an OIDC connection writes. */
export type OidcConnectionInput = Omit<
  OidcConnection,
  'id' | 'accountId' | 'status' | 'createdAt' | 'updatedAt' | 'activatedAt'
>;

/**
 * How a user signed in: SP-initiated SSO (the response answers our AuthnRequest), IdP-initiated SSO
 * (an unsolicited response, e.g. the Auth0 tile), a local password, or a one-time setup link.
 */
export type LoginFlow = 'sp-initiated' | 'idp-initiated' | 'password' | 'setup-link';

/** A role an admin pinned on one user, whatever the IdP groups say. */
export type RoleOverride = 'admin' | 'member';

/** A provisioned user. */
export interface User {
  id: string;
  accountId: string;
  connectionId: string | null;
  nameId: string;
  email: string | null;
  name: string | null;
  /**
   * The role as last written: for an SSO user the one its groups gave at the last sign-in (the account's
   * `adminGroups` may have changed since), for a local user the one it was created with. What counts is
   * the effective role (`effectiveRole` in src/users/roles.ts): `roleOverride` first.
   */
  role: 'member' | 'admin';
  /** Set by an admin; null follows the groups (SSO) or the stored role (local). */
  roleOverride: RoleOverride | null;
  /** The IdP groups as received at the last SSO sign-in (empty for local users). */
  groups: string[];
  createdAt: string;
  lastLoginAt: string | null;
  /** How the user last signed in; null before the first sign-in (or for rows older than migration 0007). */
  lastLoginFlow: LoginFlow | null;
  passwordHash: string | null;
  disabled: boolean;
  /**
   * `local`: a password user of the account. `sso`: a user of the account's IdP, identified by its
   * NameID; `connectionId` is the connection it last signed in through, null once that is deleted.
   */
  kind: 'local' | 'sso';
  /**
   * For an SSO user, the protocol of the connection that knows it: `saml` (identified by its NameID,
   * `connectionId`) or `oidc` (identified by its `sub`, kept in `nameId`, `oidcConnectionId`). The same
   * person signing in through both is two users: a NameID and a `sub` are names in different namespaces.
   * Null for local users.
   */
  protocol: 'saml' | 'oidc' | null;
  /** For an OIDC user: the OIDC connection it last signed in through, null once that is deleted. */
  oidcConnectionId: string | null;
}

/** Attributes JIT provisioning writes on every login. */
export interface UserUpsert {
  accountId: string;
  /** The connection of `protocol` the user signed in through. */
  connectionId: string;
  /** Default `saml`: `connectionId` is the SAML connection; `oidc`: the OIDC connection and `nameId` the `sub`. */
  protocol?: 'saml' | 'oidc';
  nameId: string;
  email: string | null;
  name: string | null;
  groups: string[];
  role: 'member' | 'admin';
  /** How this sign-in came (recorded as the user's `lastLoginFlow`). */
  flow: LoginFlow;
}

/** What an admin may change on a user. */
export interface UserAdminPatch {
  disabled?: boolean;
  roleOverride?: RoleOverride | null;
}

/** An account with its connection and users, as a guarded change reads it inside its transaction. */
export interface AccountState {
  account: Account;
  connection: Connection | null;
  /** The account's OIDC connection (absent: not read, treated as none). */
  oidcConnection?: OidcConnection | null;
  users: User[];
}

/**
 * Decides whether a change may be written: called inside the change's transaction with the account as
 * it was and as it would be, after every other guarded change of the same account has committed
 * (guarded changes of one account are serialised). Throwing refuses the change: nothing is written.
 */
export type ChangeGuard = (before: AccountState, after: AccountState) => void;

/** One ACS outcome, as stored and listed. */
export interface AuditEvent {
  referenceId: string;
  at: string;
  /**
   * The account the event belongs to. Null only for rows written before events were recorded by account
   * id (migration 0003) that could not be attributed safely; such rows are in no account's trail.
   */
  accountId: string | null;
  /** The account's slug when the event happened (for display; the trail is listed by `accountId`). */
  accountSlug: string | null;
  connectionId: string | null;
  outcome: 'success' | 'failure';
  code: string;
  subject: string | null;
  userId: string | null;
  clientIp: string | null;
  detail: string | null;
  /** For a failure: the value this SP expected (e.g. the audience to configure at the IdP). */
  expected: string | null;
  /**
   * For a failure: the value the response carried. Prefixed `unverified: ` when it was read before
   * the signature was checked (for the admin's eyes, never trusted).
   */
  received: string | null;
  /** For a failure: what to change at the IdP, naming the setting and the value. */
  hint: string | null;
}

/** What the ACS records: always an event of an existing account (unknown slugs are only logged). */
export interface AuditRecord extends AuditEvent {
  accountId: string;
  accountSlug: string;
}

/** A filter on an account's trail, newest first. */
export interface AuditQuery {
  limit: number;
  outcome?: AuditEvent['outcome'];
  code?: string;
}

export interface AccountStore {
  create(input: { slug: string; name: string }): Promise<Account>;
  getBySlug(slug: string): Promise<Account | null>;
  /**
   * The account with this slug and its SAML connection (null when it has none), in one read: what
   * every SAML login reads first. Null when there is no such account.
   */
  getWithConnection(slug: string): Promise<{ account: Account; connection: Connection | null } | null>;
  getById(id: string): Promise<Account | null>;
  /** Replaces the settings; with a guard, only when the guard accepts the result (see {@link ChangeGuard}). */
  updateSettings(accountId: string, settings: AccountSettings, guard?: ChangeGuard): Promise<Account>;
}

export interface ConnectionStore {
  getByAccount(accountId: string): Promise<Connection | null>;
  /** Creates or replaces the account's connection, keeping its id (users stay attached). */
  upsert(accountId: string, input: ConnectionInput): Promise<Connection>;
  delete(accountId: string): Promise<boolean>;
  /** Marks the connection active and pins the issuer if none is known yet. Idempotent. */
  recordSuccessfulLogin(connectionId: string, issuer: string | null): Promise<void>;
  /** Every SAML connection (for the certificate expiry check). */
  list(): Promise<Connection[]>;
  /** Every connection imported from a metadata URL (for the scheduled refresh). */
  listWithMetadataUrl(): Promise<Connection[]>;
  /**
   * Claims the next refresh of a connection for one caller among instances: sets its last attempt to
   * `at` and returns true only when it still has `metadataUrl` and its last attempt is null or before
   * `staleBefore`. Atomic: of callers racing with the same `staleBefore`, one gets true.
   */
  claimMetadataRefresh(
    connectionId: string,
    metadataUrl: string,
    staleBefore: string,
    at: string,
  ): Promise<boolean>;
  /**
   * Records a refresh's outcome, only while the connection still has `metadataUrl` (a re-import made
   * meanwhile wins); null when it no longer does. `replaced` keeps the connection's id, status and users.
   * Idempotent: writing the same outcome twice leaves the same connection.
   */
  recordMetadataRefresh(
    connectionId: string,
    metadataUrl: string,
    outcome: MetadataRefreshOutcome,
  ): Promise<Connection | null>;
}

export interface OidcConnectionStore {
  getByAccount(accountId: string): Promise<OidcConnection | null>;
  /** Creates or replaces the account's OIDC connection, keeping its id and status (users stay attached). */
  upsert(accountId: string, input: OidcConnectionInput): Promise<OidcConnection>;
  delete(accountId: string): Promise<boolean>;
  /** Marks the connection active. Idempotent. */
  recordSuccessfulLogin(connectionId: string): Promise<void>;
}

export interface UserStore {
  /**
   * Creates the SSO user on first login or updates it (and attaches it to `connectionId`); atomic on
   * (accountId, nameId). A user orphaned by a connection delete is the same user after the re-import,
   * disabled if it was.
   */
  upsertFromSso(input: UserUpsert): Promise<{ user: User; created: boolean }>;
  getById(id: string): Promise<User | null>;
  listByAccount(accountId: string): Promise<User[]>;
  /** Creates a local password user (e.g. the bootstrap admin); null when that e-mail already has one. */
  createLocal(input: LocalUserInput): Promise<User | null>;
  /** The account's local password user with this e-mail. */
  findLocal(accountId: string, email: string): Promise<User | null>;
  /** Replaces a local user's password hash; false when no such local user. */
  setPasswordHash(userId: string, passwordHash: string): Promise<boolean>;
  /** Disables or re-enables a user; false when no such user. */
  setDisabled(userId: string, disabled: boolean): Promise<boolean>;
  /**
   * Applies an admin's change to a user of this account; with a guard, only when the guard accepts the
   * result (see {@link ChangeGuard}). Null when the account has no such user.
   */
  update(accountId: string, userId: string, patch: UserAdminPatch, guard?: ChangeGuard): Promise<User | null>;
  /** Records a sign-in that did not go through {@link upsertFromSso} (password): last sign-in time and flow. */
  recordLogin(userId: string, flow: LoginFlow): Promise<void>;
}

/** A local password user. */
export interface LocalUserInput {
  accountId: string;
  email: string;
  name: string | null;
  role: 'member' | 'admin';
  passwordHash: string;
}

/** One check of a test sign-in. */
export interface SignInCheck {
  name: string;
  ok: boolean;
  /** False when the check could not be evaluated (e.g. the signature did not verify first). */
  evaluated: boolean;
  expected?: string;
  received?: string;
  hint?: string;
}

/** A test sign-in: a one-time login link and, once the IdP answered, its verdict. */
export interface SignInTest {
  id: string;
  accountId: string;
  /** The SAML connection, or the OIDC one (`protocol: 'oidc'`). */
  connectionId: string;
  protocol: 'saml' | 'oidc';
  /** `started`: the link was followed, no answer yet (shown as `pending`). */
  status: 'pending' | 'started' | 'passed' | 'failed';
  checks: SignInCheck[];
  referenceId: string | null;
  createdAt: string;
  expiresAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface SignInTestStore {
  create(input: {
    id: string;
    accountId: string;
    connectionId: string;
    tokenHash: string;
    expiresAt: string;
    /** Default `saml`. */
    protocol?: 'saml' | 'oidc';
  }): Promise<SignInTest>;
  get(accountId: string, id: string): Promise<SignInTest | null>;
  /** Marks the test whose link has this hash as started; null when unknown, used or expired. Atomic. */
  start(tokenHash: string, now: string): Promise<SignInTest | null>;
  /** Records the verdict of a started test; false when it was not waiting for one. Atomic. */
  finish(
    id: string,
    verdict: { status: 'passed' | 'failed'; checks: SignInCheck[]; referenceId: string },
  ): Promise<boolean>;
  /** Deletes tests that expired before `cutoff` (ISO 8601). */
  deleteExpiredBefore(cutoff: string): Promise<number>;
}

/** A setup link: an admin session for one account, for whoever opens it, until expiry or revocation. */
export interface SetupLink {
  id: string;
  accountId: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

export interface SetupLinkStore {
  create(input: { id: string; accountId: string; tokenHash: string; expiresAt: string }): Promise<SetupLink>;
  /** The account's links, newest first. */
  list(accountId: string): Promise<SetupLink[]>;
  get(id: string): Promise<SetupLink | null>;
  /** The link whose secret has this hash (whatever its state). */
  findByTokenHash(tokenHash: string): Promise<SetupLink | null>;
  /** Revokes a link of the account; false when there is no such link. Idempotent. */
  revoke(accountId: string, id: string, at: string): Promise<boolean>;
}

export interface AuditStore {
  /**
   * Stores one event. Free-text fields are capped (see `AUDIT_TEXT_LIMITS`) and stripped of control
   * characters by the store itself, whoever the caller is.
   */
  record(event: AuditRecord): Promise<void>;
  /** The account's events, newest first, optionally only one outcome and/or one code. */
  list(accountId: string, query: AuditQuery): Promise<AuditEvent[]>;
  getByReference(referenceId: string): Promise<AuditEvent | null>;
  /** Deletes events older than `cutoff` (ISO 8601), in batches; returns how many. */
  deleteOlderThan(cutoff: string, opts?: { batchSize?: number }): Promise<number>;
}

/**
 * One-time values (AuthnRequest IDs, assertion IDs seen). Keys are namespaced by the caller
 * per connection. Both operations are atomic across processes sharing the engine.
 */
export interface OneTimeStore {
  /** Stores `value` under `key` for `ttlMs`. */
  put(key: string, value: string, ttlMs: number): Promise<void>;
  /** Returns and deletes the live value under `key`; null when absent or expired. */
  take(key: string): Promise<string | null>;
  /** Records `key` until `ttlMs` from now; false when a live record already exists (a replay). */
  claim(key: string, ttlMs: number): Promise<boolean>;
}

/** A machine user of one account (ingestion job, CI, script), authenticated by bot tokens. */
export interface Bot {
  id: string;
  accountId: string;
  name: string;
  role: 'member' | 'admin';
  /** A disabled bot's tokens are all refused; a bot is never re-enabled (create another). */
  disabled: boolean;
  createdAt: string;
  disabledAt: string | null;
  /** Who created it: `operator` (ADMIN_API_TOKEN or the CLI) or `user:<id>` (an account admin). */
  createdBy: string;
}

/** An issued bot token: its id (the JWT `jti`) and metadata, never the token itself. */
export interface BotToken {
  id: string;
  botId: string;
  /** The key that signed it. */
  kid: string;
  createdAt: string;
  /** ISO 8601 expiry; null for a token issued explicitly without expiry. */
  expiresAt: string | null;
  revokedAt: string | null;
  /** Who issued it (as {@link Bot.createdBy}). */
  createdBy: string;
}

/** A token with its bot and the bot's account slug: everything a request check needs, in one read. */
export interface BotCredential {
  token: BotToken;
  bot: Bot;
  accountSlug: string;
}

export interface BotStore {
  create(input: { accountId: string; name: string; role: Bot['role']; createdBy: string }): Promise<Bot>;
  getById(botId: string): Promise<Bot | null>;
  listByAccount(accountId: string): Promise<Bot[]>;
  /** Disables the bot (idempotent; the first disable time is kept); false when no such bot. */
  disable(botId: string): Promise<boolean>;
  /** Records an issued token. */
  addToken(token: Omit<BotToken, 'createdAt' | 'revokedAt'>): Promise<BotToken>;
  /** The bot's tokens, newest first. */
  listTokens(botId: string): Promise<BotToken[]>;
  /** Revokes the bot's token (idempotent; the first revocation time is kept); false when the bot has no such token. */
  revokeToken(botId: string, tokenId: string): Promise<boolean>;
  /** The token named by a JWT `jti`, with its bot and account, read from the shared database. */
  credential(tokenId: string): Promise<BotCredential | null>;
}

/** Everything the app needs from storage, with its lifecycle. */
export interface Stores {
  accounts: AccountStore;
  connections: ConnectionStore;
  oidcConnections: OidcConnectionStore;
  users: UserStore;
  audit: AuditStore;
  signInTests: SignInTestStore;
  setupLinks: SetupLinkStore;
  bots: BotStore;
  oneTime: OneTimeStore;
  /** Reports whether every backend answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
