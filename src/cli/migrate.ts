/**
 * `saml-sp-kit migrate` (`npm run migrate` in a clone): brings the database named by `DATABASE_URL` up
 * to date and prints the migrations it applied. The server also migrates at start-up; this command lets
 * a deployment do it once, before rolling out several instances.
 *
 * @module
 */
import { ConfigError, loadConfigFromEnv } from '../config/load.js';
import { migrateDatabase } from '../storage/index.js';

/** Hides the password of a database URL for printing. */
function redact(url: string): string {
  if (!/^postgres(ql)?:/.test(url)) return url;
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * Runs the migrations and prints what it did; on failure prints one line (`configuration error: …` or
 * `migration failed: …`) and sets a non-zero exit code instead of throwing.
 */
export async function migrateCommand(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    // Only DATABASE_URL matters here: the rest of the server settings (e.g. SESSION_SECRET in
    // production) must not be required to migrate.
    const { databaseUrl } = loadConfigFromEnv({ DATABASE_URL: env.DATABASE_URL });
    const applied = await migrateDatabase(databaseUrl);
    const where = redact(databaseUrl);
    if (applied.length === 0) {
      process.stdout.write(`saml-sp-kit: ${where} is up to date, no migration applied\n`);
      return;
    }
    for (const name of applied) process.stdout.write(`saml-sp-kit: applied migration ${name}\n`);
    process.stdout.write(`saml-sp-kit: ${where} is up to date (${applied.length} applied)\n`);
  } catch (err) {
    const reason =
      err instanceof ConfigError
        ? `configuration error: ${err.message}`
        : `migration failed: ${err instanceof Error ? err.message : String(err)}`;
    process.stderr.write(`saml-sp-kit: ${reason}\n`);
    process.exitCode = 1;
  }
}
