import type { OneTimeStore } from '../types.js';
import type { RedisClient } from './client.js';

/** Redis wants a positive integer expiry; sub-millisecond or fractional TTLs round up. */
const px = (ttlMs: number): number => Math.max(1, Math.ceil(ttlMs));

/**
 * One-time values in Redis. Every operation is one atomic command, so instances sharing the server
 * agree: `put` is SET PX, `take` is GETDEL (of concurrent takes exactly one gets the value), `claim`
 * is SET NX PX (of concurrent claims exactly one succeeds). Redis expires the keys itself.
 */
export class RedisOneTimeStore implements OneTimeStore {
  /** @param prefix prepended to every key, e.g. `sspk:ot:`. */
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {}

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.client.set(this.prefix + key, value, { expiration: { type: 'PX', value: px(ttlMs) } });
  }

  async take(key: string): Promise<string | null> {
    const value = await this.client.getDel(this.prefix + key);
    return typeof value === 'string' ? value : null;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const reply = await this.client.set(this.prefix + key, '1', {
      condition: 'NX',
      expiration: { type: 'PX', value: px(ttlMs) },
    });
    return reply === 'OK';
  }
}
