import { RedisStore } from 'connect-redis';
import type session from 'express-session';
import { toStoreError } from '../errors.js';
import type { RedisClient } from './client.js';

// connect-redis's own callback type, so the overrides stay compatible with express-session's Store.
type Callback = NonNullable<Parameters<RedisStore['get']>[1]>;

function guarded(cb: Callback | undefined): Callback {
  return (err: unknown, value?: unknown): void => {
    cb?.(err ? toStoreError(err) : null, value);
  };
}

/**
 * express-session store on Redis (connect-redis), so every instance sees every session.
 *
 * Errors are translated to STORE_UNAVAILABLE before express-session sees them: it passes a store
 * error straight to `next()`, and an untranslated driver error would render as a 500 instead of a 503.
 */
export class RedisSessionStore extends RedisStore {
  /**
   * @param prefix key prefix, e.g. `sspk:sess:`.
   * @param defaultTtlMs expiry of a session whose cookie carries none.
   */
  constructor(client: RedisClient, prefix: string, defaultTtlMs: number) {
    super({ client, prefix, ttl: Math.ceil(defaultTtlMs / 1000) });
  }

  override get(sid: string, cb?: Callback): Promise<unknown> {
    return super.get(sid, guarded(cb));
  }

  override set(sid: string, sess: session.SessionData, cb?: Callback): Promise<unknown> {
    return super.set(sid, sess, guarded(cb));
  }

  override touch(sid: string, sess: session.SessionData, cb?: Callback): Promise<unknown> {
    return super.touch(sid, sess, guarded(cb));
  }

  override destroy(sid: string, cb?: Callback): Promise<unknown> {
    return super.destroy(sid, guarded(cb));
  }
}
