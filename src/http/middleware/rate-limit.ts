import {
  rateLimit,
  type IncrementResponse,
  type Options,
  type Store,
  type ClientRateLimitInfo,
} from 'express-rate-limit';
import type { RequestHandler } from 'express';
import { RedisStore } from 'rate-limit-redis';
import { SpError } from '../../errors.js';
import type { RedisClient } from '../../storage/redis/index.js';

/** Where a shared limiter reports its store failing and recovering (the app logs and counts). */
export interface SharedLimitEvents {
  /** A request was let through unlimited because the store failed (every such request). */
  failedOpen(limiter: string, err: unknown): void;
  /** The store failed after working (once per outage and limiter). */
  lost(limiter: string, err: unknown): void;
  /** The store works again after {@link lost}. */
  restored(limiter: string): void;
  /**
   * express-rate-limit found the deployment set up wrong (its `ERR_ERL_…` checks, e.g. an
   * X-Forwarded-For header while TRUST_PROXY is off: every client would share the proxy's budget).
   * Once per check and limiter.
   */
  misconfigured?(limiter: string, err: Error & { code: string }): void;
}

/** express-rate-limit's logger interface. */
type LimiterLogger = Pick<Console, 'error' | 'warn'>;

/**
 * Counters of every limiter in Redis, so N instances share one budget per client instead of giving
 * N× the budget. Keys are `PREFIX rl:NAME:CLIENT`, one namespace per limiter.
 *
 * When Redis fails the limiters fail OPEN: the request is served without a limit (logged once per
 * outage, counted every time). A limiter failing closed would turn a Redis outage into every user
 * locked out of sign-in; the sign-in itself still fails closed where Redis is its security (the
 * replay cache and request IDs answer 503).
 */
export class SharedRateLimits {
  private readonly names = new Set<string>();

  constructor(
    private readonly client: RedisClient,
    /** The deployment's key prefix (REDIS_URL `?prefix=`, default `sspk:`). */
    private readonly prefix: string,
    private readonly events: SharedLimitEvents,
  ) {}

  /**
   * The store of the limiter `name`.
   *
   * @throws TypeError when `name` was given before: two limiters would share (and double) a budget.
   */
  store(name: string): Store {
    if (this.names.has(name)) throw new TypeError(`rate limiter "${name}" exists already`);
    this.names.add(name);
    const redis = new RedisStore({
      // node-redis v5 takes the raw command as one array.
      sendCommand: (...args: string[]) => this.client.sendCommand(args),
      prefix: `${this.prefix}rl:${name}:`,
    });
    return new FailOpenStore(name, redis, this.events);
  }

  /**
   * The logger of the limiter `name`: its setup checks go to {@link SharedLimitEvents.misconfigured},
   * once per code; its per-request store errors are dropped (FailOpenStore has reported them).
   */
  logger(name: string): LimiterLogger {
    const told = new Set<string>();
    const report = (err: unknown) => {
      const code = (err as { code?: unknown } | null)?.code;
      if (!(err instanceof Error) || typeof code !== 'string' || !code.startsWith('ERR_ERL_')) return;
      if (told.has(code)) return;
      told.add(code);
      this.events.misconfigured?.(name, err as Error & { code: string });
    };
    return { error: report, warn: report };
  }
}

/**
 * A store that reports its failures and recovers from a failed script load: rate-limit-redis keeps
 * the promise of its Lua script's SHA, and a load that failed (Redis down at that moment) would fail
 * every later call; after any failure the scripts are loaded again on the next call.
 */
class FailOpenStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  private options: Options | null = null;
  private broken = false;

  constructor(
    private readonly name: string,
    private readonly inner: RedisStore,
    private readonly events: SharedLimitEvents,
  ) {
    this.prefix = inner.prefix;
  }

  async init(options: Options): Promise<void> {
    this.options = options;
    try {
      await this.inner.init(options);
    } catch (err) {
      // Not fatal: the next call loads the scripts again.
      if (!this.broken) this.events.lost(this.name, err);
      this.broken = true;
    }
  }

  private fail(err: unknown): never {
    if (!this.broken) this.events.lost(this.name, err);
    this.broken = true;
    this.events.failedOpen(this.name, err);
    throw err;
  }

  private async call<T>(op: () => Promise<T>): Promise<T> {
    try {
      if (this.broken && this.options) await this.inner.init(this.options);
      const out = await op();
      if (this.broken) {
        this.broken = false;
        this.events.restored(this.name);
      }
      return out;
    } catch (err) {
      return this.fail(err);
    }
  }

  increment(key: string): Promise<IncrementResponse> {
    return this.call(() => this.inner.increment(key));
  }

  get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.call(() => this.inner.get(key));
  }

  decrement(key: string): Promise<void> {
    return this.call(() => this.inner.decrement(key));
  }

  resetKey(key: string): Promise<void> {
    return this.call(() => this.inner.resetKey(key));
  }
}

/** How the limiters of one app keep their counters: per process, or shared through Redis. */
export type LimiterFactory = (name: string, perMinute: number) => RequestHandler;

/** Limiters whose counters live in this process (no REDIS_URL, or a router built alone). */
export const localLimiters: LimiterFactory = (_name, perMinute) => perClientLimit(perMinute);

/** Limiters whose counters live in Redis ({@link SharedRateLimits}), failing open. */
export function sharedLimiters(shared: SharedRateLimits): LimiterFactory {
  return (name, perMinute) => perClientLimit(perMinute, shared.store(name), shared.logger(name));
}

/**
 * A per-client (IP) fixed-window limit. Over the limit: 429 RATE_LIMITED through the error handler,
 * with `Retry-After` (seconds) and the standard RateLimit headers. Without a `store` the counters
 * live in process memory (each instance enforces its own budget); with a shared store
 * ({@link SharedRateLimits}) every instance counts against one budget, and a store failure lets the
 * request through (fail open; the store has reported it).
 */
export function perClientLimit(perMinute: number, store?: Store, logger?: LimiterLogger): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    ...(store
      ? {
          store,
          passOnStoreError: true,
          // FailOpenStore has logged and counted the failure; no console line per request.
          logger: logger ?? { error: () => undefined, warn: () => undefined },
        }
      : {}),
    handler: (_req, res, next) => {
      const reset = (res.req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
      res.set('Retry-After', String(seconds));
      next(new SpError('RATE_LIMITED'));
    },
  });
}
