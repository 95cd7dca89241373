#!/usr/bin/env node
import { chmodSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { SETUP_LINK_HOURS, SetupLinkService } from '../accounts/setup-links.js';
import { AuditTrail } from '../audit/trail.js';
import { BotService } from '../bots/service.js';
import { ConnectionService } from '../connections/service.js';
import { loadConfigFromEnv } from '../config/load.js';
import { loadTokenKeys, tokenKeyId } from '../config/token-keys.js';
import { isSpError, SpError } from '../errors.js';
import { openStorage } from '../storage/index.js';
import type { Account, RoleOverride, Stores } from '../storage/types.js';
import { UserAdmin, type UserSelector, type UserView } from '../users/admin.js';
import { createLocalAdmin, resetLocalPassword } from '../users/local-login.js';
import { userLabel } from '../users/roles.js';
import { migrateCommand } from './migrate.js';

/**
 * The operator's command line: `npx saml-sp-kit <command>` in an installed copy (the package's `bin`,
 * compiled to dist/cli/index.js), `npm run cli -- <command>` in a clone. It talks to the database named
 * by DATABASE_URL directly, so it works when nobody can sign in any more.
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
  .command('migrate')
  .description('apply pending database migrations to DATABASE_URL (sqlite:PATH or postgres://…)')
  .action(() => migrateCommand());

program
  .command('start')
  .description('start the SP server (what `npm start` runs; settings from the environment, see the README)')
  .action(async () => {
    // The server entry point listens as soon as it is loaded; its errors end the process with one line.
    await import('../server.js');
  });

program
  .command('create-account')
  .argument('<slug>', 'account slug: 2 to 63 lower-case letters, digits and dashes')
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
  .option('--reset', 'set a new password for an existing local admin (a lost password)')
  .action(async (opts: { account: string; email: string; name?: string; reset?: boolean }) => {
    const fromEnv = process.env.SSPK_ADMIN_PASSWORD;
    const password = fromEnv && fromEnv.length > 0 ? fromEnv : randomBytes(18).toString('base64url');
    if (opts.reset) {
      await withStores((stores) => resetLocalPassword(stores, { ...opts, password }));
      console.log(`new password set for ${opts.email} in ${opts.account}`);
      if (!fromEnv) console.log(`password (shown once): ${password}`);
      return;
    }
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
  .command('create-setup-link')
  .description(
    "make a setup link: whoever opens it administers the account's SSO until it expires or is revoked",
  )
  .argument('<slug>', 'account slug')
  .option(
    '--hours <n>',
    `lifetime in hours (${SETUP_LINK_HOURS.min} to ${SETUP_LINK_HOURS.max})`,
    String(SETUP_LINK_HOURS.default),
  )
  .action(async (slug: string, opts: { hours: string }) => {
    const hours = Number(opts.hours);
    if (!Number.isInteger(hours) || hours < SETUP_LINK_HOURS.min || hours > SETUP_LINK_HOURS.max) {
      throw new Error(
        `--hours must be a whole number from ${SETUP_LINK_HOURS.min} to ${SETUP_LINK_HOURS.max}`,
      );
    }
    const link = await withStores(async (stores, c) =>
      new SetupLinkService(stores, loadConfigFromEnv().baseUrl).create(await c.account(slug), hours),
    );
    console.log(`setup link ${link.id} for ${slug}, valid until ${link.expiresAt} (shown once):`);
    console.log(link.url);
  });

program
  .command('list-setup-links')
  .argument('<slug>', 'account slug')
  .action(async (slug: string) => {
    const links = await withStores(async (stores, c) =>
      new SetupLinkService(stores, loadConfigFromEnv().baseUrl).list(await c.account(slug)),
    );
    if (links.length === 0) console.log(`no setup links for ${slug}`);
    for (const l of links)
      console.log(`${l.id}  ${l.status.padEnd(7)}  created ${l.createdAt}  expires ${l.expiresAt}`);
  });

program
  .command('revoke-setup-link')
  .description('revoke a setup link: the sessions it opened end at once')
  .argument('<slug>', 'account slug')
  .argument('<id>', 'link id (list-setup-links)')
  .action(async (slug: string, id: string) => {
    await withStores(async (stores, c) =>
      new SetupLinkService(stores, loadConfigFromEnv().baseUrl).revoke(await c.account(slug), id),
    );
    console.log(`revoked setup link ${id} of ${slug}`);
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

const KEY_TYPES = {
  ec: { alg: 'ES256', make: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey },
  ed25519: { alg: 'EdDSA', make: () => generateKeyPairSync('ed25519').privateKey },
  rsa: { alg: 'RS256', make: () => generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey },
} as const satisfies Record<string, { alg: string; make: () => KeyObject }>;

program
  .command('generate-token-key')
  .description('make a PEM private key for TOKEN_SIGNING_KEY_FILE and print its kid (RFC 7638 thumbprint)')
  .addOption(
    new Option('--type <type>', 'ec (P-256, ES256) | ed25519 (EdDSA) | rsa (3072 bits, RS256)')
      .choices(Object.keys(KEY_TYPES))
      .default('ec'),
  )
  .option(
    '--out <file>',
    'file to create with mode 0600 (never overwritten); without it the PEM goes to stdout',
  )
  .action(async (opts: { type: keyof typeof KEY_TYPES; out?: string }) => {
    const { alg, make } = KEY_TYPES[opts.type];
    const key = make();
    const pem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
    const kid = await tokenKeyId(key);
    if (opts.out === undefined) {
      process.stdout.write(pem);
      process.stderr.write(`${alg} key, kid ${kid}\n`);
      return;
    }
    // 'wx': an existing key (perhaps the one in use) is never replaced by accident.
    writeFileSync(opts.out, pem, { mode: 0o600, flag: 'wx' });
    chmodSync(opts.out, 0o600);
    console.log(`wrote ${opts.out} (${alg}, mode 0600); kid ${kid}`);
    console.log(
      `Sign with it: TOKEN_SIGNING_KEY_FILE=${opts.out}. Keep the previous key in TOKEN_VERIFY_KEY_FILES until its tokens are replaced.`,
    );
  });

/** Stores and a bot service on the configured token keys (the production rules apply to the CLI too). */
async function withBots<T>(fn: (bots: BotService, connections: ConnectionService) => Promise<T>): Promise<T> {
  const config = loadConfigFromEnv();
  const keys = await loadTokenKeys(
    config.tokenSigningKeyFile,
    config.tokenVerifyKeyFiles,
    config.nodeEnv === 'production',
  );
  return withStores((stores, connections) => fn(new BotService(stores, keys, config.baseUrl), connections));
}

const operator = { kind: 'operator' } as const;

program
  .command('create-bot')
  .description('create a bot (machine user) in an account; prints its id')
  .requiredOption('--account <slug>', 'account slug')
  .requiredOption('--name <name>', 'display name, 1 to 100 characters')
  .addOption(new Option('--role <role>', 'admin | member').choices(['admin', 'member']).default('member'))
  .action(async (opts: { account: string; name: string; role: string }) => {
    const bot = await withBots(async (bots, c) =>
      bots.createBot(await c.account(opts.account), { name: opts.name, role: opts.role }, operator),
    );
    console.log(`created bot ${bot.id} (${bot.role}) "${bot.name}" in ${opts.account}`);
  });

program
  .command('issue-token')
  .description('issue a token for a bot: the token alone on stdout (shown once), its id and expiry on stderr')
  .requiredOption('--account <slug>', 'account slug')
  .requiredOption('--bot <id>', 'bot id')
  .option('--expires-in <seconds>', 'lifetime in seconds, 60 to 31622400 (default 90 days)')
  .option('--no-expiry', 'a token that never expires (explicitly)')
  .action(async (opts: { account: string; bot: string; expiresIn?: string; expiry: boolean }) => {
    if (!opts.expiry && opts.expiresIn !== undefined)
      throw new Error('--expires-in and --no-expiry exclude each other');
    const expiresInSeconds = !opts.expiry
      ? null
      : opts.expiresIn === undefined
        ? undefined
        : Number(opts.expiresIn);
    const issued = await withBots(async (bots, c) =>
      bots.issueToken(
        await c.account(opts.account),
        opts.bot,
        expiresInSeconds === undefined ? {} : { expiresInSeconds },
        operator,
      ),
    );
    process.stdout.write(`${issued.token}\n`);
    process.stderr.write(
      `token ${issued.id} for bot ${issued.botId}, ${issued.neverExpires ? 'never expires' : `expires ${issued.expiresAt}`}\n`,
    );
  });

program
  .command('revoke-token')
  .description("revoke a bot's token (refused at once on every instance)")
  .requiredOption('--account <slug>', 'account slug')
  .requiredOption('--bot <id>', 'bot id')
  .requiredOption('--token <id>', 'token id (the jti)')
  .action(async (opts: { account: string; bot: string; token: string }) => {
    await withBots(async (bots, c) => bots.revokeToken(await c.account(opts.account), opts.bot, opts.token));
    console.log(`revoked token ${opts.token}`);
  });

program
  .command('disable-bot')
  .description('disable a bot: all its tokens are refused at once')
  .requiredOption('--account <slug>', 'account slug')
  .requiredOption('--bot <id>', 'bot id')
  .action(async (opts: { account: string; bot: string }) => {
    await withBots(async (bots, c) => bots.disableBot(await c.account(opts.account), opts.bot));
    console.log(`disabled bot ${opts.bot}`);
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
