// What `npm publish` would ship. The package used to contain the SP development private key
// (certs/sp-dev.key), every test IdP key (test/fixtures/*.key) and the whole test suite: anyone who
// installed it had the keys, and a deployment that started from the installed copy's defaults signed
// with a public key. Now `files` lists what the package holds and a test reads every packed file.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Paths `npm pack` would put in the tarball, without running prepack (no build: fast). */
function packedFiles(): string[] {
  const res = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(res.error).toBeUndefined();
  expect(res.status, res.stderr).toBe(0);
  const [pack] = JSON.parse(res.stdout) as { files: { path: string }[] }[];
  return pack!.files.map((f) => f.path);
}

/** PEM armour of any private key: PKCS#8, encrypted PKCS#8, RSA/EC/DSA (PKCS#1, SEC1), OpenSSH. */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

describe('the npm package', () => {
  const files = packedFiles();

  it('contains no private key, by name or by content', () => {
    expect(files.length).toBeGreaterThan(0);
    const byName = files.filter((f) => /\.(key|pem|p12|pfx|jks)$|(^|\/)id_(rsa|ecdsa|ed25519)$/i.test(f));
    expect(byName).toEqual([]);
    const byContent = files.filter((f) => {
      const text = readFileSync(join(ROOT, f), 'latin1');
      return PRIVATE_KEY_PEM.test(text) || /PRIVATE KEY-----\s*\n[A-Za-z0-9+/=\s]{40}/.test(text);
    });
    expect(byContent).toEqual([]);
  });

  it('contains no tests, benchmarks, CI scripts, TypeScript sources or source maps (they point at src/)', () => {
    const forbidden = files.filter(
      (f) =>
        /^(test|bench|\.ci|scripts|src|coverage|data)\//.test(f) ||
        /\.map$/.test(f) ||
        (/\.(ts|mts|cts|tsx)$/.test(f) && !/\.d\.ts$/.test(f)) ||
        /^(tsconfig|vitest|eslint)[^/]*$/.test(f),
    );
    expect(forbidden).toEqual([]);
  });

  it('contains only the build, the views and documentation (an allow-list, so a new directory is a decision)', () => {
    const allowed =
      /^(dist\/.+|views\/.+|certs\/README\.md|docs\/[^/]+\.(md|json)|README\.md|SECURITY\.md|CHANGELOG\.md|LICENSE|package\.json)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    expect(files).toEqual(
      expect.arrayContaining([
        'views/layout.html',
        'views/style.css',
        'views/copy.js',
        'certs/README.md',
        'docs/ERRORS.md',
        'LICENSE',
        'CHANGELOG.md',
        'README.md',
      ]),
    );
    // dist/ is packed when it exists (prepack builds it; this test skips the build to stay fast).
    if (existsSync(join(ROOT, 'dist', 'index.js'))) {
      expect(files).toEqual(
        expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/server.js', 'dist/cli/index.js']),
      );
    }
  });

  it('has a bin that runs the compiled CLI with Node (no tsx), engines, and an MIT LICENSE', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      engines: Record<string, string>;
      license: string;
    };
    expect(pkg.bin).toEqual({ 'saml-sp-kit': 'dist/cli/index.js' });
    // The compiled file keeps the shebang of its source; npm makes it executable on install.
    expect(readFileSync(join(ROOT, 'src', 'cli', 'index.ts'), 'utf8').split('\n')[0]).toBe(
      '#!/usr/bin/env node',
    );
    // Both Node versions CI runs the suite on (.ci/run, .ci/with-node22).
    expect(pkg.engines.node).toMatch(/(^|\|\| )\^20\./);
    expect(pkg.engines.node).toMatch(/(^|\|\| )\^22\./);
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
  });

  it('needs pg, redis and connect-redis only when DATABASE_URL / REDIS_URL ask for them (optional peers)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<
      string,
      Record<string, unknown>
    >;
    for (const name of ['pg', 'redis', 'connect-redis']) {
      expect(pkg.dependencies, name).not.toHaveProperty(name);
      expect(pkg.peerDependencies, name).toHaveProperty(name);
      expect(pkg.peerDependenciesMeta?.[name], name).toEqual({ optional: true });
      // The repository's own tests run against PostgreSQL and Redis.
      expect(pkg.devDependencies, name).toHaveProperty(name);
    }
    // The embedded default stays installed with the package.
    expect(pkg.dependencies).toHaveProperty('better-sqlite3');
    // No static import of them anywhere in the build's sources but the modules loaded on demand.
    const res = spawnSync('grep', ['-rlE', "from '(pg|redis|connect-redis)'", join(ROOT, 'src')], {
      encoding: 'utf8',
    });
    const importers = res.stdout
      .split('\n')
      .filter(Boolean)
      .map((f) => f.slice(ROOT.length).replace(/\\/g, '/'));
    expect(importers.sort()).toEqual([
      'src/storage/redis/client.ts',
      'src/storage/redis/session-store.ts',
      'src/storage/sql/postgres.ts',
    ]);
  });

  it('is built from a clean dist/ before packing', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      files: string[];
    };
    expect(pkg.scripts.prepack).toMatch(/npm run clean && npm run build/);
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(pkg.files).toContain('dist');
  });
});

// What an installed copy does without its keys is checked on a real install of the packed tarball:
// test/package/tarball.test.ts.
