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

/** Whether any row expired before `before` is left (an index lookup, cheap enough to poll). */
export function anyExpired(db: Sqlite.Database, before: number): boolean {
  const one = (table: string) =>
    db.prepare(`SELECT 1 FROM ${table} WHERE expires_at <= ? LIMIT 1`).get(before);
  return one('one_time') !== undefined || one('sessions') !== undefined;
}

/** Rows of the growth data that have expired and are still there. */
export function expiredLeft(db: Sqlite.Database, before: number): { replay: number; sessions: number } {
  const count = (table: string) =>
    (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE expires_at <= ?`).get(before) as { n: number }).n;
  return { replay: count('one_time'), sessions: count('sessions') };
}

export function tableRows(db: Sqlite.Database): { replay: number; sessions: number } {
  const count = (table: string) =>
    (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  return { replay: count('one_time'), sessions: count('sessions') };
}
