/**
 * The readiness switch an embedding host uses on shutdown (src/server.ts does the same on SIGTERM):
 * after `sp.beginShutdown()` `/readyz` answers 503 `{ "status": "shutting-down" }` and `/healthz` 200.
 */
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSp, type TestSp } from '../support/harness.js';

describe('readiness on shutdown', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
  });
  afterEach(async () => t.close());

  it('turns /readyz 503 when the host begins shutting down, /healthz stays 200', async () => {
    await request(t.app).get('/readyz').expect(200);
    t.sp.beginShutdown();
    const res = await request(t.app).get('/readyz').expect(503);
    expect(res.body).toEqual({ status: 'shutting-down' });
    expect(res.headers['cache-control']).toBe('no-store');
    await request(t.app).get('/healthz').expect(200);
  });
});
