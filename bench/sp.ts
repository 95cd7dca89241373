/**
 * The SP under test as its own process, configured as in production: NODE_ENV=production, keys
 * generated for this run into a temporary directory (production refuses the development pair, the
 * development token key and every test fixture key as an IdP certificate), a real SESSION_SECRET,
 * SQLite in the same directory, WEB_CONCURRENCY workers, and the per-IP rate limits lifted (every
 * client of the bench is 127.0.0.1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedPair } from '../test/support/certs.js';
import type { IdpKey } from '../test/support/idp.js';
import { sample } from '../test/support/metrics.js';

/** BASE_URL of the SP: the ACS URL and entity IDs derive from it (requests go to 127.0.0.1:port). */
export const BASE_URL = 'http://localhost:3000';

export const acsUrlOf = (slug: string) => `${BASE_URL}/sso/${slug}/acs`;
export const audienceOf = (slug: string) => `${BASE_URL}/sso/${slug}/metadata`;

export interface SpProcess {
  origin: string;
  /** A counter of the SP's /metrics, summed over its workers, as of now (takes a second). */
  counter(name: string): Promise<number>;
  pid: number;
  /** The SQLite file (null with BENCH_DATABASE_URL pointing elsewhere). */
  sqliteFile: string | null;
  databaseUrl: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** An IdP key pair for this run (RSA-2048, like Auth0's): the fixtures are refused in production. */
export function benchIdpKey(): IdpKey {
  return generatedPair({ type: 'rsa', bits: 2048 }, 'bench-tenant.auth0.com');
}

/**
 * Starts the SP as `npm start` runs it: the built dist/server.js (`npm run bench` builds it first),
 * production mode, its own SQLite file (or `databaseUrl`), fresh SP and token keys.
 */
export async function startSp(opts: {
  workers: number;
  /** e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (cluster workers inherit them). */
  nodeArgs: string[];
  databaseUrl?: string | undefined;
  logLevel: string;
  /** Accounts to create; each trusts `idp` and has login confirmation off. */
  accounts: string[];
  /** The IdP key pair every account trusts. */
  idp: IdpKey;
  /** MAX_SAML_RESPONSE_BYTES. */
  maxBodyBytes: number;
}): Promise<SpProcess> {
  const { idp } = opts;
  const root = fileURLToPath(new URL('..', import.meta.url));
  if (!existsSync(join(root, 'dist/server.js'))) {
    throw new Error('dist/server.js is missing: run `npm run build` first (`npm run bench` does)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'sspk-bench-'));
  const sp = generatedPair({ type: 'rsa', bits: 2048 }, 'bench SP');
  const tokenKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const sqliteFile = opts.databaseUrl ? null : join(dir, 'bench.db');
  const databaseUrl = opts.databaseUrl ?? `sqlite:${sqliteFile}`;
  const adminToken = randomBytes(24).toString('hex');
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // BASE_URL of vitest or of the caller's shell must not leak into the SP.
  const { BASE_URL: _ignored, ...env } = process.env;
  const child: ChildProcess = spawn(process.execPath, [...opts.nodeArgs, 'dist/server.js'], {
    env: {
      ...env,
      NODE_ENV: 'production',
      PORT: String(port),
      BASE_URL,
      DATABASE_URL: databaseUrl,
      SP_KEY_FILE: file('sp.key', sp.privateKey),
      SP_CERT_FILE: file('sp.crt', sp.cert),
      TOKEN_SIGNING_KEY_FILE: file('token.key', tokenKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
      SESSION_SECRET: randomBytes(32).toString('hex'),
      ADMIN_API_TOKEN: adminToken,
      LOG_LEVEL: opts.logLevel,
      WEB_CONCURRENCY: String(opts.workers),
      MAX_SAML_RESPONSE_BYTES: String(opts.maxBodyBytes),
      RATE_LIMIT_ACS_PER_MINUTE: '1000000',
      RATE_LIMIT_ADMIN_PER_MINUTE: '1000000',
      RATE_LIMIT_LOGIN_PER_MINUTE: '1000000',
      // As a production deployment scrapes them; the bench reads the signature-work counter.
      METRICS_ENABLED: 'true',
    },
    cwd: root,
    // Logs (JSON in production) are written and thrown away: their cost is part of a request's.
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`the SP exited with ${child.exitCode} at start-up`);
      try {
        if ((await fetch(`${origin}/readyz`)).ok) break;
      } catch {
        // not listening yet
      }
      if (i > 150) throw new Error('the SP did not start within 30 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const call = async (method: string, path: string, body: unknown, expected: number) => {
      const res = await fetch(`${origin}${path}`, { method, headers, body: JSON.stringify(body) });
      if (res.status !== expected) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    };
    for (const slug of opts.accounts) {
      await call('POST', '/api/accounts', { slug, name: slug }, 201);
      await call(
        'PUT',
        `/api/accounts/${slug}/saml`,
        { certificate: idp.cert, ssoUrl: 'https://bench-tenant.auth0.com/samlp/x' },
        200,
      );
      // IdP-initiated posts would otherwise stop at the confirmation page (login CSRF protection).
      await call('PATCH', `/api/accounts/${slug}`, { loginConfirmation: false }, 200);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const counter = async (name: string) => {
    // With several workers, scrapes within a second share one gathering (a cached one): wait it out.
    await new Promise((r) => setTimeout(r, 1100));
    const value = sample(await (await fetch(`${origin}/metrics`)).text(), name);
    if (value === undefined) throw new Error(`/metrics has no ${name}`);
    return value;
  };
  return { origin, pid: child.pid!, sqliteFile, databaseUrl, stop, counter };
}
