import type { Generated } from 'kysely';

/** Row shapes of the SQL schema shared by SQLite and PostgreSQL (see migrations.ts). */
export interface AccountsTable {
  id: string;
  slug: string;
  name: string;
  settings: string;
  created_at: string;
}

export interface ConnectionsTable {
  id: string;
  account_id: string;
  sso_url: string;
  idp_entity_id: string | null;
  idp_entity_id_source: string | null;
  certificates: string;
  status: string;
  created_at: string;
  updated_at: string;
  activated_at: string | null;
  /** See migration 0009. */
  metadata_url: string | null;
  metadata_refreshed_at: string | null;
  metadata_checked_at: string | null;
  /** JSON `{ at, code, message }` of the last failed refresh. */
  metadata_error: string | null;
}

export interface UsersTable {
  id: string;
  account_id: string;
  connection_id: string | null;
  name_id: string;
  email: string | null;
  name: string | null;
  role: string;
  groups: string;
  password_hash: string | null;
  /** 'local' (password) or 'sso'; see migration 0004. */
  kind: string;
  disabled: number;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
  /** 'admin', 'member' or null (follow the groups); see migration 0007. */
  role_override: string | null;
  last_login_flow: string | null;
  /** 'saml' or 'oidc' (local users: 'saml', unused); see migration 0010. */
  protocol: string;
  oidc_connection_id: string | null;
}

export interface OidcConnectionsTable {
  id: string;
  account_id: string;
  issuer: string;
  authorization_url: string;
  token_url: string;
  jwks_uri: string;
  userinfo_url: string | null;
  client_id: string;
  client_secret_enc: string | null;
  client_type: string;
  token_endpoint_auth_method: string;
  source: string;
  /** JSON: discovered metadata the flow needs (ID token signing algorithms). */
  metadata: string;
  status: string;
  created_at: string;
  updated_at: string;
  activated_at: string | null;
}

export interface AuditTable {
  reference_id: string;
  seq: Generated<number>;
  at: string;
  account_id: string | null;
  account_slug: string | null;
  connection_id: string | null;
  outcome: string;
  code: string;
  subject: string | null;
  user_id: string | null;
  client_ip: string | null;
  detail: string | null;
  expected: string | null;
  received: string | null;
  hint: string | null;
}

export interface SetupLinksTable {
  id: string;
  account_id: string;
  token_hash: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

export interface SignInTestsTable {
  id: string;
  account_id: string;
  connection_id: string;
  token_hash: string;
  status: string;
  checks: string;
  reference_id: string | null;
  created_at: string;
  expires_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** `saml` or `oidc` (migration 0011). */
  protocol: string;
}

export interface OneTimeTable {
  key: string;
  value: string;
  expires_at: number | string;
}

export interface SessionsTable {
  sid: string;
  sess: string;
  expires_at: number | string;
}

export interface BotsTable {
  id: string;
  account_id: string;
  name: string;
  role: string;
  disabled: number;
  created_at: string;
  disabled_at: string | null;
  created_by: string;
}

export interface BotTokensTable {
  /** The JWT `jti`. */
  id: string;
  bot_id: string;
  kid: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  created_by: string;
}

export interface Database {
  accounts: AccountsTable;
  connections: ConnectionsTable;
  oidc_connections: OidcConnectionsTable;
  users: UsersTable;
  audit: AuditTable;
  sign_in_tests: SignInTestsTable;
  setup_links: SetupLinksTable;
  one_time: OneTimeTable;
  sessions: SessionsTable;
  bots: BotsTable;
  bot_tokens: BotTokensTable;
}
