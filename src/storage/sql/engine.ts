import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

/** An open SQL database with its dialect name. */
export interface SqlDatabase {
  db: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  /** PostgreSQL: the schema the tables live in (the first of the search path); null for SQLite. */
  schema: string | null;
}

// PostgreSQL returns BIGINT as a string; our bigint columns hold epoch milliseconds, well inside 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

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
      db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }),
      dialect: 'sqlite',
      schema: null,
    };
  }
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new TypeError('DATABASE_URL: schema must match ^[a-z_][a-z0-9_]{0,62}$');
  }
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: 10,
    // Bounds both opening a connection and waiting for a free pooled client. A refused connection
    // (server down or restarting) fails at once anyway; the bound is for a saturated instance, where
    // a short one would turn a busy moment into 503s.
    connectionTimeoutMillis: 10_000,
    // A server that stops answering mid-query must not hold a request (and a pooled client) forever.
    query_timeout: 15_000,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // A client that loses its server (PostgreSQL restart) emits 'error': on the pool while idle, on
  // the client itself while checked out between two queries (e.g. inside a transaction). Either
  // without a listener would crash the process. The query in flight fails on its own (→ 503), the
  // pool drops the dead client on release, and the next query reconnects.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  let current: string;
  try {
    current = await prepareSchema(pool, schema);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return {
    db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
    dialect: 'postgres',
    schema: current,
  };
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

/** Creates the requested schema if needed and returns the schema unqualified names resolve to. */
async function prepareSchema(pool: pg.Pool, schema: string | null): Promise<string> {
  const client = await pool.connect();
  try {
    if (schema) {
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      } catch (err) {
        // Two instances starting at once on a new schema race in CREATE SCHEMA IF NOT EXISTS; the
        // loser sees a unique violation although the schema now exists.
        if ((err as { code?: string }).code !== '23505') throw err;
      }
    }
    const res = await client.query<{ schema: string | null }>('SELECT current_schema() AS schema');
    return res.rows[0]?.schema ?? schema ?? 'public';
  } finally {
    client.release();
  }
}
