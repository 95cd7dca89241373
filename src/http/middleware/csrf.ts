import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { SpError } from '../../errors.js';
import '../session-user.js';

declare module 'express-session' {
  interface SessionData {
    csrf?: string;
  }
}

/**
 * The session's CSRF token (synchronizer pattern), created on first use. Every HTML form that changes
 * state embeds it as a hidden `_csrf` field.
 */
export function csrfToken(req: Request): string {
  req.session.csrf ??= randomBytes(32).toString('base64url');
  return req.session.csrf;
}

/**
 * Rejects a state-changing form post whose `_csrf` field does not equal the session's token
 * (403 CSRF_INVALID). Mount it after the body parser (urlencoded or multer) of the route.
 */
export const verifyCsrf: RequestHandler = (req, _res, next) => {
  const expected = req.session.csrf;
  const body = (req.body ?? {}) as Record<string, unknown>;
  const given = typeof body._csrf === 'string' ? body._csrf : '';
  const a = Buffer.from(given);
  const b = Buffer.from(expected ?? '');
  if (!expected || a.length !== b.length || !timingSafeEqual(a, b)) {
    next(new SpError('CSRF_INVALID'));
    return;
  }
  next();
};
