import { createClient } from 'redis';

/** A connected node-redis client, as {@link connectRedis} returns it. */
export type RedisClient = ReturnType<typeof createClient>;

/** Where the kit's keys live: the server URL and the prefix every key starts with. */
export interface RedisTarget {
  /** The server URL without the kit's own `prefix` parameter. */
  url: string;
  /** Prefix of every key the kit writes (sessions and one-time values). */
  prefix: string;
}

/** The key prefix used when `REDIS_URL` names none. */
export const DEFAULT_REDIS_PREFIX = 'sspk:';

const PREFIX = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Splits `redis://…[?prefix=NAME]` into the server URL and the key prefix, so several deployments
 * (or test runs) can share one Redis without seeing each other's keys.
 *
 * @throws TypeError when the prefix has characters outside `[A-Za-z0-9_.:-]` or is too long.
 */
export function parseRedisUrl(url: string, defaultPrefix: string = DEFAULT_REDIS_PREFIX): RedisTarget {
  const parsed = new URL(url);
  const prefix = parsed.searchParams.get('prefix') ?? defaultPrefix;
  parsed.searchParams.delete('prefix');
  if (!PREFIX.test(prefix)) throw new TypeError('REDIS_URL: prefix must match ^[A-Za-z0-9_.:-]{1,64}$');
  return { url: parsed.toString(), prefix };
}

/** Hooks for connection state changes, so the app can log an outage once instead of per retry. */
export interface RedisConnectionEvents {
  onLost?(err: unknown): void;
  onRestored?(): void;
}

/** Timeouts of {@link connectRedis}. */
export interface RedisTimeouts {
  /** Bound on establishing a connection (and on the first one, at start-up). Default 3000 ms. */
  connectTimeoutMs?: number;
  /** Bound on any single command. Default 5000 ms. */
  commandTimeoutMs?: number;
}

function delay(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
}

/**
 * Connects to Redis with the settings that keep requests from hanging during an outage: commands
 * are rejected at once while disconnected (no offline queue) and every command has a timeout, so a
 * caller gets an error it can turn into a 503; the client reconnects by itself with capped backoff.
 *
 * @throws Error when the first connection does not succeed within the connect timeout.
 */
export async function connectRedis(
  url: string,
  events: RedisConnectionEvents = {},
  timeouts: RedisTimeouts = {},
): Promise<RedisClient> {
  const connectTimeoutMs = timeouts.connectTimeoutMs ?? 3000;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    // A lost connection fails commands at once (no offline queue); the timeout is for a server that
    // stops answering. It is generous because a CPU-saturated instance reads replies late.
    commandOptions: { timeout: timeouts.commandTimeoutMs ?? 5000 },
    socket: {
      connectTimeout: connectTimeoutMs,
      // Capped exponential backoff with jitter, so many instances do not reconnect in lockstep.
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100),
    },
  });
  let up = false;
  let started = false;
  // node-redis emits 'error' on every failed reconnect; without a listener the process would crash.
  client.on('error', (err: unknown) => {
    if (up) {
      up = false;
      events.onLost?.(err);
    }
  });
  client.on('ready', () => {
    const restored = started && !up;
    up = true;
    if (restored) events.onRestored?.();
  });
  const connecting = client.connect().then(() => 'ready' as const);
  const first = await Promise.race([connecting.catch(() => 'failed' as const), delay(connectTimeoutMs)]);
  if (first !== 'ready') {
    client.destroy();
    await connecting.catch(() => undefined);
    const where = new URL(url);
    throw new Error(`Redis at ${where.hostname}:${where.port || '6379'} is unreachable`);
  }
  started = true;
  return client;
}
