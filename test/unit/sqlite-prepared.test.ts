/**
 * The hot path's queries built once (prepare()) and the SQLite driver's statement cache: the same
 * results as building each query anew, the arguments only ever as parameters, writes still in the
 * group commit, SQL prepared once per text, and a cached statement still right after another
 * connection changes the schema.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepare, type Arg } from '../../src/storage/sql/prepared.js';
import { GroupCommitSqliteDialect } from '../../src/storage/sql/sqlite-driver.js';

interface Db {
  items: { id: string; kind: string; n: number };
}

describe('prepared queries on SQLite', () => {
  let dir: string;
  let raw: Sqlite.Database;
  let db: Kysely<Db>;
  let prepares: string[];
  let begins: number;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sspk-prep-'));
    raw = new Sqlite(join(dir, 'db.sqlite'));
    raw.pragma('journal_mode = WAL');
    prepares = [];
    begins = 0;
    const prepareSql = raw.prepare.bind(raw);
    raw.prepare = (source: string) => {
      prepares.push(source);
      return prepareSql(source);
    };
    const exec = raw.exec.bind(raw);
    raw.exec = (source: string) => {
      if (/^begin/i.test(source)) begins++;
      return exec(source);
    };
    db = new Kysely<Db>({ dialect: new GroupCommitSqliteDialect(raw) });
    await sql`create table items (id text primary key, kind text not null, n integer not null)`.execute(db);
  });

  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const insert = () =>
    prepare(db, (arg: Arg<{ id: string; n: number }>) =>
      // 'fixed' is a value of the query itself, kept at every run.
      db.insertInto('items').values({ id: arg('id'), kind: 'fixed', n: arg('n') }),
    );
  const byKind = () =>
    prepare(db, (arg: Arg<{ kind: string; min: number }>) =>
      db
        .selectFrom('items')
        .selectAll()
        .where('kind', '=', arg('kind'))
        .where('n', '>=', arg('min'))
        .orderBy('id'),
    );

  it('runs with each call’s arguments and the fixed values, like the query built anew', async () => {
    const add = insert();
    const find = byKind();
    // Quotes and SQL in an argument are data: it is a parameter, never part of the SQL text.
    const hostile = "x'); drop table items; --";
    await add({ id: 'a', n: 1 });
    await add({ id: hostile, n: 5 });
    await add({ id: 'c', n: 9 });
    expect(await find({ kind: 'fixed', min: 2 })).toEqual([
      { id: 'c', kind: 'fixed', n: 9 },
      { id: hostile, kind: 'fixed', n: 5 },
    ]);
    expect(await find({ kind: 'fixed', min: 2 })).toEqual(
      await db
        .selectFrom('items')
        .selectAll()
        .where('kind', '=', 'fixed')
        .where('n', '>=', 2)
        .orderBy('id')
        .execute(),
    );
    expect(await find({ kind: 'other', min: 0 })).toEqual([]);
    expect(prepares.some((s) => s.includes('drop table'))).toBe(false);
  });

  it('refuses at build time an argument the query does not take as a parameter', () => {
    expect(() =>
      prepare(db, (arg: Arg<{ kind: string; unused: string }>) => {
        arg('unused');
        return db.selectFrom('items').selectAll().where('kind', '=', arg('kind'));
      }),
    ).toThrow(/argument "unused" is not a parameter/);
  });

  it('refuses an undefined argument instead of writing NULL (null is written as null)', async () => {
    const add = prepare(db, (arg: Arg<{ id: string; kind: string | null; n: number }>) =>
      db.insertInto('items').values({ id: arg('id'), kind: arg('kind') as string, n: arg('n') }),
    );
    await expect(add({ id: 'u', kind: undefined as unknown as string, n: 1 })).rejects.toThrow(
      /argument "kind" is undefined/,
    );
    // The table refuses NULL here (kind is NOT NULL): null did reach it as null.
    await expect(add({ id: 'n', kind: null, n: 1 })).rejects.toThrow(/NOT NULL/);
    expect((raw.prepare('select count(*) as c from items').get() as { c: number }).c).toBe(0);
  });

  it('keeps concurrent prepared writes in one group commit', async () => {
    const add = insert();
    await Promise.all(Array.from({ length: 5 }, (_, i) => add({ id: `k${i}`, n: i })));
    expect(begins).toBe(1);
    expect((raw.prepare('select count(*) as c from items').get() as { c: number }).c).toBe(5);
  });

  it('prepares each SQL text once, and a cached statement follows a schema change made elsewhere', async () => {
    const find = byKind();
    await insert()({ id: 'a', n: 1 });
    prepares = [];
    for (let i = 0; i < 10; i++) expect(await find({ kind: 'fixed', min: 0 })).toHaveLength(1);
    expect(prepares).toHaveLength(1);
    // Another process (a newer version's migration) adds a column: the cached `select *` sees it.
    const other = new Sqlite(join(dir, 'db.sqlite'));
    other.exec("alter table items add column note text not null default 'added'");
    other.close();
    expect(await find({ kind: 'fixed', min: 0 })).toEqual([{ id: 'a', kind: 'fixed', n: 1, note: 'added' }]);
  });
});
