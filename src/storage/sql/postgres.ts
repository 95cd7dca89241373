import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import type { SqlDatabase } from './engine.js';

// PostgreSQL returns BIGINT as a string; our bigint columns hold epoch milliseconds, well inside 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * Opens `postgres://…`; an optional `schema` search parameter selects the schema (created if missing),
 * which tests use for isolation. Loaded only when DATABASE_URL names PostgreSQL (`pg` is an optional
 * peer dependency).
 */
export async function openPostgresDatabase(url: string): Promise<SqlDatabase> {
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
