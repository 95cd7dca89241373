/**
 * The periodic sweep of expired replay entries and sessions, on each SQL engine: it deletes in bounded
 * batches (one DELETE of a million rows held SQLite's write lock, and the worker, for over a second),
 * goes on until nothing expired is left, and never touches a live row.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlDatabase } from '../../src/storage/sql/engine.js';
import { migrateToLatest } from '../../src/storage/sql/migrations.js';
import { SqlSessionStore } from '../../src/storage/sql/session-store.js';
import { SqlOneTimeStore } from '../../src/storage/sql/stores.js';
import { createSchema, dropSchema, runName, TEST_DATABASE_URL, withSchema } from '../contract/backends.js';

const PG = TEST_DATABASE_URL;
const engines: { name: string; url: () => Promise<string>; cleanup?: () => Promise<void> }[] = [
  { name: 'SQLite', url: () => Promise.resolve('sqlite::memory:') },
];
const schema = runName('sweep');
if (PG) {
  engines.push({
    name: 'PostgreSQL',
    url: async () => {
      await createSchema(PG, schema);
      return withSchema(PG, schema);
    },
    cleanup: () => dropSchema(PG, schema),
  });
} else {
  process.stdout.write('expiry sweep on PostgreSQL — skipped: needs TEST_DATABASE_URL\n');
}

describe.each(engines)('expiry sweep on $name', ({ url, cleanup }) => {
  afterAll(async () => cleanup?.());

  it('deletes every expired row, batch after batch, and keeps the live ones', async () => {
    const { db, dialect, schema: s } = await openSqlDatabase(await url());
    try {
      await migrateToLatest(db, dialect, s);
      const now = Date.now();
      const rows = (prefix: string, n: number, expiresAt: number) =>
        Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, value: '1', expires_at: expiresAt }));
      await db
        .insertInto('one_time')
        .values([...rows('old', 25, now - 1000), ...rows('live', 5, now + 60_000)])
        .execute();
      await db
        .insertInto('sessions')
        .values([
          ...rows('old', 25, now - 1000).map((r) => ({ sid: r.key, sess: '{}', expires_at: r.expires_at })),
          ...rows('live', 5, now + 60_000).map((r) => ({ sid: r.key, sess: '{}', expires_at: r.expires_at })),
        ])
        .execute();

      // Requests get the event loop between two batches.
      let turns = 0;
      let sweeping = true;
      const spin = () => {
        if (!sweeping) return;
        turns++;
        setImmediate(spin);
      };
      setImmediate(spin);
      expect(await new SqlOneTimeStore(db).sweep({ batchSize: 5 })).toBe(25);
      sweeping = false;
      expect(turns).toBeGreaterThanOrEqual(4);
      await new SqlSessionStore(db, 60_000).sweep({ batchSize: 10 });

      const left = async (table: 'one_time' | 'sessions') =>
        (await db.selectFrom(table).select('expires_at').execute()).map((r) => Number(r.expires_at) > now);
      expect(await left('one_time')).toEqual(Array(5).fill(true));
      expect(await left('sessions')).toEqual(Array(5).fill(true));
    } finally {
      await db.destroy();
    }
  });
});
