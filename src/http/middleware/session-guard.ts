import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { SpError } from '../../errors.js';
import type { Stores } from '../../storage/types.js';
import { revalidateSession } from '../../users/session-check.js';
import '../session-user.js';

/**
 * Checks the signed-in user of every request against the database (see revalidateSession). A session
 * that is no longer valid is ended there and then (its stored record deleted, the request continues
 * anonymous); a changed role is written back into the session.
 */
export function sessionGuard(opts: {
  stores: Stores;
  absoluteTtlMs: number;
  hookProvisioning: boolean;
  logger: Logger;
}): RequestHandler {
  return (req, _res, next) => {
    const user = req.session?.user;
    if (!user) return next();
    revalidateSession(opts.stores, user, {
      absoluteTtlMs: opts.absoluteTtlMs,
      nowMs: Date.now(),
      hookProvisioning: opts.hookProvisioning,
    }).then(
      (verdict) => {
        if (verdict.valid) {
          if (verdict.role !== user.role) req.session.user = { ...user, role: verdict.role };
          return next();
        }
        opts.logger.info(
          { account: user.accountSlug, userId: user.userId, reason: verdict.reason },
          'session ended',
        );
        req.session.regenerate((err) => {
          if (err)
            return next(new SpError('STORE_UNAVAILABLE', { cause: err, detail: 'session end failed' }));
          next();
        });
      },
      (err: unknown) => next(err),
    );
  };
}
