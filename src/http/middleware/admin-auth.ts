import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { SpError } from '../../errors.js';
import '../session-user.js';

/** Who is calling the admin API (a session also says which user, for the audit trail). */
export type AdminPrincipal =
  { kind: 'token' } | { kind: 'session'; accountSlug: string; userId: string; label: string };

const digest = (v: string): Buffer => createHash('sha256').update(v).digest();
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** True when the browser says another site made this request (Fetch Metadata, else Origin). */
function crossSite(req: Request, origin: string): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const from = req.get('origin');
  return from !== undefined && from !== origin;
}

/**
 * Admin API authentication: `Authorization: Bearer $ADMIN_API_TOKEN` (all accounts), or the session
 * of an account admin (their own account only). The token is compared in constant time.
 */
export function adminAuth(
  token: string | undefined,
  opts: { tokenOnly?: boolean; origin?: string } = {},
): RequestHandler {
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
    // The session cookie rides along on requests other sites make: a state change authorised by the
    // cookie alone must come from this origin (JSON bodies already need a CORS preflight; this also
    // covers form encodings and methods a cross-site form can send).
    if (!SAFE_METHODS.has(req.method) && opts.origin !== undefined && crossSite(req, opts.origin)) {
      return next(new SpError('CSRF_INVALID', { detail: 'cross-site admin API request' }));
    }
    res.locals.admin = {
      kind: 'session',
      accountSlug: user.accountSlug,
      userId: user.userId,
      label: user.email ?? user.nameId,
    } satisfies AdminPrincipal;
    return next();
  };
}

/** Refuses a session admin acting on another account. */
export function assertAccountAccess(req: Request, principal: AdminPrincipal): void {
  if (principal.kind === 'session' && principal.accountSlug !== req.params.slug)
    throw new SpError('FORBIDDEN');
}
