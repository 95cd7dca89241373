/**
 * The growth run's data: replay entries and sessions written straight into the SP's SQLite file (one
 * transaction each, keys in ascending order so the B-tree appends), as a busy deployment would have
 * accumulated them. Every replay entry has expired (an assertion ID is remembered only while the
 * assertion could still be accepted); half of the sessions have. The SP's own periodic sweep (every
 * 60 s in each worker, `storage.sweep()`) must purge them; {@link expiredLeft} watches it do so.
 */
import { randomBytes } from 'node:crypto';
import Sqlite from 'better-sqlite3';

export interface Inserted {
  replayEntries: number;
  sessions: number;
  expiredSessions: number;
  /** Every inserted row that has expired expired before this instant (epoch ms). */
  expiredBefore: number;
  seconds: number;
  /** Size of the database file after the insert and a WAL checkpoint (MB). */
  databaseMb: number;
}

export function openBenchDb(file: string): Sqlite.Database {
  const db = new Sqlite(file);
  db.pragma('busy_timeout = 30000');
  return db;
}

export function insertGrowth(
  db: Sqlite.Database,
  opts: { accountSlug: string; replayEntries: number; sessions: number },
): Inserted {
  const t0 = performance.now();
  const now = Date.now();
  const account = db.prepare('SELECT id FROM accounts WHERE slug = ?').get(opts.accountSlug) as
    { id: string } | undefined;
  if (!account) throw new Error(`no account ${opts.accountSlug} in the database`);
  const user = db
    .prepare('SELECT id, name_id, email FROM users WHERE account_id = ? LIMIT 1')
    .get(account.id) as { id: string; name_id: string; email: string | null } | undefined;
  const putReplay = db.prepare('INSERT INTO one_time (key, value, expires_at) VALUES (?, ?, ?)');
  const putSession = db.prepare('INSERT INTO sessions (sid, sess, expires_at) VALUES (?, ?, ?)');
  const salt = randomBytes(4).toString('hex');
  db.transaction(() => {
    for (let i = 0; i < opts.replayEntries; i++) {
      // Expired between 1 s and 1 h ago.
      const expires = now - 1000 - (i % 3600) * 1000;
      putReplay.run(`replay:${account.id}:_g${salt}${i.toString(16).padStart(8, '0')}`, '1', expires);
    }
  })();
  let expiredSessions = 0;
  db.transaction(() => {
    for (let i = 0; i < opts.sessions; i++) {
      const expired = i % 2 === 0;
      if (expired) expiredSessions++;
      // Expired up to 8 h ago, or valid for up to 8 h more: express-session's shape for a signed-in user.
      const offset = 1000 + (i % 28_800) * 1000;
      const expires = expired ? now - offset : now + offset;
      const sess = JSON.stringify({
        cookie: {
          originalMaxAge: 28_800_000,
          expires: new Date(expires).toISOString(),
          httpOnly: true,
          path: '/',
          sameSite: 'lax',
        },
        user: {
          userId: user?.id ?? 'u',
          accountSlug: opts.accountSlug,
          nameId: user?.name_id ?? 'auth0|x',
          email: user?.email ?? null,
          role: 'member',
          via: 'sso',
          loginAt: new Date(expires - 28_800_000).toISOString(),
        },
      });
      putSession.run(
        `g${salt}${i.toString(16).padStart(8, '0')}${randomBytes(12).toString('base64url')}`,
        sess,
        expires,
      );
    }
  })();
  // What the data would look like at rest: the SP's next commit must not pay for checkpointing it.
  db.pragma('wal_checkpoint(TRUNCATE)');
  const pages = db.pragma('page_count', { simple: true }) as number;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  return {
    replayEntries: opts.replayEntries,
    sessions: opts.sessions,
    expiredSessions,
    expiredBefore: now,
    seconds: (performance.now() - t0) / 1000,
    databaseMb: Math.round((pages * pageSize) / 1024 / 102.4) / 10,
  };
}

/** The row {@link watchSweeps} plants: never part of the growth data. */
const SENTINEL = 'bench:sweep-sentinel';

/** Whether any growth row expired before `before` is left (an index lookup, cheap enough to poll). */
export function anyExpired(db: Sqlite.Database, before: number): boolean {
  const replay = db
    .prepare('SELECT 1 FROM one_time WHERE expires_at <= ? AND key <> ? LIMIT 1')
    .get(before, SENTINEL);
  const session = db.prepare('SELECT 1 FROM sessions WHERE expires_at <= ? LIMIT 1').get(before);
  return replay !== undefined || session !== undefined;
}

/** Rows of the growth data that have expired and are still there. */
export function expiredLeft(db: Sqlite.Database, before: number): { replay: number; sessions: number } {
  const n = (row: unknown) => (row as { n: number }).n;
  return {
    replay: n(
      db
        .prepare('SELECT count(*) AS n FROM one_time WHERE expires_at <= ? AND key <> ?')
        .get(before, SENTINEL),
    ),
    sessions: n(db.prepare('SELECT count(*) AS n FROM sessions WHERE expires_at <= ?').get(before)),
  };
}

export function tableRows(db: Sqlite.Database): { replay: number; sessions: number } {
  const count = (table: string) =>
    (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  return { replay: count('one_time'), sessions: count('sessions') };
}

/**
 * Watches the SP's sweeps: a one_time row that expired long ago is written now and again, and its
 * disappearance marks a sweep. Sweeps run every 60 s from each worker's start (the workers start
 * together); until one is seen, the first is expected 60 s after the watch began.
 */
export function watchSweeps(file: string, periodMs = 60_000) {
  const db = openBenchDb(file);
  const key = SENTINEL;
  const plant = () =>
    db.prepare('INSERT OR REPLACE INTO one_time (key, value, expires_at) VALUES (?, ?, 1)').run(key, '1');
  const present = db.prepare('SELECT 1 FROM one_time WHERE key = ?');
  const startedAt = performance.now();
  const sweeps: number[] = [];
  plant();
  const timer = setInterval(() => {
    if (present.get(key) === undefined) {
      sweeps.push(performance.now());
      plant();
    }
  }, 200);
  return {
    /** When the next sweep is expected (performance.now() time), after `now`. */
    nextSweepAt(now: number): number {
      const base = sweeps[0] ?? startedAt + periodMs;
      const k = Math.max(0, Math.ceil((now - base) / periodMs));
      return base + k * periodMs;
    },
    /** Sweeps seen so far (seconds since the watch began). */
    seen: () => sweeps.map((t) => Math.round((t - startedAt) / 100) / 10),
    stop(): void {
      clearInterval(timer);
      db.close();
    },
  };
}
