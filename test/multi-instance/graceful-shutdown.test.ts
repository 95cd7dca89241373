/**
 * Graceful shutdown of a real SP process (src/server.ts, the only listen()): on SIGTERM /readyz turns
 * 503 at once while /healthz stays 200; after SHUTDOWN_DRAIN_SECONDS the server stops accepting
 * connections, a request in flight is still answered, and the process exits 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { http, sleep, startInstance, type Instance } from './cluster.js';

/** Polls `probe` every 50 ms until it returns true; fails after `timeoutMs`. */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('graceful shutdown (SIGTERM, SIGINT)', () => {
  let dir: string | null = null;
  let sp: Instance | null = null;
  afterEach(async () => {
    await sp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    sp = null;
    dir = null;
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: not ready at once, drains, finishes the request in flight, exits 0`, async () => {
      dir = mkdtempSync(join(tmpdir(), 'sspk-shutdown-'));
      sp = await startInstance({
        DATABASE_URL: `sqlite:${join(dir, 'sp.db')}`,
        SHUTDOWN_DRAIN_SECONDS: '1',
      });
      const instance = sp;
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        instance.proc.once('exit', (code, sig) => resolve({ code, signal: sig })),
      );

      // A slow client: an ACS post whose body is not all sent yet is a request in flight.
      const form = `SAMLResponse=${'A'.repeat(2000)}&RelayState=%2F`;
      const slow = httpRequest(`${instance.url}/sso/acme/acs`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'Content-Length': String(form.length),
          Accept: 'application/json',
        },
      });
      const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
        slow.once('response', (res: IncomingMessage) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        slow.once('error', reject);
      });
      slow.write(form.slice(0, 1000));
      await sleep(100);

      instance.proc.kill(signal);
      // Not ready at once; alive all along.
      await until('/readyz 503', async () => (await http(instance, 'GET', '/readyz')).status === 503);
      const ready = await http(instance, 'GET', '/readyz');
      expect(ready.body).toEqual({ status: 'shutting-down' });
      expect((await http(instance, 'GET', '/healthz')).status).toBe(200);

      // After the drain delay, new connections are refused…
      await until('the server to stop accepting', async () => {
        try {
          await fetch(`${instance.url}/healthz`, { signal: AbortSignal.timeout(1000) });
          return false;
        } catch {
          return true;
        }
      });
      // …while the request in flight keeps the process up and is answered when its body arrives.
      expect(instance.alive()).toBe(true);
      slow.end(form.slice(1000));
      const res = await answered;
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status, res.body).toBeLessThan(500);
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'ACCOUNT_NOT_FOUND' } });

      expect(await exited).toEqual({ code: 0, signal: null });
    }, 30_000);
  }
});
