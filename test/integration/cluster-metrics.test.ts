/**
 * /metrics with WEB_CONCURRENCY=2: the port is shared by two worker processes and each connection
 * lands on one of them, so a scrape must answer for both (summed by the primary), never for the one
 * worker that happened to take it.
 */
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInstance, type Instance } from '../multi-instance/cluster.js';
import { sample } from '../support/metrics.js';

/** One request on a connection of its own (the cluster spreads connections over the workers). */
function once(
  port: number,
  method: string,
  path: string,
  timeoutMs = 10_000,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, agent: false, headers: { accept: 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timed out')));
    req.end(method === 'POST' ? 'SAMLResponse=x' : undefined);
  });
}

describe('metrics of a cluster (WEB_CONCURRENCY=2)', () => {
  let dir: string;
  let sp: Instance;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sspk-cluster-metrics-'));
    sp = await startInstance({
      DATABASE_URL: `sqlite:${join(dir, 'sp.db')}`,
      WEB_CONCURRENCY: '2',
      METRICS_ENABLED: 'true',
    });
  }, 60_000);
  afterAll(async () => {
    await sp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every scrape counts the requests both workers served', async () => {
    const posts = 12;
    for (let i = 0; i < posts; i++) {
      const res = await once(sp.port, 'POST', '/sso/nobody/acs');
      expect(res.status).toBe(404);
    }
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await once(sp.port, 'GET', '/metrics');
      expect(res.status, res.text).toBe(200);
      seen.push(sample(res.text, 'sspk_sso_response_duration_seconds_count', { protocol: 'saml' }) ?? 0);
      expect(
        sample(res.text, 'sspk_sign_ins_total', {
          protocol: 'saml',
          outcome: 'failure',
          code: 'ACCOUNT_NOT_FOUND',
        }),
      ).toBe(posts);
      expect(sample(res.text, 'sspk_metrics_workers_missing')).toBe(0);
    }
    expect(seen).toEqual(Array(6).fill(posts));
  }, 60_000);

  it('a stuck worker is left out and reported missing: scrapes answered by the other go on', async () => {
    // The primary's children: the two workers (forked with the primary's arguments) and, under tsx,
    // esbuild's service process.
    const workers = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(sp.proc.pid)], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .filter((line) => line.includes('src/server.ts'))
      .map((line) => Number(line.trim().split(/\s+/)[0]));
    expect(workers).toHaveLength(2);
    process.kill(workers[0]!, 'SIGSTOP');
    try {
      // A post the live worker answers (one handed to the stopped worker hangs): its own count is then
      // at least one, however the cluster spread the previous test's posts over the two workers.
      let answered = false;
      for (let i = 0; i < 6 && !answered; i++) {
        const res = await once(sp.port, 'POST', '/sso/nobody/acs', 2000).catch(() => null);
        answered = res?.status === 404;
      }
      expect(answered).toBe(true);
      // Scrapes within a second share one gathering: the last one was the previous test's.
      await new Promise((r) => setTimeout(r, 1100));
      // A connection handed to the stopped worker hangs: the next one goes to the other worker.
      let text: string | null = null;
      for (let i = 0; i < 4 && text === null; i++) {
        const res = await once(sp.port, 'GET', '/metrics', 4000).catch(() => null);
        if (res?.status === 200) text = res.text;
      }
      expect(text).not.toBeNull();
      expect(sample(text!, 'sspk_metrics_workers_missing')).toBe(1);
      expect(sample(text!, 'sspk_sso_response_duration_seconds_count', { protocol: 'saml' })).toBeGreaterThan(
        0,
      );
    } finally {
      process.kill(workers[0]!, 'SIGCONT');
    }
  }, 60_000);
});
