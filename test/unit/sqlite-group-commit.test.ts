import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommitSqliteDialect } from '../../src/storage/sql/sqlite-driver.js';

interface Db {
  items: { id: string; n: number };
}

describe('SQLite group commit (the embedded store)', () => {
  let dir: string;
  let raw: Sqlite.Database;
  let db: Kysely<Db>;
  /** A second connection to the same file: what another worker process sees. */
  let other: Sqlite.Database;
  let begins: number;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sspk-gc-'));
    raw = new Sqlite(join(dir, 'db.sqlite'));
    raw.pragma('journal_mode = WAL');
    db = new Kysely<Db>({ dialect: new GroupCommitSqliteDialect(raw) });
    await sql`create table items (id text primary key, n integer not null check (n >= 0))`.execute(db);
    other = new Sqlite(join(dir, 'db.sqlite'));
    // Counts the transactions the driver opens.
    begins = 0;
    const exec = raw.exec.bind(raw);
    raw.exec = (source: string) => {
      if (/^begin/i.test(source)) begins++;
      return exec(source);
    };
  });

  afterEach(async () => {
    other.close();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const count = () => (other.prepare('select count(*) as c from items').get() as { c: number }).c;

  it('writes issued in one turn commit together, and each promise settles only once its row is visible to another connection', async () => {
    const seenAtResolve: number[] = [];
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        db
          .insertInto('items')
          .values({ id: `k${i}`, n: i })
          .execute()
          .then(() => seenAtResolve.push(count())),
      ),
    );
    expect(seenAtResolve).toEqual([5, 5, 5, 5, 5]);
    expect(begins).toBe(1);
    // A write alone is a statement in autocommit, as before.
    await db.insertInto('items').values({ id: 'a', n: 1 }).execute();
    expect(begins).toBe(1);
    expect(count()).toBe(6);
  });

  it("a statement's failure is its own: the batch's other writes are stored and acknowledged", async () => {
    await db.insertInto('items').values({ id: 'taken', n: 1 }).execute();
    const results = await Promise.allSettled([
      db.insertInto('items').values({ id: 'x1', n: 1 }).execute(),
      db.insertInto('items').values({ id: 'taken', n: 2 }).execute(),
      db.insertInto('items').values({ id: 'neg', n: -1 }).execute(),
      db.updateTable('items').set({ n: 9 }).where('id', '=', 'taken').returning('n').execute(),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE/);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/CHECK/);
    // RETURNING rows come back from a batched statement.
    expect((results[3] as PromiseFulfilledResult<{ n: number }[]>).value).toEqual([{ n: 9 }]);
    expect(other.prepare('select id, n from items order by id').all()).toEqual([
      { id: 'taken', n: 9 },
      { id: 'x1', n: 1 },
    ]);
  });

  it('an error that ends the whole transaction fails every write of the batch, and none is stored', async () => {
    await sql`create trigger boom before insert on items when new.id = 'boom'
      begin select raise(rollback, 'boom'); end`.execute(db);
    const results = await Promise.allSettled([
      db.insertInto('items').values({ id: 'before', n: 1 }).execute(),
      db.insertInto('items').values({ id: 'boom', n: 1 }).execute(),
      db.insertInto('items').values({ id: 'after', n: 1 }).execute(),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(count()).toBe(0);
    // The connection is usable afterwards.
    await db.insertInto('items').values({ id: 'later', n: 1 }).execute();
    expect(count()).toBe(1);
  });

  it('an explicit transaction holds the connection: outside writes wait for it and survive its rollback; reads never see its uncommitted rows', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let readDuring: number | null = null;
    const trx = db
      .transaction()
      .execute(async (t) => {
        await t.insertInto('items').values({ id: 'inside', n: 1 }).execute();
        await gate;
        throw new Error('rolled back');
      })
      .catch((err: unknown) => err);
    await new Promise((r) => setImmediate(r));
    const outsideWrite = db.insertInto('items').values({ id: 'outside', n: 1 }).execute();
    const outsideRead = db
      .selectFrom('items')
      .select('id')
      .execute()
      .then((rows) => (readDuring = rows.length));
    await new Promise((r) => setTimeout(r, 20));
    expect(count()).toBe(0);
    expect(readDuring).toBeNull();
    release();
    expect(String(await trx)).toMatch(/rolled back/);
    await outsideWrite;
    await outsideRead;
    expect(readDuring).toBe(0);
    expect(other.prepare('select id from items').all()).toEqual([{ id: 'outside' }]);
  });

  it('a transaction whose COMMIT fails releases the connection once: the next transaction and the writes queued behind it keep their own outcome', async () => {
    raw.pragma('foreign_keys = ON');
    await sql`create table parent (id integer primary key)`.execute(db);
    await sql`create table child (id integer primary key,
      parent integer references parent(id) deferrable initially deferred)`.execute(db);
    // T1's insert breaks a deferred foreign key: its COMMIT fails, and Kysely then rolls it back.
    let endT1!: () => void;
    const t1 = db
      .transaction()
      .execute(async (t) => {
        await sql`insert into child (id, parent) values (1, 99)`.execute(t);
        await new Promise<void>((r) => (endT1 = r));
      })
      .catch((err: unknown) => err);
    await new Promise((r) => setImmediate(r));
    // T2 waits for T1, then inserts and fails; W, queued meanwhile, waits for T2.
    let endT2!: () => void;
    const t2 = db
      .transaction()
      .execute(async (t) => {
        await t.insertInto('items').values({ id: 't2', n: 1 }).execute();
        await new Promise<void>((r) => (endT2 = r));
        throw new Error('T2 rolls back');
      })
      .catch((err: unknown) => err);
    const w = db.insertInto('items').values({ id: 'w', n: 1 }).execute();
    await new Promise((r) => setImmediate(r));
    endT1();
    expect(String(await t1)).toMatch(/FOREIGN KEY/);
    await new Promise((r) => setTimeout(r, 20));
    // T2 holds the connection now: W has not run, and T2's row is not visible.
    expect(count()).toBe(0);
    endT2();
    expect(String(await t2)).toMatch(/T2 rolls back/);
    await w;
    expect(other.prepare('select id from items').all()).toEqual([{ id: 'w' }]);
  });

  it('a loop of awaited writes does not hold the event loop: other callbacks run between its rounds', async () => {
    let done = 0;
    let seenByTimer: number | null = null;
    const loop = (async () => {
      for (let i = 0; i < 50; i++) {
        await db
          .insertInto('items')
          .values({ id: `loop${i}`, n: i })
          .execute();
        done++;
      }
    })();
    setImmediate(() => setImmediate(() => (seenByTimer = done)));
    await loop;
    expect(count()).toBe(50);
    expect(seenByTimer).not.toBeNull();
    expect(seenByTimer!).toBeLessThan(20);
  });

  describe('another process (worker) holds the write lock', () => {
    /** Drivers a test opened and left open: closed after it, once the other process let go. */
    const opened: Kysely<Db>[] = [];
    afterEach(async () => {
      if (other.inTransaction) other.exec('rollback');
      await Promise.all(opened.splice(0).map((d) => d.destroy()));
    });

    /** This process's driver on a connection whose busy_timeout is `ms`. */
    const driverWaiting = (ms: number, opts: { closedByTest?: boolean } = {}) => {
      const conn = new Sqlite(join(dir, 'db.sqlite'));
      conn.pragma(`busy_timeout = ${ms}`);
      const driver = new Kysely<Db>({ dialect: new GroupCommitSqliteDialect(conn) });
      if (!opts.closedByTest) opened.push(driver);
      return driver;
    };

    it('the worker goes on meanwhile (timers, reads), the writes issued meanwhile join the waiting ones, and all commit in order once the lock is free', async () => {
      const mine = driverWaiting(5000);
      other.exec('begin immediate');
      other.prepare("insert into items values ('theirs', 1)").run();
      let readDuringWait: unknown[] | null = null;
      // Released by a timer of this process: SQLite's own busy wait would sleep through it.
      const released = new Promise<void>((resolve) =>
        setTimeout(() => {
          void mine
            .selectFrom('items')
            .selectAll()
            .execute()
            .then((rows) => {
              readDuringWait = rows;
              other.exec('commit');
              resolve();
            });
        }, 100),
      );
      const t0 = performance.now();
      const settled: string[] = [];
      const write = (id: string) =>
        mine
          .insertInto('items')
          .values({ id, n: 1 })
          .execute()
          .then(() => settled.push(id));
      await Promise.all([
        write('b1'),
        write('b2'),
        // Issued 20 ms into the wait: a batch of its own, which must not overtake the first.
        new Promise((r) => setTimeout(r, 20)).then(() => write('later')),
      ]);
      await released;
      expect(performance.now() - t0).toBeLessThan(2000);
      // The read ran while the writes waited, and saw only what was committed.
      expect(readDuringWait).toEqual([]);
      expect(settled).toEqual(['b1', 'b2', 'later']);
      expect(other.prepare('select id from items order by rowid').all()).toEqual([
        { id: 'theirs' },
        { id: 'b1' },
        { id: 'b2' },
        { id: 'later' },
      ]);
    });

    it('an explicit transaction waits for the lock the same way: the worker goes on, and writes behind it keep their order', async () => {
      const mine = driverWaiting(5000);
      other.exec('begin immediate');
      let timerRan = false;
      setTimeout(() => (timerRan = true), 20);
      const released = new Promise<void>((resolve) =>
        setTimeout(() => {
          other.exec('commit');
          resolve();
        }, 200),
      );
      const tx = mine.transaction().execute(async (trx) => {
        // Begun only once the other process let go, and this process's timers ran meanwhile.
        expect(timerRan).toBe(true);
        await trx.insertInto('items').values({ id: 'tx', n: 1 }).execute();
      });
      await new Promise((r) => setTimeout(r, 50));
      const behind = mine.insertInto('items').values({ id: 'behind', n: 2 }).execute();
      await Promise.all([tx, behind, released]);
      expect(other.prepare('select id from items order by rowid').all()).toEqual([
        { id: 'tx' },
        { id: 'behind' },
      ]);
    });

    it('past busy_timeout, every write waiting fails with SQLITE_BUSY and none is stored; the next write goes through', async () => {
      const mine = driverWaiting(150);
      other.exec('begin immediate');
      const t0 = performance.now();
      const results = await Promise.allSettled([
        mine.insertInto('items').values({ id: 'w1', n: 1 }).execute(),
        mine.insertInto('items').values({ id: 'w2', n: 2 }).execute(),
      ]);
      const waited = performance.now() - t0;
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      for (const r of results)
        expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'SQLITE_BUSY' });
      expect(waited).toBeGreaterThanOrEqual(140);
      expect(waited).toBeLessThan(1500);
      other.exec('commit');
      expect(count()).toBe(0);
      await mine.insertInto('items').values({ id: 'after', n: 1 }).execute();
      expect(count()).toBe(1);
      // busy_timeout is the connection's again for everything else.
      expect((await sql<{ timeout: number }>`pragma busy_timeout`.execute(mine)).rows[0]!.timeout).toBe(150);
    });

    it('closing the database waits for the writes still waiting for the lock', async () => {
      const mine = driverWaiting(5000, { closedByTest: true });
      other.exec('begin immediate');
      const pending = mine.insertInto('items').values({ id: 'last', n: 1 }).execute();
      setTimeout(() => other.exec('commit'), 50);
      await mine.destroy();
      await pending;
      expect(count()).toBe(1);
    });
  });

  it('writes still queued when the database closes are written first', async () => {
    const pending = db.insertInto('items').values({ id: 'last', n: 1 }).execute();
    await db.destroy();
    await pending;
    expect(count()).toBe(1);
    db = new Kysely<Db>({ dialect: new GroupCommitSqliteDialect(new Sqlite(join(dir, 'db.sqlite'))) });
  });
});
