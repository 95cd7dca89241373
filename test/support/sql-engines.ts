/**
 * The SQL engines a test that needs its own database runs on: a SQLite file always, PostgreSQL (a
 * throwaway schema) when TEST_DATABASE_URL is set — the same rule as the storage contract.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_DATABASE_URL, dropSchema, runName, suiteTitle, withSchema } from '../contract/backends.js';

/** A fresh, empty database on one engine. */
export interface FreshDatabase {
  databaseUrl: string;
  /** Removes it (file or schema); call after everything using it is closed. */
  cleanup(): Promise<void>;
}

export interface SqlEngine {
  name: 'SQLite' | 'PostgreSQL';
  enabled: boolean;
  /** Suite title; says why when the engine is skipped (printed once, see suiteTitle). */
  title(what: string): string;
  fresh(): FreshDatabase;
}

const pgEnabled = TEST_DATABASE_URL !== undefined;

export const sqlEngines: readonly SqlEngine[] = [
  {
    name: 'SQLite',
    enabled: true,
    title: (what) => `${what} (SQLite)`,
    fresh: () => {
      const dir = mkdtempSync(join(tmpdir(), 'sspk-engine-'));
      return {
        databaseUrl: `sqlite:${join(dir, 'sp.db')}`,
        cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
      };
    },
  },
  {
    name: 'PostgreSQL',
    enabled: pgEnabled,
    title: (what) => suiteTitle(pgEnabled, `${what} (PostgreSQL)`, 'TEST_DATABASE_URL=postgres://…'),
    fresh: () => {
      const base = TEST_DATABASE_URL ?? '';
      const schema = runName('engine');
      return { databaseUrl: withSchema(base, schema), cleanup: () => dropSchema(base, schema) };
    },
  },
];
