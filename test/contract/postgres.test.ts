import { describe } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import { TEST_DATABASE_URL, dropSchema, runName, suiteTitle, withSchema } from './backends.js';
import { storeContract, type ContractHandle } from './stores.contract.js';

const enabled = TEST_DATABASE_URL !== undefined;

describe.skipIf(!enabled)(
  suiteTitle(enabled, 'PostgreSQL storage contract', 'TEST_DATABASE_URL=postgres://…'),
  () => {
    const base = TEST_DATABASE_URL ?? '';
    const schema = runName('contract');
    storeContract({
      name: `PostgreSQL (schema ${schema}, two pools)`,
      provides: { records: true, oneTime: true, sessions: true },
      shared: true,
      open: async (): Promise<ContractHandle> => {
        const { stores, sessionStore } = await openStorage({
          databaseUrl: withSchema(base, schema),
          sessionTtlMs: 60_000,
        });
        return { records: stores, oneTime: stores.oneTime, sessionStore, close: () => stores.close() };
      },
      cleanup: () => dropSchema(base, schema),
    });
  },
);
