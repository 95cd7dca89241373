/**
 * Real SP processes for the multi-instance and fault tests: `node --import tsx src/server.ts` with the
 * environment an operator would set, driven over HTTP with fetch like a browser behind a load balancer
 * (both instances share one BASE_URL; the tests post to each instance's own port).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  createSchema,
  deleteKeysWithPrefix,
  dropSchema,
  runName,
  withPrefix,
  withSchema,
} from '../contract/backends.js';
import { ADMIN_TOKEN, SSO_URL } from '../support/harness.js';
import {
  decodeRedirect,
  idpKey,
  mintResponse,
  TEST_TENANT_ISSUER,
  type MintOptions,
} from '../support/idp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The public origin every instance is configured with (the load balancer's address). */
export const PUBLIC_BASE_URL = 'http://localhost:3000';
export const SESSION_SECRET = 'multi-instance-session-secret-0123456789abcdef';

/** A free TCP port on 127.0.0.1 (free when asked; good enough on a test machine). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when `cmd` is an executable on PATH (or an absolute path that exists). */
export function hasBinary(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
}

/** A running SP process. */
export interface Instance {
  port: number;
  url: string;
  proc: ChildProcess;
  /** stderr and stdout so far (for failure messages). */
  output(): string;
  /** True while the process runs. */
  alive(): boolean;
  stop(): Promise<void>;
}

/** Starts one SP process and waits until `/readyz` answers 200. */
export async function startInstance(env: Record<string, string>, timeoutMs = 30_000): Promise<Instance> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      BASE_URL: PUBLIC_BASE_URL,
      SESSION_SECRET,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      // SSPK_TEST_LOG_LEVEL=error keeps the servers' logs in Instance.output() when debugging a failure.
      LOG_LEVEL: process.env.SSPK_TEST_LOG_LEVEL ?? 'silent',
      // Every request of these tests comes from 127.0.0.1; the per-client limits are tested elsewhere.
      RATE_LIMIT_ACS_PER_MINUTE: '100000',
      RATE_LIMIT_LOGIN_PER_MINUTE: '100000',
      RATE_LIMIT_ADMIN_PER_MINUTE: '100000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => proc.once('exit', () => ((exited = true), resolve())));
  const url = `http://127.0.0.1:${port}`;
  const instance: Instance = {
    port,
    url,
    proc,
    output: () => out,
    alive: () => !exited,
    stop: async () => {
      if (exited) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`SP on port ${port} exited during start-up:\n${out}`);
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return instance;
    } catch {
      // not listening yet
    }
    await sleep(150);
  }
  await instance.stop();
  throw new Error(`SP on port ${port} not ready after ${timeoutMs} ms:\n${out}`);
}

/** A response from an instance, with the body parsed when it is JSON. */
export interface HttpResult {
  status: number;
  location: string | null;
  cookies: string[];
  body: unknown;
  text: string;
  /** The `error.code` of a JSON error body, if any. */
  code: string | null;
  ms: number;
}

/** One HTTP request to an instance (no redirects followed, JSON errors asked for unless `html`). */
export async function http(
  instance: Pick<Instance, 'url'>,
  method: string,
  path: string,
  opts: {
    cookies?: string[];
    form?: Record<string, string>;
    json?: unknown;
    bearer?: boolean;
    html?: boolean;
    headers?: Record<string, string>;
  } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = {
    Accept: opts.html ? 'text/html' : 'application/json',
    ...opts.headers,
  };
  if (opts.cookies?.length) headers.Cookie = opts.cookies.join('; ');
  if (opts.bearer) headers.Authorization = `Bearer ${ADMIN_TOKEN}`;
  let body: string | undefined;
  if (opts.form) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  } else if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const started = Date.now();
  const res = await fetch(`${instance.url}${path}`, {
    method,
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  const code = (parsed as { error?: { code?: string } } | null)?.error?.code ?? null;
  return {
    status: res.status,
    location: res.headers.get('location'),
    cookies: res.headers.getSetCookie().map((c) => c.split(';')[0]!),
    body: parsed,
    text,
    code,
    ms: Date.now() - started,
  };
}

/** Creates an account and imports the test IdP through the admin API of `instance`. */
export async function createAccountWithIdp(
  instance: Pick<Instance, 'url'>,
  slug: string,
  opts: { confirm?: boolean } = {},
): Promise<void> {
  const acc = await http(instance, 'POST', '/api/accounts', {
    bearer: true,
    json: { slug, name: `${slug} Inc` },
  });
  if (acc.status !== 201) throw new Error(`create account: ${acc.status} ${acc.text}`);
  // These suites expect direct tile sign-ins; the confirmation step is tested on its own.
  if (!opts.confirm) {
    const patch = await http(instance, 'PATCH', `/api/accounts/${slug}`, {
      bearer: true,
      json: { loginConfirmation: false },
    });
    if (patch.status !== 200) throw new Error(`settings: ${patch.status} ${patch.text}`);
  }
  const idp = await http(instance, 'PUT', `/api/accounts/${slug}/saml`, {
    bearer: true,
    json: { certificate: idpKey.cert, ssoUrl: SSO_URL },
  });
  if (idp.status !== 200) throw new Error(`import IdP: ${idp.status} ${idp.text}`);
}

/** A signed response for `slug`, addressed to the shared public ACS URL. */
export function responseFor(slug: string, opts: Partial<MintOptions> = {}): string {
  return mintResponse({
    acsUrl: `${PUBLIC_BASE_URL}/sso/${slug}/acs`,
    audience: `${PUBLIC_BASE_URL}/sso/${slug}/metadata`,
    issuer: TEST_TENANT_ISSUER,
    ...opts,
  });
}

/** Posts a SAMLResponse to an instance's ACS like the browser's auto-submitted form. */
export function postAcs(
  instance: Pick<Instance, 'url'>,
  slug: string,
  samlResponse: string,
  opts: { cookies?: string[]; relayState?: string; html?: boolean } = {},
): Promise<HttpResult> {
  const form: Record<string, string> = { SAMLResponse: samlResponse };
  if (opts.relayState !== undefined) form.RelayState = opts.relayState;
  return http(instance, 'POST', `/sso/${slug}/acs`, { form, cookies: opts.cookies, html: opts.html });
}

/** Starts an SP-initiated login on `instance`: the AuthnRequest ID and the browser-binding cookie. */
export async function startLogin(
  instance: Pick<Instance, 'url'>,
  slug: string,
  returnTo = '/',
): Promise<{ requestId: string; cookies: string[]; relayState: string | null }> {
  const res = await http(instance, 'GET', `/sso/${slug}/login?returnTo=${encodeURIComponent(returnTo)}`);
  if (res.status !== 302 || !res.location) throw new Error(`login start: ${res.status} ${res.text}`);
  const req = decodeRedirect(res.location);
  return { requestId: req.id, cookies: res.cookies, relayState: req.relayState };
}

/** The nameIds of an account's users, via the admin API. */
export async function userNameIds(instance: Pick<Instance, 'url'>, slug: string): Promise<string[]> {
  const res = await http(instance, 'GET', `/api/accounts/${slug}/users`, { bearer: true });
  if (res.status !== 200) throw new Error(`list users: ${res.status} ${res.text}`);
  return (res.body as { users: Array<{ nameId: string }> }).users.map((u) => u.nameId);
}

/** Two instances of one deployment: see {@link startPair}. */
export interface InstancePair {
  A: Instance;
  B: Instance;
  /** Stops both, drops the schema and deletes the Redis keys. */
  stop(): Promise<void>;
}

/**
 * Two instances sharing one fresh PostgreSQL schema and one Redis key prefix (named after `name` and
 * this run), started together: both migrate the new schema at once, as a rollout would.
 */
export async function startPair(databaseUrl: string, redisUrl: string, name: string): Promise<InstancePair> {
  const schema = runName(name);
  const prefix = `${schema}:`;
  await createSchema(databaseUrl, schema);
  const env = { DATABASE_URL: withSchema(databaseUrl, schema), REDIS_URL: withPrefix(redisUrl, prefix) };
  const [A, B] = await Promise.all([startInstance(env), startInstance(env)]);
  return {
    A,
    B,
    stop: async () => {
      await Promise.all([A.stop(), B.stop()]);
      await dropSchema(databaseUrl, schema);
      await deleteKeysWithPrefix(redisUrl, prefix);
    },
  };
}
