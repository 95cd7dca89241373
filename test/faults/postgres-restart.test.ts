/**
 * PostgreSQL restarts under load. Requests during the outage get 503 STORE_UNAVAILABLE (never a 500
 * or a hang), nothing that was confirmed is lost, nothing is half written, and the SP serves again
 * once the database is back, without being restarted. Uses a throwaway cluster (initdb + pg_ctl in a
 * temp dir, on a spare port), never the shared server.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  deleteKeysWithPrefix,
  runName,
  suiteTitle,
  withPrefix,
} from '../contract/backends.js';
import {
  createAccountWithIdp,
  freePort,
  http,
  postAcs,
  responseFor,
  sleep,
  startInstance,
  waitForPort,
  type HttpResult,
  type Instance,
} from '../multi-instance/cluster.js';

function pgBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((x, y) => Number(y) - Number(x));
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'pg_ctl'))) return join(root, v, 'bin');
  return null;
}

const bin = pgBinDir();
const asRoot = process.getuid?.() === 0;
const enabled = TEST_DATABASE_URL !== undefined && bin !== null;
const title = suiteTitle(
  enabled,
  'PostgreSQL restart mid-run: 503 during the outage, nothing lost, resumes by itself',
  'TEST_DATABASE_URL and PostgreSQL binaries under /usr/lib/postgresql',
);

/** A throwaway PostgreSQL cluster, run as the `postgres` OS user when the tests run as root. */
class PrivatePostgres {
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  private run(tool: string, args: string[]): void {
    const path = join(bin ?? '', tool);
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    execFileSync(cmd, argv, { stdio: 'pipe', timeout: 60_000 });
  }

  init(): void {
    // The postgres user must own the data directory; initdb refuses to run as root.
    if (asRoot) execFileSync('chown', ['postgres:postgres', this.dir]);
    this.run('initdb', [
      '-D',
      join(this.dir, 'data'),
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-sync',
    ]);
  }

  async start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    this.run('pg_ctl', [
      '-D',
      join(this.dir, 'data'),
      '-l',
      join(this.dir, 'log'),
      '-o',
      opts,
      '-w',
      'start',
    ]);
    await waitForPort(this.port);
  }

  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    this.run('pg_ctl', ['-D', join(this.dir, 'data'), '-m', mode, '-w', 'stop']);
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }
}

describe.skipIf(!enabled)(title, () => {
  let dir: string | undefined;
  const prefix = `${runName('pgfault')}:`;
  const slug = 'acme';
  let pgServer: PrivatePostgres;
  let sp: Instance;
  let started = false;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sspk-pg-fault-'));
    pgServer = new PrivatePostgres(await freePort(), dir);
    pgServer.init();
    await pgServer.start();
    started = true;
    sp = await startInstance({
      DATABASE_URL: `${pgServer.url}?schema=sspk_fault`,
      ...(TEST_REDIS_URL ? { REDIS_URL: withPrefix(TEST_REDIS_URL, prefix) } : {}),
    });
    await createAccountWithIdp(sp, slug);
  }, 60_000);

  afterAll(async () => {
    await sp?.stop();
    if (started) {
      try {
        pgServer.stop('immediate');
      } catch {
        // already stopped
      }
    }
    if (dir) {
      if (asRoot) chownSync(dir, 0, 0);
      rmSync(dir, { recursive: true, force: true });
    }
    if (TEST_REDIS_URL) await deleteKeysWithPrefix(TEST_REDIS_URL, prefix);
  });

  it('answers 503 during the outage, keeps every confirmed login, and resumes without a restart', async () => {
    const pid = sp.proc.pid;
    const before = await postAcs(
      sp,
      slug,
      responseFor(slug, { nameId: 'auth0|before', email: 'before@acme.test' }),
    );
    expect(before.status, before.text).toBe(303);

    // Three browsers log in new users back to back for the whole run.
    const outcomes: Array<{ nameId: string; res: HttpResult; at: number }> = [];
    let running = true;
    let n = 0;
    const browser = async () => {
      while (running) {
        const nameId = `auth0|load-${n++}`;
        const res = await postAcs(
          sp,
          slug,
          responseFor(slug, { nameId, email: `${nameId.slice(6)}@acme.test` }),
        );
        outcomes.push({ nameId, res, at: Date.now() });
        if (res.status !== 303) await sleep(50);
      }
    };
    const load = Promise.all([browser(), browser(), browser()]);

    await sleep(1000);
    pgServer.stop('fast');
    const downAt = Date.now();
    const ready = await http(sp, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({
      checks: { database: 'unavailable' },
      error: { code: 'STORE_UNAVAILABLE' },
    });
    await sleep(2000);
    await pgServer.start();
    const upAt = Date.now();

    let back = await http(sp, 'GET', '/readyz');
    while (back.status !== 200 && Date.now() < upAt + 10_000) {
      await sleep(100);
      back = await http(sp, 'GET', '/readyz');
    }
    expect(back.status).toBe(200);
    await sleep(1500);
    running = false;
    await load;

    // Only two answers: logged in, or 503 STORE_UNAVAILABLE; none slow enough to look hung.
    for (const { nameId, res } of outcomes) {
      expect([303, 503], `${nameId}: ${res.status} ${res.text}`).toContain(res.status);
      if (res.status === 503) expect(res.code).toBe('STORE_UNAVAILABLE');
      expect(res.ms).toBeLessThan(5000);
    }
    const during = outcomes.filter((o) => o.at > downAt + 500 && o.at < upAt);
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((o) => o.res.status === 503)).toBe(true);
    expect(outcomes.filter((o) => o.at > upAt && o.res.status === 303).length).toBeGreaterThan(0);
    expect(sp.alive()).toBe(true);
    expect(sp.proc.pid).toBe(pid);

    // Nothing lost: every confirmed login has its user and its success audit; the session from
    // before the outage still works.
    const users = (
      (await http(sp, 'GET', `/api/accounts/${slug}/users`, { bearer: true })).body as {
        users: Array<{ nameId: string; email: string | null; lastLoginAt: string | null }>;
      }
    ).users;
    const byName = new Map(users.map((u) => [u.nameId, u]));
    expect(byName.size).toBe(users.length);
    const confirmed = outcomes.filter((o) => o.res.status === 303).map((o) => o.nameId);
    for (const nameId of confirmed) expect(byName.has(nameId), nameId).toBe(true);
    // Nothing half written: every row is complete (an attempt that failed after the upsert may have
    // left its user, but whole).
    const attempted = new Set(outcomes.map((o) => o.nameId));
    for (const u of users.filter((x) => x.nameId !== 'auth0|before')) {
      expect(attempted.has(u.nameId), u.nameId).toBe(true);
      expect(u.email).toBe(`${u.nameId.slice(6)}@acme.test`);
      expect(u.lastLoginAt).not.toBeNull();
    }
    // Read from the table: the audit API answers at most 500 events, and a fast SP signs in more
    // users than that during the run.
    const client = new pg.Client({ connectionString: pgServer.url });
    await client.connect();
    const audit = await client
      .query<{ subject: string | null }>("SELECT subject FROM sspk_fault.audit WHERE code = 'OK'")
      .finally(() => client.end());
    const successes = new Set(audit.rows.map((e) => e.subject));
    for (const nameId of confirmed) expect(successes.has(nameId), nameId).toBe(true);
    expect((await http(sp, 'GET', '/api/me', { cookies: before.cookies })).status).toBe(200);
  }, 50_000);
});
