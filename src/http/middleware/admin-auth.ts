import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { BotPrincipal, BotService } from '../../bots/service.js';
import { looksLikeJwt } from '../../bots/token.js';
import { SpError } from '../../errors.js';
import '../session-user.js';
import { requestSite } from './csrf.js';

/** Who is calling the admin API (a session also says which user, for the audit trail). */
export type AdminPrincipal =
  | { kind: 'token' }
  | { kind: 'session'; accountSlug: string; userId: string; label: string }
  | { kind: 'bot'; accountSlug: string; bot: BotPrincipal };

const digest = (v: string): Buffer => createHash('sha256').update(v).digest();
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Printable ASCII, as long as the longest bot token we sign (RFC 6750 allows no spaces in it). */
const BEARER = /^Bearer ([\x21-\x7e]{1,4096})$/;

/** The value of an `Authorization: Bearer` header; null when absent or of another shape. */
export function bearerValue(req: Request): string | null {
  const header = req.headers.authorization;
  return header === undefined ? null : (BEARER.exec(header)?.[1] ?? null);
}

/**
 * Admin API authentication: `Authorization: Bearer $ADMIN_API_TOKEN` (all accounts; compared in constant
 * time), `Authorization: Bearer <bot token>` (an admin bot, its own account only), or the session of an
 * account admin (their own account only).
 *
 * `tokenOnly` routes are the operator's alone; `humansOnly` routes (bot and token management, and
 * which IdP the account trusts) refuse bots: a leaked bot token must not be able to mint more
 * credentials that outlive its revocation, neither directly nor by trusting an IdP of its own and
 * signing in through it as a human admin.
 */
export function adminAuth(
  token: string | undefined,
  opts: { tokenOnly?: boolean; humansOnly?: boolean; origin?: string; bots?: BotService } = {},
): RequestHandler {
  const expected = token ? digest(token) : null;
  return async (req, res, next) => {
    if (req.headers.authorization !== undefined) {
      const value = bearerValue(req);
      if (value !== null && expected && timingSafeEqual(digest(value), expected)) {
        res.locals.admin = { kind: 'token' } satisfies AdminPrincipal;
        return next();
      }
      // Checked after the operator token, so an ADMIN_API_TOKEN that happens to contain dots still works.
      if (value === null || !opts.bots || !looksLikeJwt(value)) {
        return next(new SpError('AUTH_REQUIRED', { detail: 'bad bearer token' }));
      }
      const bot = await opts.bots.authenticate(value);
      if (opts.tokenOnly || opts.humansOnly || bot.role !== 'admin') {
        return next(new SpError('FORBIDDEN', { detail: `bot ${bot.botId} (${bot.role})` }));
      }
      // No session is read or written for a bot: the request carries no cookie to forge (no CSRF), and
      // nothing here calls req.session, so express-session saves nothing (saveUninitialized: false).
      res.locals.admin = { kind: 'bot', accountSlug: bot.accountSlug, bot } satisfies AdminPrincipal;
      return next();
    }
    const user = req.session?.user;
    if (!user) return next(new SpError('AUTH_REQUIRED'));
    if (opts.tokenOnly || user.role !== 'admin') return next(new SpError('FORBIDDEN'));
    // The session cookie rides along on requests other sites make: a state change authorised by the
    // cookie alone must come from this origin (JSON bodies already need a CORS preflight; this also
    // covers form encodings and methods a cross-site form can send).
    if (
      !SAFE_METHODS.has(req.method) &&
      opts.origin !== undefined &&
      requestSite(req, opts.origin) === 'cross-site'
    ) {
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

/** Refuses a session admin or a bot acting on another account. */
export function assertAccountAccess(req: Request, principal: AdminPrincipal): void {
  if (principal.kind !== 'token' && principal.accountSlug !== req.params.slug) throw new SpError('FORBIDDEN');
}
