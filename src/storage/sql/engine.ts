import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Kysely } from 'kysely';
import { importOptional } from '../optional.js';
import type { Database } from './schema.js';
import { GroupCommitSqliteDialect } from './sqlite-driver.js';

/** An open SQL database with its dialect name. */
export interface SqlDatabase {
  db: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  /** PostgreSQL: the schema the tables live in (the first of the search path); null for SQLite. */
  schema: string | null;
}

/**
 * Opens `sqlite:PATH`, `sqlite::memory:` or `postgres://…`. For PostgreSQL an optional
 * `schema` search parameter selects the schema (created if missing), which tests use for isolation.
 */
export async function openSqlDatabase(url: string): Promise<SqlDatabase> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    const file = path === ':memory:' ? ':memory:' : resolve(path);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const sqlite = new Sqlite(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    return {
      db: new Kysely<Database>({ dialect: new GroupCommitSqliteDialect(sqlite) }),
      dialect: 'sqlite',
      schema: null,
    };
  }
  // The PostgreSQL driver is an optional peer dependency, loaded only when the URL asks for it.
  const { openPostgresDatabase } = await importOptional(
    'DATABASE_URL',
    'a postgres:// DATABASE_URL',
    () => import('./postgres.js'),
  );
  return openPostgresDatabase(url);
}
