import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { SpError } from '../../errors.js';
import '../session-user.js';

/** Who is calling the admin API. */
export type AdminPrincipal = { kind: 'token' } | { kind: 'session'; accountSlug: string };

const digest = (v: string): Buffer => createHash('sha256').update(v).digest();

/**
 * Admin API authentication: `Authorization: Bearer $ADMIN_API_TOKEN` (all accounts), or the session
 * of an account admin (their own account only). The token is compared in constant time.
 */
export function adminAuth(token: string | undefined, opts: { tokenOnly?: boolean } = {}): RequestHandler {
  const expected = token ? digest(token) : null;
  return (req, res, next) => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
      if (!expected || !match || !timingSafeEqual(digest(match[1]!), expected)) {
        return next(new SpError('AUTH_REQUIRED', { detail: 'bad bearer token' }));
      }
      res.locals.admin = { kind: 'token' } satisfies AdminPrincipal;
      return next();
    }
    const user = req.session?.user;
    if (!user) return next(new SpError('AUTH_REQUIRED'));
    if (opts.tokenOnly || user.role !== 'admin') return next(new SpError('FORBIDDEN'));
    res.locals.admin = { kind: 'session', accountSlug: user.accountSlug } satisfies AdminPrincipal;
    return next();
  };
}

/** Refuses a session admin acting on another account. */
export function assertAccountAccess(req: Request, principal: AdminPrincipal): void {
  if (principal.kind === 'session' && principal.accountSlug !== req.params.slug)
    throw new SpError('FORBIDDEN');
}
