/**
 * What a bot token check costs. Every bot request verifies the JWT (signature and claims, CPU) and reads
 * its token row with the bot and account (one indexed SELECT) from the shared database: no cache, so a
 * revocation applies to the next request on every instance. This measures both parts apart, per key
 * type and database, and then whole requests (GET /api/me and an admin API read) over HTTP compared with
 * the operator token (no database read to authenticate) and a session cookie (the session guard's reads).
 *
 *   npx tsx bench/bot-token.ts
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/bot-token.ts
 *   BENCH_CHECKS=5000 BENCH_REQUESTS=3000 BENCH_CONCURRENCY=8 npx tsx bench/bot-token.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/app.js';
import { BotService } from '../src/bots/service.js';
import { botTokenAudience, verifyBotToken } from '../src/bots/token.js';
import { loadTokenKeys } from '../src/config/token-keys.js';
import { openStorage } from '../src/storage/index.js';
import { newKeyFile } from '../test/support/bots.js';
import { mintResponse, TEST_TENANT_ISSUER, idpKey } from '../test/support/idp.js';

const CHECKS = Number(process.env.BENCH_CHECKS ?? 3000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const PG = process.env.BENCH_DATABASE_URL;
const BASE_URL = 'http://localhost:3000';
const ADMIN = 'bench-admin-token-0123456789';

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

/** Runs `fn` `n` times sequentially after a warm-up; mean, p50 and p99 per call. */
async function time(n: number, fn: () => Promise<unknown>): Promise<string> {
  for (let i = 0; i < Math.min(200, n); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / n;
  return `mean ${us(mean)}  p50 ${us(pct(samples, 50))}  p99 ${us(pct(samples, 99))}`;
}

/** `REQUESTS` GETs with `CONCURRENCY` clients; requests/s and latency percentiles. */
async function load(origin: string, path: string, headers: Record<string, string>): Promise<string> {
  const run = async (count: number) => {
    let next = 0;
    const lat: number[] = [];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < count) {
          next++;
          const t0 = performance.now();
          const res = await fetch(`${origin}${path}`, { headers });
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
          lat.push(performance.now() - t0);
        }
      }),
    );
    return lat;
  };
  await run(200);
  const t0 = performance.now();
  const lat = (await run(REQUESTS)).sort((a, b) => a - b);
  const secs = (performance.now() - t0) / 1000;
  return `${(REQUESTS / secs).toFixed(0)} req/s  p50 ${pct(lat, 50).toFixed(2)} ms  p99 ${pct(lat, 99).toFixed(2)} ms`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sspk-bench-bots-'));
  try {
    console.log(`node ${process.version}; ${CHECKS} checks per line, sequential, after 200 warm-up ones\n`);
    console.log('1. JWT verification alone (jose: signature + claims), per key type');
    const aud = botTokenAudience(BASE_URL);
    for (const type of ['ec', 'ed25519', 'rsa'] as const) {
      const keys = await loadTokenKeys(newKeyFile(type, `${type}.key`, dir).file, [], false);
      const stores = (await openStorage({ databaseUrl: 'sqlite::memory:', sessionTtlMs: 60_000 })).stores;
      const bots = new BotService(stores, keys, BASE_URL);
      const account = await stores.accounts.create({ slug: 'bench', name: 'Bench' });
      const bot = await bots.createBot(account, { name: 'b', role: 'admin' }, { kind: 'operator' });
      const { token } = await bots.issueToken(account, bot.id, {}, { kind: 'operator' });
      console.log(
        `   ${keys.signing.alg.padEnd(6)} ${await time(CHECKS, () => verifyBotToken(token, keys, aud))}`,
      );
      await stores.close();
    }

    const engines: [string, string][] = [['SQLite file', `sqlite:${join(dir, 'bench.db')}`]];
    if (PG) engines.push(['PostgreSQL', PG]);
    else console.log('\n   (set BENCH_DATABASE_URL=postgres://… to measure PostgreSQL too)');
    const keys = await loadTokenKeys(newKeyFile('ec', 'db.key', dir).file, [], false);
    for (const [name, url] of engines) {
      const { stores } = await openStorage({ databaseUrl: url, sessionTtlMs: 60_000 });
      const bots = new BotService(stores, keys, BASE_URL);
      const account =
        (await stores.accounts.getBySlug('bench-bots')) ??
        (await stores.accounts.create({ slug: 'bench-bots', name: 'Bench' }));
      const bot = await bots.createBot(account, { name: 'b', role: 'admin' }, { kind: 'operator' });
      const issued = await bots.issueToken(account, bot.id, {}, { kind: 'operator' });
      console.log(`\n2. ${name}: the token row with bot and account (one SELECT)`);
      console.log(`   ${await time(CHECKS, () => stores.bots.credential(issued.id))}`);
      console.log(`3. ${name}: the whole check (ES256 verification + SELECT + revocation/disable checks)`);
      console.log(`   ${await time(CHECKS, () => bots.authenticate(issued.token))}`);
      await stores.close();
    }

    console.log(
      `\n4. HTTP, SQLite file, one process: ${REQUESTS} GETs, ${CONCURRENCY} concurrent clients (load generator in the same process)`,
    );
    const { app, sp, close } = await createApp({
      config: {
        nodeEnv: 'test',
        baseUrl: BASE_URL,
        databaseUrl: `sqlite:${join(dir, 'http.db')}`,
        adminApiToken: ADMIN,
        sessionSecret: 'bench-session-secret-0123456789abcdef0123',
        logLevel: 'silent',
        tokenSigningKeyFile: newKeyFile('ec', 'http.key', dir).file,
        rateLimitAdminPerMinute: 1_000_000,
        rateLimitAcsPerMinute: 1_000_000,
      },
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const json = { 'Content-Type': 'application/json', Authorization: `Bearer ${ADMIN}` };
      const post = (path: string, body: unknown, method = 'POST') =>
        fetch(`${origin}${path}`, { method, headers: json, body: JSON.stringify(body) }).then(async (r) => {
          if (r.status >= 300) throw new Error(`${path}: ${r.status} ${await r.text()}`);
          return r.json() as Promise<Record<string, unknown>>;
        });
      await post('/api/accounts', { slug: 'acme', name: 'Acme' });
      await post('/api/accounts/acme', { loginConfirmation: false }, 'PATCH');
      await post(
        '/api/accounts/acme/saml',
        { certificate: idpKey.cert, ssoUrl: 'https://t.auth0.com/samlp/x' },
        'PUT',
      );
      const bot = await post('/api/accounts/acme/bots', { name: 'bench', role: 'admin' });
      const { token } = await post(`/api/accounts/acme/bots/${bot.id as string}/tokens`, {});
      const login = await fetch(`${origin}/sso/acme/acs`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          SAMLResponse: mintResponse({
            acsUrl: `${BASE_URL}/sso/acme/acs`,
            audience: `${BASE_URL}/sso/acme/metadata`,
            issuer: TEST_TENANT_ISSUER,
          }),
        }).toString(),
      });
      const cookie = login.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const bearer = { Authorization: `Bearer ${token as string}` };
      console.log(`   GET /api/me, bot token            ${await load(origin, '/api/me', bearer)}`);
      console.log(
        `   GET /api/me, session cookie       ${await load(origin, '/api/me', { Cookie: cookie })}`,
      );
      console.log(`   GET /api/accounts/acme, bot token ${await load(origin, '/api/accounts/acme', bearer)}`);
      console.log(
        `   GET /api/accounts/acme, operator  ${await load(origin, '/api/accounts/acme', { Authorization: `Bearer ${ADMIN}` })}`,
      );
    } finally {
      server.close();
      await close();
      void sp;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
