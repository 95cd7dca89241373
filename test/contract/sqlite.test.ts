import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../../src/storage/index.js';
import { storeContract, type ContractHandle } from './stores.contract.js';

async function openSql(databaseUrl: string): Promise<ContractHandle> {
  const { stores, sessionStore } = await openStorage({ databaseUrl, sessionTtlMs: 60_000 });
  return { records: stores, oneTime: stores.oneTime, sessionStore, close: () => stores.close() };
}

const dir = mkdtempSync(join(tmpdir(), 'sspk-contract-'));

// One connection per engine, as the embedded default runs: two better-sqlite3 connections on one
// thread would deadlock each other's transactions (the driver blocks the thread while waiting for the
// write lock). Several instances need PostgreSQL; see the README.
storeContract({
  name: 'SQLite file',
  provides: { records: true, oneTime: true, sessions: true },
  shared: false,
  open: () => openSql(`sqlite:${join(dir, 'contract.db')}`),
  cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
});

storeContract({
  name: 'SQLite in memory (sqlite::memory:)',
  provides: { records: true, oneTime: true, sessions: true },
  shared: false,
  open: () => openSql('sqlite::memory:'),
});
