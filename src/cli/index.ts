import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { AuditTrail } from '../audit/trail.js';
import { ConnectionService } from '../connections/service.js';
import { loadConfigFromEnv } from '../config/load.js';
import { isSpError, SpError } from '../errors.js';
import { openStorage } from '../storage/index.js';
import type { Account, RoleOverride, Stores } from '../storage/types.js';
import { UserAdmin, type UserSelector, type UserView } from '../users/admin.js';
import { createLocalAdmin } from '../users/local-login.js';
import { userLabel } from '../users/roles.js';

/**
 * The operator's command line (`npm run cli -- <command>`). It talks to the database named by
 * DATABASE_URL directly, so it works when nobody can sign in any more.
 */
async function withStores<T>(
  fn: (stores: Stores, connections: ConnectionService, users: UserAdmin) => Promise<T>,
): Promise<T> {
  const config = loadConfigFromEnv();
  const { stores } = await openStorage({ databaseUrl: config.databaseUrl, sessionTtlMs: 60_000 });
  try {
    const production = config.nodeEnv === 'production';
    // What the operator changes is audited in the account's trail like an admin's change ("by the
    // operator (command line)"); the CLI's own messages go to stdout, so its log goes to stderr.
    const logger = pino(
      { level: config.logLevel, base: { service: 'saml-sp-kit-cli' } },
      pino.destination(2),
    );
    const trail = new AuditTrail(stores, logger, {
      baseUrl: config.baseUrl,
      clockSkewSeconds: config.clockSkewSeconds,
    });
    return await fn(
      stores,
      new ConnectionService(stores, config.baseUrl, { production, trail }),
      new UserAdmin(stores, trail),
    );
  } finally {
    await stores.close();
  }
}

/** The user options every user command takes. */
interface UserOptions {
  account: string;
  email?: string;
  nameId?: string;
  kind?: 'sso' | 'local';
}

function userCommand(name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .requiredOption('--account <slug>', 'account slug')
    .option('--email <email>', 'e-mail of the user (a local password user or an SSO user)')
    .option('--name-id <nameId>', 'NameID of an SSO user, exactly as the IdP sends it')
    .addOption(
      new Option('--kind <kind>', 'only a user of this kind, when an e-mail matches several').choices([
        'sso',
        'local',
      ]),
    );
}

/** The one user the options name (refused when none or several match). */
async function selectUser(
  users: UserAdmin,
  account: Account,
  opts: UserOptions,
): Promise<UserView & { label: string }> {
  if ((opts.email === undefined) === (opts.nameId === undefined)) {
    throw new SpError('REQUEST_INVALID', {
      message: 'Name the user with --email or with --name-id (one of them).',
    });
  }
  const by: UserSelector = { email: opts.email, nameId: opts.nameId, kind: opts.kind };
  const user = await users.find(account, by);
  const view = (await users.list(account)).find((u) => u.id === user.id)!;
  return { ...view, label: `${user.kind} user ${userLabel(user)}` };
}

/** What an operator reads after a change: who is left who can sign in with SSO as an admin. */
function describeSsoAdmins(admins: UserView[]): string {
  if (admins.length === 0) {
    return 'WARNING: no administrator can sign in with single sign-on (none has signed in with SSO with the admin role).';
  }
  return `administrators who can sign in with SSO: ${admins.map((u) => `${u.email ?? u.nameId} (last sign-in ${u.lastLoginAt ?? 'never'})`).join(', ')}`;
}

const program = new Command()
  .name('saml-sp-kit')
  .description('saml-sp-kit administration (uses DATABASE_URL)')
  .showHelpAfterError();

program
  .command('create-account')
  .argument('<slug>', 'account slug, ^[a-z0-9][a-z0-9-]{1,62}$')
  .argument('<name>', 'display name')
  .action(async (slug: string, name: string) => {
    const account = await withStores((_s, c) => c.createAccount({ slug, name }));
    console.log(`created account ${account.slug}; SP metadata: ${account.metadataUrl}`);
  });

program
  .command('create-admin')
  .description('create a local password administrator (the bootstrap admin) for an account')
  .requiredOption('--account <slug>', 'account slug')
  .requiredOption('--email <email>', 'e-mail used to sign in at /login/password')
  .option('--name <name>', 'display name')
  .action(async (opts: { account: string; email: string; name?: string }) => {
    const fromEnv = process.env.SSPK_ADMIN_PASSWORD;
    const password = fromEnv && fromEnv.length > 0 ? fromEnv : randomBytes(18).toString('base64url');
    await withStores((stores) => createLocalAdmin(stores, { ...opts, password }));
    console.log(`created local admin ${opts.email} in ${opts.account}`);
    if (!fromEnv) console.log(`password (shown once): ${password}`);
    console.log('Once single sign-on works, turn on SSO-only for the account: password sign-in then stops.');
  });

// The operator's user commands bypass the lockout rule of the admin page and API (they are how an
// account is recovered) but say so when the change leaves no administrator who can sign in with SSO.
for (const [name, disabled] of [
  ['disable-user', true],
  ['enable-user', false],
] as const) {
  userCommand(
    name,
    `${disabled ? 'disable' : 're-enable'} a user, local or SSO${disabled ? ' (their sessions end at their next request)' : ''}`,
  ).action(async (opts: UserOptions) => {
    const lines = await withStores(async (_s, c, users) => {
      const account = await c.account(opts.account);
      const user = await selectUser(users, account, opts);
      await users.update(account, user.id, { disabled }, { kind: 'cli' }, { enforceLockoutRule: false });
      return [
        `${disabled ? 'disabled' : 'enabled'} ${user.label} in ${account.slug}`,
        describeSsoAdmins(await users.ssoAdmins(account)),
      ];
    });
    console.log(lines.join('\n'));
  });
}

userCommand('set-role', "pin a user's role (admin or member), or let the IdP groups decide again (auto)")
  .addOption(
    new Option('--role <role>', 'the role').choices(['admin', 'member', 'auto']).makeOptionMandatory(),
  )
  .action(async (opts: UserOptions & { role: 'admin' | 'member' | 'auto' }) => {
    const roleOverride: RoleOverride | null = opts.role === 'auto' ? null : opts.role;
    const lines = await withStores(async (_s, c, users) => {
      const account = await c.account(opts.account);
      const user = await selectUser(users, account, opts);
      const after = await users.update(
        account,
        user.id,
        { roleOverride },
        { kind: 'cli' },
        { enforceLockoutRule: false },
      );
      return [
        `${user.label} in ${account.slug}: role ${after.role}${roleOverride === null ? ' (automatic)' : ' (set by the operator)'}`,
        describeSsoAdmins(await users.ssoAdmins(account)),
      ];
    });
    console.log(lines.join('\n'));
  });

program
  .command('sso-only')
  .description('turn SSO-only on or off for an account (off is the way back in when SSO is broken)')
  .argument('<slug>', 'account slug')
  .argument('<state>', 'on | off')
  .action(async (slug: string, state: string) => {
    if (state !== 'on' && state !== 'off') throw new Error('state must be on or off');
    const admins = await withStores(async (_s, c, users) => {
      // The operator may switch it on without an SSO admin (the API refuses that without
      // acceptCliRecoveryOnly); the connection must still be active.
      await c.updateSettings(
        slug,
        { ssoOnly: state === 'on' },
        { acceptCliRecoveryOnly: true, actor: { kind: 'cli' } },
      );
      return users.ssoAdmins(await c.account(slug));
    });
    console.log(
      `account ${slug}: SSO-only ${state}${state === 'off' ? ' (password sign-in works again)' : ''}`,
    );
    if (state === 'on') console.log(describeSsoAdmins(admins));
  });

program.parseAsync().catch((err: unknown) => {
  const message = isSpError(err)
    ? `${err.code}: ${err.message}`
    : err instanceof Error
      ? err.message
      : String(err);
  process.stderr.write(`saml-sp-kit: ${message}\n`);
  process.exit(1);
});
