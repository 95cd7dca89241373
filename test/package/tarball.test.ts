// The package as a user gets it: `npm pack` (prepack builds dist/), then `npm install <tarball>
// --omit=dev` into a new host project, with none of the optional peers (pg, redis, connect-redis) and no
// dev dependency (tsx, typescript). The host mounts the kit under /auth; the `saml-sp-kit` command runs
// from dist/; a missing key or optional package stops start-up with one line naming what to do.
import { generateKeyPairSync } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const npm = spawnSync('npm', ['--version'], { encoding: 'utf8' });
const HAVE_NPM = npm.status === 0;

let work: string;
let host: string;
let bin: string;
const env = () => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' });

/** Runs the installed `saml-sp-kit` command in the host project; at most 30 s. */
function kit(args: string[], vars: Record<string, string>) {
  return spawnSync(process.execPath, [bin, ...args], {
    cwd: host,
    env: { ...env(), ...vars },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

const HOST_APP = `
import express from 'express';
import { createSamlSp } from 'saml-sp-kit';
const sp = await createSamlSp({
  config: {
    baseUrl: 'http://localhost/auth',
    databaseUrl: process.env.DATABASE_URL,
    spKeyFile: process.env.SP_KEY_FILE,
    spCertFile: process.env.SP_CERT_FILE,
    tokenSigningKeyFile: process.env.TOKEN_SIGNING_KEY_FILE,
    sessionSecret: 'host-session-secret-0123456789abcdef0123',
    logLevel: 'silent',
  },
  branding: { productName: 'Host App' },
});
const app = express();
app.get('/', (_req, res) => res.send('host home'));
app.use('/auth', sp.router);
app.use(sp.errorHandler);
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
process.on('SIGTERM', () => server.close(() => sp.close().then(() => process.exit(0))));
`;

describe.skipIf(!HAVE_NPM)(
  'the packed tarball, installed into a host project (npm unavailable: skipped)',
  () => {
    let keys: Record<string, string>;

    beforeAll(() => {
      work = mkdtempSync(join(tmpdir(), 'sspk-tarball-'));
      const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', work], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(pack.status, pack.stderr).toBe(0);
      const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
        filename: string;
        size: number;
        unpackedSize: number;
        entryCount: number;
      }[];
      process.stdout.write(
        `tarball ${info!.filename}: ${info!.size} bytes, ${info!.unpackedSize} unpacked, ${info!.entryCount} files\n`,
      );
      host = join(work, 'host');
      spawnSync('mkdir', ['-p', host]);
      writeFileSync(
        join(host, 'package.json'),
        JSON.stringify({ name: 'host', private: true, type: 'module' }, null, 2),
      );
      const install = spawnSync(
        'npm',
        [
          'install',
          join(work, info!.filename),
          '--omit=dev',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          '--loglevel=error',
          // better-sqlite3 would compile SQLite from source here (minutes): its build is taken from this
          // repository's install below when the versions match, and rebuilt otherwise.
          '--ignore-scripts',
        ],
        { cwd: host, encoding: 'utf8', timeout: 240_000 },
      );
      expect(install.status, install.stderr).toBe(0);
      const sqliteHere = join(ROOT, 'node_modules', 'better-sqlite3');
      const sqliteThere = join(host, 'node_modules', 'better-sqlite3');
      const version = (dir: string) =>
        (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
      if (
        existsSync(join(sqliteHere, 'build', 'Release', 'better_sqlite3.node')) &&
        version(sqliteHere) === version(sqliteThere)
      ) {
        cpSync(join(sqliteHere, 'build'), join(sqliteThere, 'build'), { recursive: true });
      } else {
        const rebuild = spawnSync('npm', ['rebuild', 'better-sqlite3'], {
          cwd: host,
          encoding: 'utf8',
          timeout: 600_000,
        });
        expect(rebuild.status, rebuild.stderr).toBe(0);
      }
      bin = join(host, 'node_modules', '.bin', 'saml-sp-kit');
      writeFileSync(join(host, 'host.mjs'), HOST_APP);
      // The host's own keys: an SP pair (a test certificate stands in) and a token key.
      const tokenKey = join(work, 'token.key');
      writeFileSync(
        tokenKey,
        generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
          type: 'pkcs8',
          format: 'pem',
        }),
      );
      keys = {
        SP_KEY_FILE: join(ROOT, 'test', 'fixtures', 'idp.key'),
        SP_CERT_FILE: join(ROOT, 'test', 'fixtures', 'idp.crt'),
        TOKEN_SIGNING_KEY_FILE: tokenKey,
      };
    }, 900_000);

    afterAll(() => {
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('installs the production dependencies only: no optional peer, no dev tool', () => {
      const modules = join(host, 'node_modules');
      for (const name of ['saml-sp-kit', 'better-sqlite3', 'express'])
        expect(existsSync(join(modules, name)), name).toBe(true);
      for (const name of ['pg', 'redis', 'connect-redis', 'tsx', 'typescript', 'vitest']) {
        expect(existsSync(join(modules, name)), name).toBe(false);
      }
      expect(existsSync(join(modules, 'saml-sp-kit', 'certs', 'sp-dev.key'))).toBe(false);
      expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    });

    it('mounted under /auth: /auth/healthz, the admin sign-in page and its stylesheet', async () => {
      const child = spawn(process.execPath, ['host.mjs'], {
        cwd: host,
        env: { ...env(), ...keys, DATABASE_URL: `sqlite:${join(work, 'host.db')}` },
      });
      try {
        const port = await new Promise<number>((resolve, reject) => {
          let err = '';
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
          child.once('exit', (code) => reject(new Error(`host exited ${code}: ${err}`)));
        });
        const url = (p: string) => `http://127.0.0.1:${port}${p}`;
        expect(await (await fetch(url('/'))).text()).toBe('host home');
        const health = await fetch(url('/auth/healthz'));
        expect(health.status).toBe(200);
        expect(await health.json()).toEqual({ status: 'ok' });
        const admin = await fetch(url('/auth/admin'));
        expect(admin.status).toBe(401);
        const page = await admin.text();
        expect(page).toContain('href="/auth/assets/style.css"');
        expect(page).toContain('href="/auth/login/password"');
        const css = await fetch(url('/auth/assets/style.css'));
        expect(css.status).toBe(200);
        expect(css.headers.get('content-type')).toMatch(/^text\/css/);
        const login = await (await fetch(url('/auth/login/password'))).text();
        expect(login).toContain('action="/auth/login/password"');
      } finally {
        child.kill('SIGTERM');
      }
    }, 30_000);

    it('the saml-sp-kit command runs from dist/ without dev dependencies: --help and migrate', () => {
      const help = kit(['--help'], {});
      expect(help.status, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/migrate/);
      expect(help.stdout).toMatch(/create-account/);
      const migrate = kit(['migrate'], { DATABASE_URL: `sqlite:${join(work, 'cli.db')}` });
      expect(migrate.status, migrate.stderr).toBe(0);
      expect(migrate.stdout).toMatch(/is up to date \(\d+ applied\)/);
      const account = kit(['create-account', 'acme', 'Acme Inc'], {
        DATABASE_URL: `sqlite:${join(work, 'cli.db')}`,
      });
      expect(account.status, account.stderr).toBe(0);
    });

    it('without SP_KEY_FILE: one line naming SP_KEY_FILE (no dev pair ships), nothing written', () => {
      const res = kit(['start'], { PORT: '0' });
      expect(res.status).toBe(1);
      const lines = res.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^saml-sp-kit: configuration error: SP_KEY_FILE: cannot read \S*node_modules\/saml-sp-kit\/certs\/sp-dev\.key \(ENOENT\)/,
      );
      expect(lines[0]).toContain('SP_CERT_FILE');
      expect(lines[0]).toContain('certs/README.md');
      expect(existsSync(join(host, 'data'))).toBe(false);
    });

    it('without TOKEN_SIGNING_KEY_FILE: one line naming it and the command that generates one', () => {
      const { TOKEN_SIGNING_KEY_FILE: _t, ...spKeys } = keys;
      const res = kit(['start'], { PORT: '0', ...spKeys });
      expect(res.status).toBe(1);
      const lines = res.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^saml-sp-kit: configuration error: TOKEN_SIGNING_KEY_FILE: cannot read \S*certs\/token-dev\.key \(ENOENT\): generate one with: npx saml-sp-kit generate-token-key/,
      );
      // And that command exists in the install.
      const out = join(work, 'generated.key');
      const gen = kit(['generate-token-key', '--out', out], {});
      expect(gen.status, gen.stderr).toBe(0);
      expect(readFileSync(out, 'utf8')).toMatch(/PRIVATE KEY/);
    });

    it('a postgres:// DATABASE_URL or a REDIS_URL without their optional packages: one line naming the package', () => {
      const pg = kit(['migrate'], { DATABASE_URL: 'postgres://sp@127.0.0.1:5432/sp' });
      expect(pg.status).toBe(1);
      expect(pg.stderr.trim()).toBe(
        'saml-sp-kit: configuration error: DATABASE_URL: a postgres:// DATABASE_URL needs the optional package pg, which is not installed: npm install pg',
      );
      const redis = kit(['start'], {
        ...keys,
        PORT: '0',
        DATABASE_URL: `sqlite:${join(work, 'redis.db')}`,
        REDIS_URL: 'redis://127.0.0.1:6379',
      });
      expect(redis.status).toBe(1);
      expect(redis.stderr.trim()).toMatch(
        /^saml-sp-kit: configuration error: REDIS_URL: REDIS_URL needs the optional package (redis|connect-redis), which is not installed: npm install redis connect-redis$/,
      );
    });
  },
);
