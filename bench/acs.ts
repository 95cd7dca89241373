/**
 * ACS benchmark: a real HTTP server (createApp + listen on loopback), pre-minted signed Auth0-shaped
 * responses (IdP-initiated, each with its own assertion ID), posted with fixed concurrency.
 * Reports logins/s, latency percentiles and memory, and checks them against the targets below.
 *
 *   npm run bench                       # defaults
 *   BENCH_REQUESTS=4000 BENCH_CONCURRENCY=32 npm run bench
 *   DATABASE_URL=postgres://… npm run bench
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/app.js';
import { idpKey, mintResponse } from '../test/support/idp.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
/** Targets on the 2-core reference machine (SQLite default). */
const TARGET_LOGINS_PER_SEC = Number(process.env.BENCH_TARGET_RPS ?? 150);
const TARGET_P95_MS = Number(process.env.BENCH_TARGET_P95_MS ?? 250);
const TARGET_RSS_GROWTH_MB = Number(process.env.BENCH_TARGET_RSS_MB ?? 150);

const TOKEN = 'bench-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'sspk-bench-'));
const databaseUrl = process.env.DATABASE_URL ?? `sqlite:${join(dir, 'bench.db')}`;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const slug = `bench-${Date.now().toString(36)}`;
  const acsUrl = `http://localhost:3000/sso/${slug}/acs`;
  const audience = `http://localhost:3000/sso/${slug}/metadata`;
  process.stdout.write(`minting ${REQUESTS} signed responses… `);
  // Minted before the server starts: idle keep-alive sockets would otherwise time out meanwhile.
  // 200 distinct users; the first request of each provisions it, the rest are returning logins.
  const bodies = Array.from({ length: REQUESTS }, (_, i) =>
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
  console.log('done');
  const { app, close } = await createApp({
    config: {
      baseUrl: 'http://localhost:3000',
      databaseUrl,
      adminApiToken: TOKEN,
      rateLimitAcsPerMinute: 1_000_000,
      logLevel: 'silent',
      sessionSecret: 'bench-secret-0123456789abcdef0123456789',
    },
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
  if (put.status !== 200) throw new Error(`import failed: ${put.status}`);

  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const t0 = performance.now();
        const res = await fetch(`${origin}/sso/${slug}/acs`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body,
          redirect: 'manual',
        });
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
        if (res.status === 303) ok++;
        else failed++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const rssGrowthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
  latencies.sort((a, b) => a - b);
  const rps = ok / seconds;
  const result = {
    database: databaseUrl.split(':')[0],
    requests: REQUESTS,
    concurrency: CONCURRENCY,
    accepted: ok,
    failed,
    loginsPerSec: Math.round(rps),
    p50ms: +pct(latencies, 50).toFixed(1),
    p95ms: +pct(latencies, 95).toFixed(1),
    p99ms: +pct(latencies, 99).toFixed(1),
    rssGrowthMb: +rssGrowthMb.toFixed(1),
  };
  console.log(JSON.stringify(result, null, 2));
  server.close();
  await close();
  rmSync(dir, { recursive: true, force: true });

  const misses: string[] = [];
  if (failed > 0) misses.push(`${failed} logins failed`);
  if (rps < TARGET_LOGINS_PER_SEC)
    misses.push(`throughput ${Math.round(rps)}/s < ${TARGET_LOGINS_PER_SEC}/s`);
  if (result.p95ms > TARGET_P95_MS) misses.push(`p95 ${result.p95ms} ms > ${TARGET_P95_MS} ms`);
  if (rssGrowthMb > TARGET_RSS_GROWTH_MB)
    misses.push(`RSS grew ${result.rssGrowthMb} MB > ${TARGET_RSS_GROWTH_MB} MB`);
  if (misses.length) {
    console.error(`TARGETS MISSED: ${misses.join('; ')}`);
    process.exitCode = 1;
  } else {
    console.log(
      `targets met: >= ${TARGET_LOGINS_PER_SEC} logins/s, p95 <= ${TARGET_P95_MS} ms, RSS growth <= ${TARGET_RSS_GROWTH_MB} MB`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
