/**
 * `npm run migrate`: brings the database named by `DATABASE_URL` up to date and prints the
 * migrations it applied. The server also migrates at start-up; this command lets a deployment do it
 * once, before rolling out several instances.
 *
 * @module
 */
import { Command } from 'commander';
import { ConfigError, loadConfigFromEnv } from '../config/load.js';
import { migrateDatabase } from '../storage/index.js';

/** Hides the password of a database URL for printing. */
function redact(url: string): string {
  if (!/^postgres(ql)?:/.test(url)) return url;
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

async function run(): Promise<void> {
  new Command()
    .name('saml-sp-kit-migrate')
    .description('Apply pending database migrations to DATABASE_URL (sqlite:PATH or postgres://…)')
    .parse();
  // Only DATABASE_URL matters here: the rest of the server settings (e.g. SESSION_SECRET in
  // production) must not be required to migrate.
  const { databaseUrl } = loadConfigFromEnv({ DATABASE_URL: process.env.DATABASE_URL });
  const applied = await migrateDatabase(databaseUrl);
  const where = redact(databaseUrl);
  if (applied.length === 0) {
    process.stdout.write(`saml-sp-kit: ${where} is up to date, no migration applied\n`);
    return;
  }
  for (const name of applied) process.stdout.write(`saml-sp-kit: applied migration ${name}\n`);
  process.stdout.write(`saml-sp-kit: ${where} is up to date (${applied.length} applied)\n`);
}

run().catch((err: unknown) => {
  const reason =
    err instanceof ConfigError
      ? `configuration error: ${err.message}`
      : `migration failed: ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`saml-sp-kit: ${reason}\n`);
  process.exit(1);
});
