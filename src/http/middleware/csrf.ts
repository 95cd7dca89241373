import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { SpError } from '../../errors.js';
import { cookieSpot, readCookie } from '../cookies.js';
import '../session-user.js';

/** Name of the cookie that carries the browser's CSRF secret (double-submit, signed). */
export const CSRF_COOKIE = 'sspk_csrf';

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

/** What the CSRF middleware puts in `res.locals.csrf`. */
export interface CsrfTokens {
  /** The token to embed as the hidden `_csrf` field of a form rendered for this request. */
  token(): string;
  /** True when `given` is the token of this browser (and of this login session, when there is one). */
  check(given: unknown): boolean;
}

/**
 * CSRF tokens without server-side state: a random value in an HttpOnly cookie, and a form token that
 * is an HMAC of that value (and of the session id when signed in) under the session secret. A form
 * post is accepted only when its token matches the cookie the browser sent.
 *
 * Anonymous visitors (the password sign-in page) therefore get a cookie, never a stored session: a
 * flood of page views costs no storage (a synchronizer token would have to live in a session row).
 * An attacker cannot forge a token for someone else's cookie without the secret, and binding the token
 * to the session id keeps a token minted before sign-in (or in another session) from being replayed
 * into a signed-in one.
 */
export function csrfProtection(opts: {
  secret: string;
  secureCookie: boolean;
  /** The cookie's path: the router's prefix (`/` at the root). */
  cookiePath?: string;
}): RequestHandler {
  const spot = cookieSpot(opts.secureCookie, CSRF_COOKIE, opts.cookiePath ?? '/');
  const key = createHmac('sha256', opts.secret).update('sspk csrf v1').digest();
  const sign = (cookie: string, sessionId: string): Buffer =>
    createHmac('sha256', key).update(`${cookie}|${sessionId}`).digest();
  return (req, res, next) => {
    const existing = readCookie(req, spot.name);
    const cookie = existing !== null && COOKIE_VALUE.test(existing) ? existing : null;
    const binding = () => (req.session?.user ? req.sessionID : '');
    let issued: string | null = null;
    const tokens: CsrfTokens = {
      token() {
        let value = cookie ?? issued;
        if (value === null) {
          value = issued = randomBytes(32).toString('base64url');
          res.cookie(spot.name, value, {
            httpOnly: true,
            sameSite: 'lax',
            secure: opts.secureCookie,
            path: spot.path,
          });
        }
        return sign(value, binding()).toString('base64url');
      },
      check(given) {
        if (cookie === null || typeof given !== 'string' || given.length > 100) return false;
        // Compared as text: base64 decoders ignore the spare bits of the last character, so two
        // different strings can decode to the same bytes.
        const expected = Buffer.from(sign(cookie, binding()).toString('base64url'));
        const actual = Buffer.from(given);
        return actual.length === expected.length && timingSafeEqual(actual, expected);
      },
    };
    res.locals.csrf = tokens;
    next();
  };
}

function tokensOf(res: Response): CsrfTokens {
  const tokens = res.locals.csrf as CsrfTokens | undefined;
  if (!tokens) throw new TypeError('csrfProtection() must run before forms are rendered or checked');
  return tokens;
}

/** The `_csrf` value for a form rendered in this response. */
export function csrfToken(res: Response): string {
  return tokensOf(res).token();
}

/**
 * Where the browser says a request comes from (Fetch Metadata, else Origin): a page of `origin`, the
 * user themselves (typed URL, bookmark: `Sec-Fetch-Site: none`), another site, or unknown (neither
 * header: a non-browser client, or a browser too old to say).
 */
export type RequestSite = 'same-origin' | 'user' | 'cross-site' | 'unknown';

/** The one reading of the request's origin headers; every origin check of the app goes through it. */
export function requestSite(req: Request, origin: string): RequestSite {
  const site = req.get('sec-fetch-site');
  if (site !== undefined)
    return site === 'same-origin' ? 'same-origin' : site === 'none' ? 'user' : 'cross-site';
  const from = req.get('origin');
  if (from === undefined) return 'unknown';
  return from === origin ? 'same-origin' : 'cross-site';
}

/**
 * The query a sign-in start gets when our start page (`/login`) forwards a navigation another site
 * made: the forward itself is same-origin, the sign-in it starts is not. It can only add the
 * confirmation step, never skip it.
 */
export const STARTED_ELSEWHERE = 'started=elsewhere';

/**
 * True when a sign-in start was reached from another site: the browser says so, or the start page
 * forwarded such a navigation (see STARTED_ELSEWHERE). Both sign-in starts (SAML, OIDC) read it here.
 */
export function signInStartedElsewhere(req: Request, origin: string): boolean {
  return requestSite(req, origin) === 'cross-site' || req.query.started === 'elsewhere';
}

/**
 * True when the browser says the request comes from a page of this origin. Requests with neither
 * header (non-browser clients) are not same-origin by this test.
 */
export function isSameOrigin(req: Request, origin: string): boolean {
  return requestSite(req, origin) === 'same-origin';
}

/**
 * Rejects a state-changing form post whose `_csrf` field is not this browser's token
 * (403 CSRF_INVALID). Mount it after the body parser (urlencoded or multer) of the route.
 */
export const verifyCsrf: RequestHandler = (req, res, next) => {
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (!tokensOf(res).check(body._csrf)) {
    next(new SpError('CSRF_INVALID'));
    return;
  }
  next();
};
