/**
 * The real backends the backend tests use, from TEST_DATABASE_URL and TEST_REDIS_URL. Every run gets
 * its own PostgreSQL schema and Redis key prefix and removes them afterwards, so runs never see each
 * other's data and the shared servers are left as they were.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createClient } from 'redis';

/** `postgres://…` of a database the tests may create and drop schemas in, or undefined. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL?.trim() || undefined;
/** `redis://…` of a server the tests may write prefixed keys to, or undefined. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL?.trim() || undefined;

/** A name unique to this run, usable as a schema name and inside a key prefix. */
export function runName(kind: string): string {
  return `sspk_${kind}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** `base` with `?schema=NAME` (the kit's engine sets the search path and creates the schema). */
export function withSchema(base: string, schema: string): string {
  const u = new URL(base);
  u.searchParams.set('schema', schema);
  return u.toString();
}

/** `base` with `?prefix=NAME` (the kit's Redis key prefix). */
export function withPrefix(base: string, prefix: string): string {
  const u = new URL(base);
  u.searchParams.set('prefix', prefix);
  return u.toString();
}

/** Creates a schema up front (so instances starting together find it). */
export async function createSchema(base: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } finally {
    await client.end();
  }
}

/** Drops a schema created by a test run, with everything in it. */
export async function dropSchema(base: string, schema: string): Promise<void> {
  if (!/^sspk_[a-z0-9_]+$/.test(schema)) throw new TypeError(`refusing to drop schema ${schema}`);
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Every key under `prefix` (SCAN, never KEYS). */
export async function keysWithPrefix(url: string, prefix: string): Promise<string[]> {
  const client = createClient({ url });
  await client.connect();
  try {
    const keys: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) keys.push(...batch);
    return keys;
  } finally {
    client.destroy();
  }
}

/** Deletes every key under a test run's prefix (SCAN + DEL); returns how many were deleted. */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<number> {
  if (!prefix.startsWith('sspk_')) throw new TypeError(`refusing to delete keys under ${prefix}`);
  const keys = await keysWithPrefix(url, prefix);
  if (keys.length === 0) return 0;
  const client = createClient({ url });
  await client.connect();
  try {
    let deleted = 0;
    for (let i = 0; i < keys.length; i += 500) deleted += await client.del(keys.slice(i, i + 500));
    return deleted;
  } finally {
    client.destroy();
  }
}

/**
 * The name of a backend suite. When the suite is skipped it says why, and the same text is printed
 * as ONE line, so a run without the backend variables tells what it left out (the default reporter
 * shows only file names for skipped files).
 */
export function suiteTitle(enabled: boolean, title: string, needs: string): string {
  if (enabled) return title;
  const line = `${title} — skipped: needs ${needs}`;
  process.stdout.write(`${line}\n`);
  return line;
}
