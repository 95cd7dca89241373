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
    cachePreparedStatements(sqlite);
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

const STATEMENT_CACHE_MAX = 512;

/**
 * Kysely's SQLite driver prepares every query anew (a measurable share of a login: ~10 queries, each
 * compiled by SQLite again). The SQL text of our queries is fixed (values are bound parameters), so
 * each is prepared once and reused: `run`/`all` are synchronous, so a cached statement is never used
 * by two queries at once, except while one is being iterated (`busy`), when a fresh one is prepared.
 * SQLite re-prepares a statement itself after a schema change.
 */
function cachePreparedStatements(sqlite: Sqlite.Database): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const cache = new Map<string, Sqlite.Statement>();
  const cached = (source: string): Sqlite.Statement => {
    const hit = cache.get(source);
    if (hit && !hit.busy) return hit;
    const stmt = prepare(source);
    if (!hit) {
      if (cache.size >= STATEMENT_CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(source, stmt);
    }
    return stmt;
  };
  sqlite.prepare = cached as typeof sqlite.prepare;
}
