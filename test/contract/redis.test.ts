import { describe, expect, it } from 'vitest';
import { openRedisBackend } from '../../src/storage/redis/index.js';
import {
  TEST_REDIS_URL,
  deleteKeysWithPrefix,
  keysWithPrefix,
  runName,
  suiteTitle,
  withPrefix,
} from './backends.js';
import { storeContract, type ContractHandle } from './stores.contract.js';

const enabled = TEST_REDIS_URL !== undefined;

describe.skipIf(!enabled)(suiteTitle(enabled, 'Redis storage contract', 'TEST_REDIS_URL=redis://…'), () => {
  const base = TEST_REDIS_URL ?? '';
  const prefix = `${runName('contract')}:`;
  storeContract({
    name: `Redis (prefix ${prefix}, two clients)`,
    provides: { records: false, oneTime: true, sessions: true },
    shared: true,
    open: async (): Promise<ContractHandle> => {
      const redis = await openRedisBackend({ url: withPrefix(base, prefix), sessionTtlMs: 60_000 });
      return { oneTime: redis.oneTime, sessionStore: redis.sessionStore, close: () => redis.close() };
    },
    cleanup: async () => {
      await deleteKeysWithPrefix(base, prefix);
    },
  });

  describe('Redis keys', () => {
    it('are all under the configured prefix, one-time values as PREFIXot:KEY with a TTL', async () => {
      const p = `${runName('keys')}:`;
      const redis = await openRedisBackend({ url: withPrefix(base, p), sessionTtlMs: 60_000 });
      try {
        await redis.oneTime.put('authn:conn-1:_req', 'v', 60_000);
        expect(await redis.oneTime.claim('replay:acc-1:_a', 60_000)).toBe(true);
        expect((await keysWithPrefix(base, p)).sort()).toEqual([
          `${p}ot:authn:conn-1:_req`,
          `${p}ot:replay:acc-1:_a`,
        ]);
        const ttl = await redis.client.pTTL(`${p}ot:replay:acc-1:_a`);
        expect(ttl).toBeGreaterThan(50_000);
        expect(ttl).toBeLessThanOrEqual(60_000);
      } finally {
        await redis.close();
        await deleteKeysWithPrefix(base, p);
      }
      expect(await keysWithPrefix(base, p)).toEqual([]);
    });
  });
});
