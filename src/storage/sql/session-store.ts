import session from 'express-session';
import type { Kysely } from 'kysely';
import { toStoreError } from '../errors.js';
import { prepare, type Arg } from './prepared.js';
import type { Database } from './schema.js';
import { deleteInBatches, SWEEP_BATCH } from './stores.js';

type Callback<T = void> = (err?: unknown, value?: T) => void;

// express-session hands a store error straight to next(); translated, it renders as a 503, not a 500.
const failed =
  (cb: Callback<never> | undefined) =>
  (err: unknown): void =>
    cb?.(toStoreError(err));

/**
 * express-session store on the kit's SQL database (SQLite or PostgreSQL), so the embedded default
 * keeps sessions across restarts without the in-memory store express-session warns about.
 */
export class SqlSessionStore extends session.Store {
  /** Every sign-in saves its new session (see prepare()). */
  private readonly save;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly defaultTtlMs: number,
  ) {
    super();
    this.save = prepare(db, (arg: Arg<{ sid: string; sess: string; expiresAt: number }>) =>
      db
        .insertInto('sessions')
        .values({ sid: arg('sid'), sess: arg('sess'), expires_at: arg('expiresAt') })
        .onConflict((oc) =>
          oc.column('sid').doUpdateSet({ sess: arg('sess'), expires_at: arg('expiresAt') }),
        ),
    );
  }

  private expiry(sess: session.SessionData): number {
    const exp = sess.cookie?.expires;
    return exp ? new Date(exp).getTime() : Date.now() + this.defaultTtlMs;
  }

  override get(sid: string, cb: Callback<session.SessionData | null>): void {
    this.db
      .selectFrom('sessions')
      .select(['sess', 'expires_at'])
      .where('sid', '=', sid)
      .executeTakeFirst()
      .then((row) => {
        if (!row || Number(row.expires_at) <= Date.now()) return cb(null, null);
        return cb(null, JSON.parse(row.sess) as session.SessionData);
      }, failed(cb));
  }

  override set(sid: string, sess: session.SessionData, cb?: Callback): void {
    this.save({ sid, sess: JSON.stringify(sess), expiresAt: this.expiry(sess) }).then(
      () => cb?.(),
      failed(cb),
    );
  }

  override destroy(sid: string, cb?: Callback): void {
    this.db
      .deleteFrom('sessions')
      .where('sid', '=', sid)
      .execute()
      .then(() => cb?.(), failed(cb));
  }

  override touch(sid: string, sess: session.SessionData, cb?: Callback): void {
    this.db
      .updateTable('sessions')
      .set({ expires_at: this.expiry(sess) })
      .where('sid', '=', sid)
      .execute()
      .then(() => cb?.(), failed(cb));
  }

  /** Deletes expired sessions; called periodically, in batches (see the replay store's sweep). */
  async sweep(opts: { batchSize?: number } = {}): Promise<void> {
    const batch = Math.max(1, opts.batchSize ?? SWEEP_BATCH);
    const now = Date.now();
    await deleteInBatches(batch, async () => {
      const res = await this.db
        .deleteFrom('sessions')
        .where('sid', 'in', (eb) =>
          eb.selectFrom('sessions').select('sid').where('expires_at', '<=', now).limit(batch),
        )
        .executeTakeFirst();
      return Number(res.numDeletedRows);
    });
  }
}
