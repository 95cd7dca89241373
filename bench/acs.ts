/**
 * ACS benchmark. The SP runs as its own process (`src/server.ts`, optionally with WEB_CONCURRENCY
 * cluster workers) on loopback, so the load generator does not share its event loop. Signed,
 * Auth0-shaped responses (IdP-initiated, each with its own assertion ID, 200 distinct users) are
 * minted beforehand and posted with fixed concurrency after a warm-up. Reports logins/s, latency
 * percentiles and the server's memory, and exits 1 when a target below is missed.
 *
 * Then the flood: hostile bodies (12,000-odd namespace declarations, 20,000 attributes, a 180 KB text,
 * and a forged response within every XML bound) are posted by BENCH_BOMB_CONCURRENCY clients while the
 * valid logins run again. It reports the valid logins' p50/p99 against the run without the flood, the
 * bombs' rejection latency, and the server CPU per bomb against the CPU per valid login.
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
import { attackerKey, idpKey, mintResponse, mintResponseXml } from '../test/support/idp.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
/** Targets on the 2-core reference machine, SQLite default, 2 workers. */
const TARGET_LOGINS_PER_SEC = Number(process.env.BENCH_TARGET_RPS ?? 80);
const TARGET_P95_MS = Number(process.env.BENCH_TARGET_P95_MS ?? 400);
const TARGET_RSS_GROWTH_MB = Number(process.env.BENCH_TARGET_RSS_MB ?? 100);
/** The flood: this many clients post bombs while the valid logins run again. */
const BOMB_CONCURRENCY = Number(process.env.BENCH_BOMB_CONCURRENCY ?? 8);
const FLOOD_REQUESTS = Number(process.env.BENCH_FLOOD_REQUESTS ?? Math.max(200, Math.floor(REQUESTS / 2)));
/** Valid logins under the flood may be at most this much slower at p99 than without it. */
const TARGET_FLOOD_P99_RATIO = Number(process.env.BENCH_TARGET_FLOOD_P99_RATIO ?? 3);

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

/** CPU time (ms, user + system) used so far by a process and its direct children (the cluster workers). */
function treeCpuMs(pid: number): number {
  const ticksPerSecond = 100; // USER_HZ on Linux
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command name (which may contain spaces): state ppid … utime(14) stime(15)
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(entry) === pid || Number(fields[1]) === pid)
        ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // process ended meanwhile
    }
  }
  return (ticks * 1000) / ticksPerSecond;
}

/**
 * Hostile bodies, each within MAX_SAML_RESPONSE_BYTES (256 KiB) once form-encoded: an attacker-signed
 * assertion plus a shape the XML bounds refuse, and a forged response within every bound.
 */
function bombBodies(acsUrl: string, audience: string): { name: string; body: string }[] {
  const forged = (extra: Parameters<typeof mintResponseXml>[0]['groups'] = []) =>
    mintResponseXml({ acsUrl, audience, key: attackerKey, nameId: 'auth0|admin', groups: extra });
  const repeat = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('');
  const xmls = [
    {
      name: 'namespaces',
      xml: forged().replace(
        '<samlp:Response ',
        `<samlp:Response${repeat(11_000, (i) => ` xmlns:n${i.toString(36)}="u"`)} `,
      ),
    },
    {
      name: 'attributes',
      xml: forged().replace(
        '<samlp:Response ',
        `<samlp:Response${repeat(20_000, (i) => ` a${i.toString(36)}=""`)} `,
      ),
    },
    { name: 'text', xml: forged().replace('<samlp:Status>', `<x>${'t'.repeat(170_000)}</x><samlp:Status>`) },
    {
      name: 'forged-within-bounds',
      xml: forged(Array.from({ length: 750 }, (_, i) => `group-${i}-${'g'.repeat(40)}`)),
    },
  ];
  return xmls.map(({ name, xml }) => {
    const body = new URLSearchParams({
      SAMLResponse: Buffer.from(xml).toString('base64'),
      RelayState: '/',
    }).toString();
    if (body.length > 256 * 1024)
      throw new Error(`bomb ${name} is ${body.length} bytes, over the default limit`);
    return { name, body };
  });
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
  process.stdout.write(`minting ${WARMUP + REQUESTS + FLOOD_REQUESTS} signed responses… `);
  const bodies = Array.from({ length: WARMUP + REQUESTS + FLOOD_REQUESTS }, (_, i) =>
    new URLSearchParams({
      SAMLResponse: mintResponse({
        acsUrl,
        audience,
        nameId: `auth0|bench${i % 200}`,
        email: `u${i % 200}@bench.test`,
      }),
      RelayState: '/',
    }).toString(),
  );
  const bombs = bombBodies(acsUrl, audience);
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
    await fetch(`${origin}/api/accounts`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ slug, name: 'Bench' }),
    });
    const put = await fetch(`${origin}/api/accounts/${slug}/saml`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ certificate: idpKey.cert, ssoUrl: 'https://bench.auth0.com/samlp/x' }),
    });
    if (put.status !== 200) throw new Error(`IdP import failed: ${put.status}`);

    /** Posts every body with `concurrency` clients; `ok` counts answers that `expected` accepts. */
    const run = async (
      list: string[],
      expected: (status: number) => boolean = (status) => status === 303,
      concurrency = CONCURRENCY,
    ) => {
      const latencies: number[] = [];
      let ok = 0;
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < list.length) {
            const body = list[next++]!;
            const t0 = performance.now();
            if (expected(await post(origin, `/sso/${slug}/acs`, body))) ok++;
            latencies.push(performance.now() - t0);
          }
        }),
      );
      return {
        ok,
        latencies: latencies.sort((a, b) => a - b),
        seconds: (performance.now() - started) / 1000,
      };
    };
    await run(bodies.slice(0, WARMUP));
    const rssBefore = treeRssMb(server.pid!);
    const cpuBefore = treeCpuMs(server.pid!);
    const { ok, latencies, seconds } = await run(bodies.slice(WARMUP, WARMUP + REQUESTS));
    const cpuPerLoginMs = (treeCpuMs(server.pid!) - cpuBefore) / REQUESTS;
    const rssAfter = treeRssMb(server.pid!);

    // Bombs alone, one kind at a time: server CPU per refused bomb (every one must be a 4xx).
    const refused = (status: number) => status >= 400 && status < 500;
    const BOMBS_PER_KIND = 100;
    const alone: Record<string, { refused: number; serverCpuMs: number; vsLogin: number; p50ms: number }> =
      {};
    let bombsAloneRefused = 0;
    for (const bomb of bombs) {
      const list = Array.from({ length: BOMBS_PER_KIND }, () => bomb.body);
      await run(list.slice(0, 10), refused, BOMB_CONCURRENCY);
      const before = treeCpuMs(server.pid!);
      const res = await run(list, refused, BOMB_CONCURRENCY);
      const cpu = (treeCpuMs(server.pid!) - before) / list.length;
      bombsAloneRefused += res.ok;
      alone[bomb.name] = {
        refused: res.ok,
        serverCpuMs: +cpu.toFixed(2),
        vsLogin: +(cpu / cpuPerLoginMs).toFixed(2),
        p50ms: +pct(res.latencies, 50).toFixed(1),
      };
    }

    // The flood: bombs posted without pause while the valid logins run again.
    let flooding = true;
    const bombLatencies: number[] = [];
    let bombsSent = 0;
    let bombsRefused = 0;
    const flood = Promise.all(
      Array.from({ length: BOMB_CONCURRENCY }, async (_, w) => {
        for (let i = w; flooding; i++) {
          const t0 = performance.now();
          const status = await post(origin, `/sso/${slug}/acs`, bombs[i % bombs.length]!.body);
          bombLatencies.push(performance.now() - t0);
          bombsSent++;
          if (refused(status)) bombsRefused++;
        }
      }),
    );
    const underFlood = await run(bodies.slice(WARMUP + REQUESTS));
    flooding = false;
    await flood;
    bombLatencies.sort((a, b) => a - b);
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
      serverCpuPerLoginMs: +cpuPerLoginMs.toFixed(2),
      bombs: {
        kinds: bombs.map((b) => `${b.name} (${Math.round(b.body.length / 1024)} KB)`),
        alone: alone,
      },
      flood: {
        bombClients: BOMB_CONCURRENCY,
        bombsPosted: bombsSent,
        bombsRefused4xx: bombsRefused,
        bombP50ms: +pct(bombLatencies, 50).toFixed(1),
        bombP99ms: +pct(bombLatencies, 99).toFixed(1),
        validLogins: FLOOD_REQUESTS,
        validAccepted: underFlood.ok,
        validP50ms: +pct(underFlood.latencies, 50).toFixed(1),
        validP99ms: +pct(underFlood.latencies, 99).toFixed(1),
        validP50VsNoFlood: +(pct(underFlood.latencies, 50) / pct(latencies, 50)).toFixed(2),
        validP99VsNoFlood: +(pct(underFlood.latencies, 99) / pct(latencies, 99)).toFixed(2),
      },
    };
    console.log(JSON.stringify(result, null, 2));
    const misses: string[] = [];
    if (failed > 0) misses.push(`${failed} logins failed`);
    if (rps < TARGET_LOGINS_PER_SEC)
      misses.push(`throughput ${Math.round(rps)}/s < ${TARGET_LOGINS_PER_SEC}/s`);
    if (result.p95ms > TARGET_P95_MS) misses.push(`p95 ${result.p95ms} ms > ${TARGET_P95_MS} ms`);
    if (bombsAloneRefused !== bombs.length * BOMBS_PER_KIND || bombsRefused !== bombsSent) {
      misses.push('a bomb was not refused with a 4xx');
    }
    if (underFlood.ok !== FLOOD_REQUESTS)
      misses.push(`${FLOOD_REQUESTS - underFlood.ok} logins failed under the flood`);
    if (result.flood.validP99VsNoFlood > TARGET_FLOOD_P99_RATIO) {
      misses.push(
        `p99 under the flood is ${result.flood.validP99VsNoFlood}x the p99 without > ${TARGET_FLOOD_P99_RATIO}x`,
      );
    }
    if (result.serverRssGrowthMb > TARGET_RSS_GROWTH_MB) {
      misses.push(`server RSS grew ${result.serverRssGrowthMb} MB > ${TARGET_RSS_GROWTH_MB} MB`);
    }
    if (misses.length) {
      console.error(`TARGETS MISSED: ${misses.join('; ')}`);
      process.exitCode = 1;
    } else {
      console.log(
        `targets met: >= ${TARGET_LOGINS_PER_SEC} logins/s, p95 <= ${TARGET_P95_MS} ms, RSS growth <= ${TARGET_RSS_GROWTH_MB} MB, every bomb refused, p99 under the flood <= ${TARGET_FLOOD_P99_RATIO}x`,
      );
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
