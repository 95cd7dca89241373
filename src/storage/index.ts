import { sql } from 'kysely';
import type session from 'express-session';
import { SpError } from '../errors.js';
import { migrateToLatest } from './sql/migrations.js';
import { openSqlDatabase } from './sql/engine.js';
import { SqlSessionStore } from './sql/session-store.js';
import {
  SqlAccountStore,
  SqlAuditStore,
  SqlConnectionStore,
  SqlOneTimeStore,
  SqlUserStore,
} from './sql/stores.js';
import type { Stores } from './types.js';

/** Stores plus the express-session store and a periodic cleanup. */
export interface StorageBundle {
  stores: Stores;
  sessionStore: session.Store;
  /** Deletes expired one-time values and sessions. */
  sweep(): Promise<void>;
}

/**
 * Wraps every async method so a backend failure (connection refused, server restarting) surfaces as
 * the catalogued STORE_UNAVAILABLE (503) instead of an uncaught driver error. SpErrors pass through.
 */
export function guardStore<T extends object>(store: T): T {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        try {
          const out: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          return out instanceof Promise ? out.catch(translateStoreError) : out;
        } catch (err) {
          return translateStoreError(err);
        }
      };
    },
  });
}

function translateStoreError(err: unknown): never {
  if (err instanceof SpError) throw err;
  throw new SpError('STORE_UNAVAILABLE', {
    cause: err,
    detail: err instanceof Error ? err.message : String(err),
  });
}

/** Opens the SQL database named by `databaseUrl`, migrates it and builds the stores. */
export async function openStorage(opts: {
  databaseUrl: string;
  sessionTtlMs: number;
}): Promise<StorageBundle> {
  const { db, dialect } = await openSqlDatabase(opts.databaseUrl);
  await migrateToLatest(db, dialect);
  const oneTime = new SqlOneTimeStore(db);
  const sessionStore = new SqlSessionStore(db, opts.sessionTtlMs);
  const stores: Stores = {
    accounts: guardStore(new SqlAccountStore(db)),
    connections: guardStore(new SqlConnectionStore(db)),
    users: guardStore(new SqlUserStore(db)),
    audit: guardStore(new SqlAuditStore(db)),
    oneTime: guardStore(oneTime),
    ping: async () => {
      try {
        await sql`select 1`.execute(db);
      } catch (err) {
        translateStoreError(err);
      }
    },
    close: () => db.destroy(),
  };
  return {
    stores,
    sessionStore,
    sweep: async () => {
      await oneTime.sweep();
      await sessionStore.sweep();
    },
  };
}

export type * from './types.js';
