// pg, redis and connect-redis are optional peer dependencies: an SQLite deployment installs none of them.
// When DATABASE_URL or REDIS_URL asks for one that is missing, start-up must stop with one line naming
// the setting and the package, not with a module-resolution stack trace. (The packed-tarball test
// checks the same with a real install that lacks them.)
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { importOptional, OPTIONAL_PACKAGES } from '../../src/storage/optional.js';

/** What Node throws when an ES module imports a package that is not installed. */
function notFound(pkg: string): Error {
  return Object.assign(
    new Error(`Cannot find package '${pkg}' imported from /app/dist/storage/sql/postgres.js`),
    {
      code: 'ERR_MODULE_NOT_FOUND',
    },
  );
}

describe('importOptional', () => {
  it('returns the module when its packages are installed', async () => {
    await expect(importOptional('DATABASE_URL', 'x', () => Promise.resolve({ ok: 1 }))).resolves.toEqual({
      ok: 1,
    });
  });

  it('names DATABASE_URL and pg when the PostgreSQL driver is missing', async () => {
    const err = await importOptional('DATABASE_URL', 'a postgres:// DATABASE_URL', () =>
      Promise.reject(notFound('pg')),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(
      'DATABASE_URL: a postgres:// DATABASE_URL needs the optional package pg, which is not installed: npm install pg',
    );
  });

  it('names REDIS_URL and the missing package (redis or connect-redis)', async () => {
    for (const pkg of OPTIONAL_PACKAGES.REDIS_URL) {
      const err = await importOptional('REDIS_URL', 'REDIS_URL', () => Promise.reject(notFound(pkg))).catch(
        (e: unknown) => e,
      );
      expect((err as ConfigError).message).toBe(
        `REDIS_URL: REDIS_URL needs the optional package ${pkg}, which is not installed: npm install redis connect-redis`,
      );
    }
  });

  it('passes other errors through (a broken module, another missing package)', async () => {
    const broken = new SyntaxError('Unexpected token');
    await expect(importOptional('REDIS_URL', 'REDIS_URL', () => Promise.reject(broken))).rejects.toBe(broken);
    const other = notFound('left-pad');
    await expect(importOptional('DATABASE_URL', 'x', () => Promise.reject(other))).rejects.toBe(other);
  });

  it('the real loaders work when the packages are installed (this repository has them as dev dependencies)', async () => {
    await expect(import('../../src/storage/sql/postgres.js')).resolves.toHaveProperty('openPostgresDatabase');
    await expect(import('../../src/storage/redis/index.js')).resolves.toHaveProperty('openRedisBackend');
  });
});
