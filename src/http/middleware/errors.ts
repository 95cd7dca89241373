import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { newReferenceId, type AuditTrail } from '../../audit/trail.js';
import { SpError, isSpError } from '../../errors.js';
import { html, page } from '../views.js';
import { siteOf, type Site } from '../site.js';
import { redactUrl } from './request-log.js';
import '../session-user.js';

export { newReferenceId };

/** True when the client asked for JSON (API callers, `Accept: application/json`). */
export function wantsJson(req: Request): boolean {
  return req.path.startsWith('/api/') || req.accepts(['html', 'json']) === 'json';
}

/** Translates body-parser, multer and other framework errors into the catalogue, once. */
export function toSpError(err: unknown): SpError {
  if (isSpError(err)) return err;
  const e = err as { type?: string; code?: string; status?: number; message?: string } | null;
  if (e?.type === 'entity.too.large' || e?.code === 'LIMIT_FILE_SIZE' || e?.code === 'LIMIT_FIELD_VALUE') {
    return new SpError('PAYLOAD_TOO_LARGE', { cause: err });
  }
  if (
    e?.code?.startsWith('LIMIT_') ||
    e?.type === 'entity.parse.failed' ||
    e?.type === 'parameters.too.many'
  ) {
    return new SpError('REQUEST_INVALID', { cause: err, detail: e.message ?? e.code ?? '' });
  }
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return new SpError('UNSUPPORTED_MEDIA_TYPE', { cause: err });
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return new SpError('REQUEST_INVALID', { cause: err, detail: e.message ?? '' });
  }
  return new SpError('INTERNAL', { cause: err, detail: e?.message ?? String(err) });
}

/** The audit side of error pages: {@link AuditTrail.recordErrorPage}. */
export type ErrorPageAudit = AuditTrail['recordErrorPage'];

const ACCOUNT_PATH = /^\/(?:sso|api\/accounts)\/([^/]{1,64})(?:\/|$)/;

/**
 * The account a failed request concerns: the one its path names (`/sso/:slug/…`), the one the password
 * form named, else the signed-in user's.
 */
function accountOf(req: Request): { slug: string | null; sameAsSession: boolean } {
  const user = req.session?.user;
  const body = (req.body ?? {}) as Record<string, unknown>;
  const slug =
    ACCOUNT_PATH.exec(req.path)?.[1] ??
    (req.path === '/login/password' && typeof body.account === 'string' ? body.account.trim() : null) ??
    user?.accountSlug ??
    null;
  return { slug, sameAsSession: user !== undefined && user.accountSlug === slug };
}

/**
 * The one error renderer: JSON for API clients, a plain page for browsers. Never a stack trace.
 *
 * A page's reference is recorded in the audit trail of the account the request concerns (when the
 * route has not done so itself), and the page tells the user to quote it to their administrator only
 * when an admin of that account can look it up (`GET /api/accounts/:slug/audit/:referenceId`, the
 * admin page's reference search); otherwise (no such account, rate limited, storage down) it names the
 * server log, where every reference is.
 */
export function errorHandler(
  logger: Logger,
  opts: {
    audit?: ErrorPageAudit;
    /** The pages' site for errors of the host's own routes (the SP router sets it for its own). */
    site?: Site;
    /** Told of every error rendered (the metrics count STORE_UNAVAILABLE). */
    observe?: (error: SpError) => void;
  } = {},
): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const error = toSpError(err);
    opts.observe?.(error);
    const referenceId = (res.locals.referenceId as string | undefined) ?? newReferenceId();
    // A setup link's or test link's token in the path is a credential: never in a log or the trail.
    const path = redactUrl(req.path);
    const log = {
      code: error.code,
      status: error.status,
      referenceId,
      method: req.method,
      // Bounded: the path carries whatever an attacker put in it (e.g. a 16 KB account slug).
      path: path.length > 256 ? `${path.slice(0, 255)}…` : path,
      detail: error.detail,
    };
    if (error.status >= 500) logger.error({ ...log, err: error.cause ?? error }, 'request failed');
    else logger.warn(log, 'request rejected');
    if (res.headersSent) return;
    res.status(error.status).set('Cache-Control', 'no-store');
    if (error.code === 'RATE_LIMITED' && res.getHeader('Retry-After') === undefined)
      res.set('Retry-After', '60');
    if (wantsJson(req)) {
      res.json({ error: { code: error.code, message: error.message, referenceId } });
      return;
    }
    // A URL no route knows (a typo, a scanner, a browser extension's probe) is no event of the signed-in
    // user's account: recording it would fill the trail with noise anyone signed in can make.
    const { slug, sameAsSession } =
      res.locals.noRoute === true ? { slug: null, sameAsSession: false } : accountOf(req);
    const user = sameAsSession ? req.session.user : undefined;
    const findable = opts.audit
      ? opts.audit({
          slug,
          referenceId,
          error,
          alreadyAudited: res.locals.audited === true || res.locals.acsAudited === true,
          subject: user ? (user.email ?? user.nameId) : null,
          userId: user?.userId ?? null,
          clientIp: req.ip ?? null,
          path: log.path,
        })
      : Promise.resolve(false);
    // The SP router sets the site of its own requests; a host route's error gets the SP's site.
    const site = res.locals.site === undefined && opts.site ? opts.site : siteOf(res);
    void findable.then((inTrail) => {
      if (res.headersSent) return;
      res.type('html').send(
        page(
          site,
          'Sign-in problem',
          html`<div class="error">
              <h1>We could not complete this request</h1>
              <p>${error.message}</p>
            </div>
            <p class="muted">
              Error code <code>${error.code}</code> · reference <code>${referenceId}</code>.
              ${inTrail ? 'Quote the reference to your administrator: they can look it up on their admin page.' : 'The operator of this service can find the reference in the server log.'}
            </p>
            <p><a href="${`${site.base}/`}">Back to the start page</a></p>`,
        ),
      );
    });
  };
}

/** 404 for anything no route matched. */
export const notFound: RequestHandler = (_req, res, next) => {
  res.locals.noRoute = true;
  next(new SpError('NOT_FOUND'));
};
