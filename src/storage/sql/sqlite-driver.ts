import type Sqlite from 'better-sqlite3';
import {
  SqliteDialect,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely';

/**
 * Kysely's SQLite driver with group commit: the INSERT, UPDATE and DELETE statements that concurrent
 * requests issue within one turn of the event loop are run together in ONE transaction (at the end of
 * the turn's I/O callbacks, then again for the writes the resolved callers issue next), and each
 * caller's promise settles only after that transaction committed. A login writes four rows (the replay
 * claim, the user, the session, the audit record); with autocommit each is its own transaction, which
 * writes every page it touched to the WAL again (an audit row touches the table and its four indexes).
 * Under load the same pages are shared by the whole batch, so each is written once per batch.
 *
 * Nothing is acknowledged before it is durable to the same degree as before (journal WAL, synchronous
 * NORMAL), and a statement's failure is its own: a constraint violation aborts only that statement,
 * which SQLite guarantees, and its caller gets the error. An error that ends the whole transaction
 * (I/O error, disk full) or a failed COMMIT fails every statement of the batch, since none of them
 * is stored.
 *
 * The write lock is shared with the other processes on the file (the cluster's workers). A batch (or
 * an explicit transaction, which begins IMMEDIATE) that finds it held waits for it without blocking:
 * SQLite's own wait (busy_timeout) sleeps inside the call, 1 ms and more at a time, and with it every
 * request of the worker; here the batch retries after the next turns, then after 1 to 16 ms, while the
 * worker serves other requests and runs reads, and the writes issued meanwhile join it. It gives up
 * after the connection's busy_timeout of waiting, as SQLite would (SQLITE_BUSY), with nothing stored.
 *
 * Everything else keeps the single-connection rules of Kysely's driver: explicit transactions hold the
 * connection for their whole duration (other queries and batches wait), and reads (SELECT) run at once
 * when no transaction is open; `better-sqlite3` is synchronous, so a statement never interleaves with
 * another. One difference: `db.connection()` is not exclusive (only transactions are), so Kysely's
 * SQLite migration lock, which relies on that, does not hold between two migrations run at once in
 * one process; the kit migrates once, at start-up, before serving.
 */
export class GroupCommitSqliteDialect extends SqliteDialect {
  constructor(private readonly database: Sqlite.Database) {
    super({ database });
  }

  override createDriver(): Driver {
    return new GroupCommitDriver(this.database);
  }
}

const BATCHED = new Set(['InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode']);
/** A login writes four or five times in a row: each gets its own round within the turn. */
const MAX_ROUNDS_PER_TURN = 6;

interface Queued {
  query: CompiledQuery;
  resolve: (result: QueryResult<unknown>) => void;
  reject: (err: unknown) => void;
}

/** A FIFO lock: held by an explicit transaction, by a batch while it commits, or by a statement waiting its turn. */
class Lock {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  get free(): boolean {
    return !this.held;
  }

  async acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }
}

/** Prepared statements kept per database, by SQL text, most recently used last. */
const statements = new WeakMap<Sqlite.Database, Map<string, Sqlite.Statement>>();
/** Bound of each database's statement cache: the kit's queries are a few dozen texts. */
const MAX_STATEMENTS = 200;

/**
 * The database's prepared statement for `sql`, prepared once: Kysely hands the driver SQL text, and
 * preparing it (parsing and planning) costs more than running it. The SQL of the kit's queries is
 * fixed (values are bound parameters), so the texts are few. A schema change makes SQLite prepare a
 * cached statement again by itself. Statements run to completion synchronously here (all()/run(),
 * never iterate()), so a cached statement is never busy when it is needed again.
 */
function statement(db: Sqlite.Database, sql: string): Sqlite.Statement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map<string, Sqlite.Statement>()));
  let stmt = cache.get(sql);
  if (stmt) {
    cache.delete(sql);
  } else {
    stmt = db.prepare(sql);
    if (cache.size >= MAX_STATEMENTS) cache.delete(cache.keys().next().value!);
  }
  cache.set(sql, stmt);
  return stmt;
}

function run(db: Sqlite.Database, query: CompiledQuery): QueryResult<unknown> {
  const stmt = statement(db, query.sql);
  const parameters = query.parameters as unknown[];
  if (stmt.reader) return { rows: stmt.all(parameters) };
  const { changes, lastInsertRowid } = stmt.run(parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

/** SQLite's answer when another connection holds the lock a statement needs (SQLITE_BUSY and its extended codes). */
type SqliteBusy = Error & { code: string };

function isBusy(err: unknown): err is SqliteBusy {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** Between attempts at the write lock: the next turn twice, then 1, 2, 4, 8 and 16 ms. */
function pause(attempt: number): Promise<void> {
  if (attempt < 2) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => setTimeout(resolve, Math.min(2 ** (attempt - 2), 16)));
}

class GroupCommitDriver implements Driver {
  private readonly lock = new Lock();
  /** Held by the writer (batch or transaction) trying for SQLite's write lock; see whenWritable(). */
  private readonly writerTurn = new Lock();
  private queued: Queued[] = [];
  private flushScheduled = false;
  /** Flushes re-run in this turn for the writes of resolved callers (see flush()). */
  private rounds = 0;
  private roundsReset = false;
  /** Flushes under way (one may be waiting for the write lock). */
  private readonly flushing = new Set<Promise<void>>();
  /** A flush is on its way to the write lock: later flushes leave their writes to it. */
  private waiting = false;

  /** The connection's busy_timeout (ms): how long a write waits for another process's. */
  private readonly busyTimeoutMs: number;

  constructor(private readonly db: Sqlite.Database) {
    this.busyTimeoutMs = Number(db.pragma('busy_timeout', { simple: true }));
  }

  async init(): Promise<void> {}

  acquireConnection(): Promise<DatabaseConnection> {
    return Promise.resolve(new Connection(this));
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // IMMEDIATE: the write lock is taken at the start, waiting for another process's without blocking
    // (see whenWritable()). A deferred transaction would wait inside SQLite at its first write, and
    // could fail there (SQLITE_BUSY_SNAPSHOT) once another process had written since its first read.
    await this.whenWritable(() => this.withoutWaiting(() => this.db.exec('begin immediate')));
    (connection as Connection).inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.endTransaction(connection as Connection, 'commit');
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await this.endTransaction(connection as Connection, 'rollback');
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- synchronous, but a promise to Kysely
  private async endTransaction(connection: Connection, command: 'commit' | 'rollback'): Promise<void> {
    // Kysely rolls back a transaction whose COMMIT failed: by then it has ended, and its lock was
    // released. Releasing again would let two transactions interleave on the one connection.
    if (!connection.inTransaction) return;
    try {
      if (command === 'rollback') {
        if (this.db.inTransaction) this.db.exec('rollback');
      } else {
        try {
          this.db.exec('commit');
        } catch (err) {
          // A failed COMMIT (deferred constraint, I/O error) leaves the transaction open: it is rolled
          // back here, so that the lock is never released on a half-open transaction.
          if (this.db.inTransaction) this.db.exec('rollback');
          throw err;
        }
      }
    } finally {
      connection.inTransaction = false;
      this.lock.release();
    }
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    // Statements on their way (issued in this turn) or queued are written, and an open transaction
    // ends, before the database closes.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.queued.length > 0) await this.flush();
    // Batches waiting for another process's write lock are written (or fail) first.
    while (this.flushing.size > 0) await Promise.all(this.flushing);
    await this.lock.acquire();
    this.db.close();
  }

  /** A statement outside an explicit transaction. */
  async execute(query: CompiledQuery): Promise<QueryResult<unknown>> {
    if (BATCHED.has(query.query.kind)) {
      return new Promise((resolve, reject) => {
        this.queued.push({ query, resolve, reject });
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(() => this.flushSafely());
        }
      });
    }
    // A read (or DDL, pragma, raw SQL) runs at once, unless a transaction holds the connection.
    if (this.lock.free) return run(this.db, query);
    await this.lock.acquire();
    try {
      return run(this.db, query);
    } finally {
      this.lock.release();
    }
  }

  runInTransaction(query: CompiledQuery): QueryResult<unknown> {
    return run(this.db, query);
  }

  /** flush() settles every queued promise itself; nothing it throws may go unhandled. */
  private flushSafely(): void {
    const flushing = this.flush().catch(() => undefined);
    this.flushing.add(flushing);
    void flushing.then(() => this.flushing.delete(flushing));
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    // A batch is waiting for the write lock: these writes join it at its next attempt, after the older
    // ones, so that batches commit in the order they were issued and only one waits at a time.
    if (this.waiting) return;
    if (!this.roundsReset) {
      this.roundsReset = true;
      setImmediate(() => {
        this.rounds = 0;
        this.roundsReset = false;
      });
    }
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 0) return;
    this.waiting = true;
    try {
      await this.whenWritable(() => {
        if (this.queued.length > 0) batch.push(...this.queued.splice(0));
        return batch.length === 1 ? this.runAlone(batch[0]!) : this.commitBatch(batch);
      });
      this.lock.release();
    } catch (err) {
      // Past busy_timeout (SQLITE_BUSY): nothing of the batch was written.
      for (const q of batch) q.reject(err);
      return;
    } finally {
      this.waiting = false;
    }
    // The callers resolved above go on with their requests (as microtasks) and most write again at
    // once: those writes are committed in this same turn, once the microtasks have run, instead of
    // after the next round of I/O callbacks. A login's four writes then cost it one turn, not four.
    // A few rounds per turn at most: a loop of awaited writes must not keep the worker from I/O.
    if (this.rounds++ < MAX_ROUNDS_PER_TURN) {
      process.nextTick(() => {
        if (this.queued.length > 0) this.flushSafely();
      });
    }
  }

  /**
   * Holds the connection (the in-process lock) and runs `attempt`, which takes SQLite's write lock
   * without waiting for it (see withoutWaiting()). While another process (worker) holds that lock,
   * lets go of the connection, pauses and tries again. SQLite's own wait (busy_timeout) would put this
   * whole worker to sleep, 1 ms and more at a time, requests and all; here the connection stays free
   * for reads and the event loop for everything else. Resolves with the connection held once `attempt`
   * returned null; rejects with the SQLITE_BUSY error once the pauses add up to busy_timeout, as SQLite
   * would have, or with what `attempt` threw (the connection released either way).
   */
  private async whenWritable(attempt: () => SqliteBusy | null): Promise<void> {
    // One writer at a time on its way to the lock, in the order they came: a transaction or batch that
    // waits is not overtaken by a later one.
    await this.writerTurn.acquire();
    try {
      let paused = 0;
      for (let n = 0; ; n++) {
        await this.lock.acquire();
        let busy: SqliteBusy | null;
        try {
          busy = attempt();
        } catch (err) {
          this.lock.release();
          throw err;
        }
        if (busy === null) return;
        this.lock.release();
        if (paused >= this.busyTimeoutMs) throw busy;
        const t0 = performance.now();
        await pause(n);
        paused += performance.now() - t0;
      }
    } finally {
      this.writerTurn.release();
    }
  }

  /**
   * Runs `write`, which takes SQLite's write lock first, without waiting for the lock: null when it
   * ran, the SQLITE_BUSY error when another connection held the lock (then nothing was written).
   */
  private withoutWaiting(write: () => void): SqliteBusy | null {
    // Not a prepared statement: SQLite applies this pragma when it compiles it, not when it runs.
    this.db.pragma('busy_timeout = 0');
    try {
      write();
      return null;
    } catch (err) {
      if (isBusy(err) && !this.db.inTransaction) return err;
      throw err;
    } finally {
      this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    }
  }

  /** A write alone: a statement in autocommit. Null once it settled, the error if it must wait. */
  private runAlone(only: Queued): SqliteBusy | null {
    let result: QueryResult<unknown>;
    try {
      const busy = this.withoutWaiting(() => {
        result = run(this.db, only.query);
      });
      if (busy) return busy;
    } catch (err) {
      only.reject(err);
      return null;
    }
    only.resolve(result!);
    return null;
  }

  /** Writes the batch in one transaction. Null once every statement settled, the error if it must wait. */
  private commitBatch(batch: Queued[]): SqliteBusy | null {
    const outcomes: ({ ok: true; result: QueryResult<unknown> } | { ok: false; err: unknown })[] = [];
    try {
      // Never inside someone else's transaction (the lock makes this impossible; checked anyway).
      if (this.db.inTransaction) throw new Error('a transaction is already open on the SQLite connection');
      const busy = this.withoutWaiting(() => this.db.exec('begin immediate'));
      if (busy) return busy;
    } catch (err) {
      for (const q of batch) q.reject(err);
      return null;
    }
    for (const q of batch) {
      try {
        outcomes.push({ ok: true, result: run(this.db, q.query) });
      } catch (err) {
        if (!this.db.inTransaction) {
          // SQLite rolled the whole transaction back (I/O error, full disk…): nothing of the batch is stored.
          for (const each of batch) each.reject(err);
          return null;
        }
        outcomes.push({ ok: false, err });
      }
    }
    try {
      this.db.exec('commit');
    } catch (err) {
      try {
        if (this.db.inTransaction) this.db.exec('rollback');
      } catch {
        // the COMMIT's error is the one to report
      }
      for (const q of batch) q.reject(err);
      return null;
    }
    batch.forEach((q, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) q.resolve(outcome.result);
      else q.reject(outcome.err);
    });
    return null;
  }
}

class Connection implements DatabaseConnection {
  inTransaction = false;

  constructor(private readonly driver: GroupCommitDriver) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.inTransaction) return this.driver.runInTransaction(query) as QueryResult<R>;
    return (await this.driver.execute(query)) as QueryResult<R>;
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported by the SQLite store');
  }
}
