import { rateLimit } from 'express-rate-limit';
import type { RequestHandler } from 'express';
import { SpError } from '../../errors.js';

/**
 * A per-client (IP) fixed-window limit. Over the limit: 429 RATE_LIMITED through the error handler,
 * with `Retry-After` (seconds) and the standard RateLimit headers. Counters live in process memory:
 * with several instances each enforces its own share, which bounds abuse without shared state.
 */
export function perClientLimit(perMinute: number): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (_req, res, next) => {
      const reset = (res.req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
      res.set('Retry-After', String(seconds));
      next(new SpError('RATE_LIMITED'));
    },
  });
}
