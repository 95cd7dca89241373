import { guardStore } from '../errors.js';
import type { OneTimeStore } from '../types.js';
import { connectRedis, parseRedisUrl, type RedisClient, type RedisConnectionEvents } from './client.js';
import { RedisOneTimeStore } from './one-time.js';
import { RedisSessionStore } from './session-store.js';

/** The Redis half of the storage: one client, the one-time store and the session store on it. */
export interface RedisBackend {
  client: RedisClient;
  /** Prefix of every key written (from `?prefix=`, default `sspk:`). */
  prefix: string;
  oneTime: OneTimeStore;
  sessionStore: RedisSessionStore;
  /** Resolves when the server answers PING; rejects with STORE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connects to `redis://…[?prefix=NAME]` and builds the stores. Keys are `PREFIX ot:KEY` for one-time
 * values (the caller's KEY is already namespaced per connection) and `PREFIX sess:SID` for sessions.
 */
export async function openRedisBackend(opts: {
  url: string;
  sessionTtlMs: number;
  events?: RedisConnectionEvents;
}): Promise<RedisBackend> {
  const { url, prefix } = parseRedisUrl(opts.url);
  const client = await connectRedis(url, opts.events);
  const pinger = guardStore({ ping: async () => void (await client.ping()) });
  return {
    client,
    prefix,
    oneTime: guardStore(new RedisOneTimeStore(client, `${prefix}ot:`)),
    sessionStore: new RedisSessionStore(client, `${prefix}sess:`, opts.sessionTtlMs),
    ping: () => pinger.ping(),
    close: async () => {
      // close() waits for replies in flight; with the server gone there are none worth waiting for.
      if (client.isReady) await client.close();
      else client.destroy();
    },
  };
}

export { parseRedisUrl, DEFAULT_REDIS_PREFIX, type RedisClient } from './client.js';
