import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import { SpError } from '../errors.js';
import type { SignInProtocol, SpMetrics } from '../metrics.js';
import { bearerValue } from './middleware/admin-auth.js';

const digest = (v: string): Buffer => createHash('sha256').update(v).digest();

/**
 * `GET /metrics`: the Prometheus text exposition of {@link SpMetrics}. With a token, only
 * `Authorization: Bearer TOKEN` is answered (compared in constant time, on digests so the length
 * leaks nothing either); a missing or wrong token is a 401 AUTH_REQUIRED.
 */
export function metricsRouter(opts: { metrics: SpMetrics; token?: string | undefined }): Router {
  const router = Router();
  const expected = opts.token ? digest(opts.token) : null;
  router.get('/metrics', async (req, res) => {
    if (expected !== null) {
      const given = bearerValue(req);
      if (given === null || !timingSafeEqual(digest(given), expected)) {
        res.set('WWW-Authenticate', 'Bearer realm="metrics"');
        throw new SpError('AUTH_REQUIRED', { detail: 'metrics: missing or wrong bearer token' });
      }
    }
    const { contentType, body } = await opts.metrics.exposition();
    res.set('Cache-Control', 'no-store').type(contentType).send(body);
  });
  return router;
}

/** Times a request from here to its answer (finished or aborted) in the SSO latency histogram. */
export function ssoTimer(metrics: SpMetrics, protocol: SignInProtocol): RequestHandler {
  return (_req, res, next) => {
    const done = metrics.startSsoTimer(protocol);
    let observed = false;
    const observe = () => {
      if (observed) return;
      observed = true;
      done();
    };
    res.once('finish', observe);
    res.once('close', observe);
    next();
  };
}
