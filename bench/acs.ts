/**
 * ACS benchmark. The SP runs as its own process (`src/server.ts`, optionally with WEB_CONCURRENCY
 * cluster workers) on loopback, so the load generator does not share its event loop. Signed,
 * Auth0-shaped responses (IdP-initiated, each with its own assertion ID, 200 distinct users) are
 * minted beforehand and posted with fixed concurrency after a warm-up. Reports logins/s, latency
 * percentiles and the server's memory, and exits 1 when a target below is missed.
 *
 *   npm run bench
 *   BENCH_WORKERS=1 BENCH_REQUESTS=3000 BENCH_CONCURRENCY=32 npm run bench
 *   BENCH_DATABASE_URL=postgres://…?schema=bench npm run bench
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { idpKey, mintResponse } from '../test/support/idp.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
/** Targets on the 2-core reference machine, SQLite default, 2 workers. */
const TARGET_LOGINS_PER_SEC = Number(process.env.BENCH_TARGET_RPS ?? 80);
const TARGET_P95_MS = Number(process.env.BENCH_TARGET_P95_MS ?? 400);
const TARGET_RSS_GROWTH_MB = Number(process.env.BENCH_TARGET_RSS_MB ?? 100);

const BASE_URL = 'http://localhost:3000';
const TOKEN = 'bench-admin-token-0123456789';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Resident memory (MB) of a process and its direct children (the cluster workers). */
function treeRssMb(pid: number): number {
  let kb = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
      if (Number(entry) === pid || ppid === pid) kb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // process ended meanwhile
    }
  }
  return kb / 1024;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function post(origin: string, path: string, body: string) {
  const res = await fetch(`${origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
    redirect: 'manual',
  });
  await res.arrayBuffer();
  return res.status;
}

async function main(): Promise<void> {
  const slug = 'bench';
  const acsUrl = `${BASE_URL}/sso/${slug}/acs`;
  const audience = `${BASE_URL}/sso/${slug}/metadata`;
  process.stdout.write(`minting ${WARMUP + REQUESTS} signed responses… `);
  const bodies = Array.from({ length: WARMUP + REQUESTS }, (_, i) =>
    new URLSearchParams({
      SAMLResponse: mintResponse({ acsUrl, audience, nameId: `auth0|bench${i % 200}`, email: `u${i % 200}@bench.test` }),
      RelayState: '/',
    }).toString(),
  );
  console.log('done');

  const dir = mkdtempSync(join(tmpdir(), 'sspk-bench-'));
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? `sqlite:${join(dir, 'bench.db')}`;
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const { BASE_URL: _vite, ...env } = process.env;
  // BENCH_NODE_ARGS, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof', profiles the server process.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const server = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/server.ts'], {
    env: {
      ...env,
      PORT: String(port),
      BASE_URL,
      DATABASE_URL: databaseUrl,
      ADMIN_API_TOKEN: TOKEN,
      SESSION_SECRET: 'bench-secret-0123456789abcdef0123456789',
      LOG_LEVEL: 'silent',
      WEB_CONCURRENCY: String(WORKERS),
      RATE_LIMIT_ACS_PER_MINUTE: '1000000',
      RATE_LIMIT_ADMIN_PER_MINUTE: '1000000',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${origin}/readyz`)).ok) break;
      } catch {
        // not listening yet
      }
      if (i > 100) throw new Error('server did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    await fetch(`${origin}/api/accounts`, { method: 'POST', headers: auth, body: JSON.stringify({ slug, name: 'Bench' }) });
    const put = await fetch(`${origin}/api/accounts/${slug}/saml`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ certificate: idpKey.cert, ssoUrl: 'https://bench.auth0.com/samlp/x' }),
    });
    if (put.status !== 200) throw new Error(`IdP import failed: ${put.status}`);

    const run = async (list: string[]) => {
      const latencies: number[] = [];
      let ok = 0;
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < list.length) {
            const body = list[next++]!;
            const t0 = performance.now();
            if ((await post(origin, `/sso/${slug}/acs`, body)) === 303) ok++;
            latencies.push(performance.now() - t0);
          }
        }),
      );
      return { ok, latencies: latencies.sort((a, b) => a - b), seconds: (performance.now() - started) / 1000 };
    };
    await run(bodies.slice(0, WARMUP));
    const rssBefore = treeRssMb(server.pid!);
    const { ok, latencies, seconds } = await run(bodies.slice(WARMUP));
    const rssAfter = treeRssMb(server.pid!);
    const failed = REQUESTS - ok;
    const rps = ok / seconds;
    const result = {
      database: databaseUrl.split(':')[0],
      workers: WORKERS,
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      accepted: ok,
      failed,
      loginsPerSec: Math.round(rps),
      p50ms: +pct(latencies, 50).toFixed(1),
      p95ms: +pct(latencies, 95).toFixed(1),
      p99ms: +pct(latencies, 99).toFixed(1),
      serverRssMb: +rssAfter.toFixed(0),
      serverRssGrowthMb: +(rssAfter - rssBefore).toFixed(1),
    };
    console.log(JSON.stringify(result, null, 2));
    const misses: string[] = [];
    if (failed > 0) misses.push(`${failed} logins failed`);
    if (rps < TARGET_LOGINS_PER_SEC) misses.push(`throughput ${Math.round(rps)}/s < ${TARGET_LOGINS_PER_SEC}/s`);
    if (result.p95ms > TARGET_P95_MS) misses.push(`p95 ${result.p95ms} ms > ${TARGET_P95_MS} ms`);
    if (result.serverRssGrowthMb > TARGET_RSS_GROWTH_MB) {
      misses.push(`server RSS grew ${result.serverRssGrowthMb} MB > ${TARGET_RSS_GROWTH_MB} MB`);
    }
    if (misses.length) {
      console.error(`TARGETS MISSED: ${misses.join('; ')}`);
      process.exitCode = 1;
    } else {
      console.log(`targets met: >= ${TARGET_LOGINS_PER_SEC} logins/s, p95 <= ${TARGET_P95_MS} ms, RSS growth <= ${TARGET_RSS_GROWTH_MB} MB`);
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
