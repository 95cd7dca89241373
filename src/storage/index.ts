import { sql } from 'kysely';
import type session from 'express-session';
import { errorCatalog } from '../errors.js';
import { guardStore, throwStoreError } from './errors.js';
import { importOptional } from './optional.js';
import type { RedisBackend, RedisClient } from './redis/index.js';
import { SqlBotStore } from './sql/bot-store.js';
import { migrateToLatest } from './sql/migrations.js';
import { openSqlDatabase } from './sql/engine.js';
import { SqlSessionStore } from './sql/session-store.js';
import {
  SqlAccountStore,
  SqlAuditStore,
  SqlConnectionStore,
  SqlOidcConnectionStore,
  SqlOneTimeStore,
  SqlSetupLinkStore,
  SqlSignInTestStore,
  SqlUserStore,
} from './sql/stores.js';
import type { Stores } from './types.js';

/** The backends {@link StorageBundle.health} reports on. */
export type StorageBackend = 'database' | 'redis';

/** Readiness of every backend, for `GET /readyz`. */
export interface StorageHealth {
  ready: boolean;
  /** One entry per configured backend. */
  checks: Partial<Record<StorageBackend, 'ok' | 'unavailable'>>;
  /** Present when not ready: the catalogued code and a public message naming what is down. */
  error?: { code: 'STORE_UNAVAILABLE'; message: string };
}

/** Stores plus the express-session store and a periodic cleanup. */
export interface StorageBundle {
  stores: Stores;
  sessionStore: session.Store;
  /**
   * Deletes expired one-time values and sessions (Redis expires its own keys) and audit events older
   * than the retention period.
   */
  sweep(): Promise<void>;
  /** Checks every backend; never throws. */
  health(): Promise<StorageHealth>;
  /**
   * With `redisUrl`: the connected client and the deployment's key prefix, for other shared state
   * (the rate limits' counters). Closed by `stores.close()`.
   */
  redis: { client: RedisClient; prefix: string } | null;
}

/** Where storage messages go (a pino logger fits). */
export interface StorageLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Options of {@link openStorage}. */
export interface StorageOptions {
  /** `sqlite:PATH`, `sqlite::memory:` or `postgres://…[?schema=NAME]`. */
  databaseUrl: string;
  /**
   * `redis://…[?prefix=NAME]`: when set, sessions and the one-time values (AuthnRequest IDs, seen
   * assertion IDs) live in Redis so several instances share them. Key prefix default `sspk:`.
   */
  redisUrl?: string | undefined;
  /** Lifetime of a session whose cookie carries no expiry. */
  sessionTtlMs: number;
  /** Audit events older than this many days are deleted by {@link StorageBundle.sweep}. Default 90. */
  auditRetentionDays?: number | undefined;
  /** Told once when Redis is lost and once when it is back (not on every reconnect attempt). */
  logger?: StorageLogger;
}

export { guardStore } from './errors.js';

/** Days an audit event is kept when {@link StorageOptions.auditRetentionDays} is not given. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 90;

/**
 * Opens the SQL database named by `databaseUrl`, migrates it, connects to Redis when `redisUrl` is
 * set, and builds the stores.
 *
 * @throws when a backend cannot be reached at start-up (the process should not start half-wired).
 */
export async function openStorage(opts: StorageOptions): Promise<StorageBundle> {
  const { db, dialect, schema } = await openSqlDatabase(opts.databaseUrl);
  let redis: RedisBackend | null = null;
  try {
    await migrateToLatest(db, dialect, schema);
    if (opts.redisUrl) {
      const log = opts.logger;
      // The Redis client and session store are optional peer dependencies, loaded only with REDIS_URL.
      const { openRedisBackend } = await importOptional(
        'REDIS_URL',
        'REDIS_URL',
        () => import('./redis/index.js'),
      );
      redis = await openRedisBackend({
        url: opts.redisUrl,
        sessionTtlMs: opts.sessionTtlMs,
        events: {
          onLost: (err) =>
            log?.warn(
              { err },
              'Redis connection lost: sessions and SSO logins fail with 503 until it is back',
            ),
          onRestored: () => log?.info({}, 'Redis connection restored'),
        },
      });
    }
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const sqlOneTime = new SqlOneTimeStore(db);
  const sqlSessions = new SqlSessionStore(db, opts.sessionTtlMs);
  const sqlAudit = new SqlAuditStore(db);
  const sqlSignInTests = new SqlSignInTestStore(db);
  const retentionMs = (opts.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS) * 24 * 3600 * 1000;
  const pingDatabase = async (): Promise<void> => {
    try {
      await sql`select 1`.execute(db);
    } catch (err) {
      throwStoreError(err);
    }
  };
  const stores: Stores = {
    accounts: guardStore(new SqlAccountStore(db)),
    connections: guardStore(new SqlConnectionStore(db)),
    oidcConnections: guardStore(new SqlOidcConnectionStore(db)),
    users: guardStore(new SqlUserStore(db)),
    audit: guardStore(sqlAudit),
    signInTests: guardStore(sqlSignInTests),
    setupLinks: guardStore(new SqlSetupLinkStore(db)),
    // Always SQL, also with Redis: a revocation must be seen by every instance at once, and the
    // database is the one place they all read.
    bots: guardStore(new SqlBotStore(db)),
    oneTime: redis ? redis.oneTime : guardStore(sqlOneTime),
    ping: async () => {
      await pingDatabase();
      await redis?.ping();
    },
    close: async () => {
      await redis?.close();
      await db.destroy();
    },
  };
  return {
    stores,
    sessionStore: redis ? redis.sessionStore : sqlSessions,
    redis: redis ? { client: redis.client, prefix: redis.prefix } : null,
    sweep: async () => {
      // Harmless with Redis (the tables stay empty) and keeps a switch back to SQL clean.
      await sqlOneTime.sweep();
      await sqlSessions.sweep();
      await sqlAudit.deleteOlderThan(new Date(Date.now() - retentionMs).toISOString());
      await sqlSignInTests.deleteExpiredBefore(new Date(Date.now() - 24 * 3600_000).toISOString());
    },
    health: async () => {
      const state = (p: Promise<void>) =>
        p.then(
          () => 'ok' as const,
          () => 'unavailable' as const,
        );
      const [database, redisState] = await Promise.all([
        state(pingDatabase()),
        redis ? state(redis.ping()) : Promise.resolve(null),
      ]);
      const checks: StorageHealth['checks'] = { database };
      if (redisState) checks.redis = redisState;
      const down = Object.entries(checks)
        .filter(([, v]) => v !== 'ok')
        .map(([k]) => k);
      if (down.length === 0) return { ready: true, checks };
      return {
        ready: false,
        checks,
        error: {
          code: 'STORE_UNAVAILABLE',
          message: `${errorCatalog.STORE_UNAVAILABLE.message} Unavailable: ${down.join(', ')}.`,
        },
      };
    },
  };
}

/**
 * Brings the database named by `databaseUrl` up to date (what `npm run migrate` does) and returns the
 * names of the migrations applied now; empty when it already was.
 */
export async function migrateDatabase(databaseUrl: string): Promise<string[]> {
  const { db, dialect, schema } = await openSqlDatabase(databaseUrl);
  try {
    return await migrateToLatest(db, dialect, schema);
  } finally {
    await db.destroy();
  }
}

export type * from './types.js';
