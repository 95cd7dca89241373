import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { ConnectionService } from '../connections/service.js';
import { loadConfigFromEnv } from '../config/load.js';
import { isSpError } from '../errors.js';
import { openStorage } from '../storage/index.js';
import type { Stores } from '../storage/types.js';
import { createLocalAdmin } from '../users/local-login.js';

/**
 * The operator's command line (`npm run cli -- <command>`). It talks to the database named by
 * DATABASE_URL directly, so it works when nobody can sign in any more.
 */
async function withStores<T>(fn: (stores: Stores, connections: ConnectionService) => Promise<T>): Promise<T> {
  const config = loadConfigFromEnv();
  const { stores } = await openStorage({ databaseUrl: config.databaseUrl, sessionTtlMs: 60_000 });
  try {
    const production = config.nodeEnv === 'production';
    return await fn(stores, new ConnectionService(stores, config.baseUrl, { production }));
  } finally {
    await stores.close();
  }
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

for (const [name, disabled] of [
  ['disable-user', true],
  ['enable-user', false],
] as const) {
  program
    .command(name)
    .description(`${disabled ? 'disable' : 're-enable'} a local password user`)
    .requiredOption('--account <slug>', 'account slug')
    .requiredOption('--email <email>', 'e-mail of the local user')
    .action(async (opts: { account: string; email: string }) => {
      await withStores(async (stores, c) => {
        const account = await c.account(opts.account);
        const user = await stores.users.findLocal(account.id, opts.email);
        if (!user) throw new Error(`no local user ${opts.email} in ${opts.account}`);
        await stores.users.setDisabled(user.id, disabled);
      });
      console.log(`${disabled ? 'disabled' : 'enabled'} ${opts.email} in ${opts.account}`);
    });
}

program
  .command('sso-only')
  .description('turn SSO-only on or off for an account (off is the way back in when SSO is broken)')
  .argument('<slug>', 'account slug')
  .argument('<state>', 'on | off')
  .action(async (slug: string, state: string) => {
    if (state !== 'on' && state !== 'off') throw new Error('state must be on or off');
    await withStores((_s, c) => c.updateSettings(slug, { ssoOnly: state === 'on' }));
    console.log(
      `account ${slug}: SSO-only ${state}${state === 'off' ? ' (password sign-in works again)' : ''}`,
    );
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
