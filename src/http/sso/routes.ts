import { randomBytes } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { BotService } from '../../bots/service.js';
import { looksLikeJwt } from '../../bots/token.js';
import { isSlug } from '../../accounts/slug.js';
import { SpError } from '../../errors.js';
import {
  OIDC_TRANSACTION_ID,
  oidcStateOf,
  type AcsOutcome,
  type AcsSuccess,
  type CurrentSession,
  type SsoService,
} from '../../sso/service.js';
import { cookieSpot, readCookie, readCookies, SESSION_COOKIE } from '../cookies.js';
import { bearerValue } from '../middleware/admin-auth.js';
import { isSameOrigin, signInStartedElsewhere, type CsrfTokens } from '../middleware/csrf.js';
import { newReferenceId, toSpError } from '../middleware/errors.js';
import { localLimiters, type LimiterFactory } from '../middleware/rate-limit.js';
import { assertHttpsSignIn, httpsSignInError, startLoginSession } from '../login-session.js';
import { safeReturnPath } from '../return-to.js';
import '../session-user.js';
import { confirmPage } from './confirm-page.js';
import { acsForm } from './acs-form.js';
import { basePathOf, siteOf } from '../site.js';

/** Name of the short-lived cookie that binds an SP-initiated login to the browser that started it. */
export const LOGIN_COOKIE = 'sspk_login';
/** Name of the short-lived cookie that binds a sign-in confirmation to the browser that received it. */
export const CONFIRM_COOKIE = 'sspk_confirm';
/** Name of the short-lived cookie that binds an OIDC sign-in (its transaction id) to the browser that started it. */
export const OIDC_COOKIE = 'sspk_oidc';

/** Requests that started a login session (so a failure after it may undo that session, and only it). */
const signedInHere = new WeakSet<Request>();

/** The session a successful sign-in establishes. */
function establishSession(req: Request) {
  return (result: AcsSuccess) => {
    // Before the mark: a sign-in refused for its transport leaves the browser's session alone.
    assertHttpsSignIn(req);
    signedInHere.add(req);
    return startLoginSession(req, {
      userId: result.user.id,
      accountSlug: result.account.slug,
      nameId: result.assertion.nameId,
      email: result.user.email,
      role: result.user.role,
      via: 'sso',
      ...(result.protocol === 'oidc' ? { protocol: 'oidc' as const } : {}),
    });
  };
}

/** The browser's current login session, as the sign-in services need to know it. */
function currentSession(req: Request): CurrentSession | null {
  const user = req.session?.user;
  return user
    ? { accountSlug: user.accountSlug, nameId: user.nameId, via: user.via, protocol: user.protocol }
    : null;
}

/**
 * A failure after this request created the session (activation, audit) must not leave a login behind.
 * A session the browser already had is left alone: otherwise any site could sign the user out by
 * sending the browser to a failing callback (a GET, which carries the Lax session cookie).
 */
async function dropSessionOnFailure(req: Request, err: unknown): Promise<never> {
  if (signedInHere.has(req) && req.session?.user) {
    await new Promise<void>((resolve) => req.session.destroy(() => resolve()));
  }
  throw err;
}

const NONCE = /^[a-f0-9]{64}$/;
/** At most this many OIDC sign-ins of one account in flight per browser (tabs); the oldest drops out. */
const MAX_OIDC_IN_FLIGHT = 3;

/** The well-formed transaction ids of an OIDC cookie's value (ids joined by `.`), at most the last few. */
function oidcIdsOf(value: string): string[] {
  if (value.length > 1024) return [];
  return value
    .split('.')
    .filter((id) => OIDC_TRANSACTION_ID.test(id))
    .slice(-MAX_OIDC_IN_FLIGHT);
}
/** The SAML login cookie: the browser's nonce, and when it was made (ms, base 36). */
const LOGIN_COOKIE_VALUE = /^([a-f0-9]{64})\.([0-9a-z]{1,12})$/;

/** The nonce and its age of a login cookie's value; null when it is not one of ours. */
function readLoginCookie(value: string | null): { nonce: string; issuedAt: number } | null {
  const m = value === null ? null : LOGIN_COOKIE_VALUE.exec(value);
  return m ? { nonce: m[1]!, issuedAt: parseInt(m[2]!, 36) } : null;
}

/** GET metadata, GET login, POST acs — per account. */
export function ssoRouter(opts: {
  sso: SsoService;
  /** Bot tokens: `GET /api/me` answers for a bot too. */
  bots?: BotService;
  baseUrl: string;
  requestTtlMs: number;
  maxSamlResponseBytes: number;
  limits: { acsPerMinute: number; loginPerMinute: number };
  /** How the limiters keep their counters (default: in this process; with Redis: shared). */
  limiter?: LimiterFactory;
}): Router {
  const router = Router();
  const limiter = opts.limiter ?? localLimiters;
  const acsLimit = limiter('acs', opts.limits.acsPerMinute);
  const basePath = basePathOf(opts.baseUrl);
  const origin = new URL(opts.baseUrl).origin;
  const secureCookie = opts.baseUrl.startsWith('https:');
  // On an https site: __Host- cookies, which no sibling subdomain can plant (see cookieSpot).
  const loginCookie = (slug: string) => cookieSpot(secureCookie, LOGIN_COOKIE, `${basePath}/sso/${slug}/acs`);
  // On http scoped to the account's routes: the login and test routes read it too (see setOidcCookie).
  const oidcCookie = (slug: string) => cookieSpot(secureCookie, OIDC_COOKIE, `${basePath}/sso/${slug}`, slug);
  const confirmCookie = (slug: string) =>
    cookieSpot(secureCookie, CONFIRM_COOKIE, `${basePath}/sso/${slug}/confirm`, slug);
  const sessionCookie = cookieSpot(secureCookie, SESSION_COOKIE, basePath || '/');
  const smallForm = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });
  const loginLimit = limiter('sso-login', opts.limits.loginPerMinute);
  // express.urlencoded's fields and errors, read faster (see acsForm).
  const acsBody = acsForm({ limit: opts.maxSamlResponseBytes, parameterLimit: 10 });

  // The ids of the account's OIDC sign-ins this browser has in flight (one per tab, the newest last).
  // SameSite=Lax: the provider sends the browser back with a top-level GET, which carries it; a
  // cross-site subresource or POST does not. This account's own cookie, HttpOnly.
  const writeOidcCookie = (res: Response, slug: string, ids: readonly string[]) => {
    const { name, path } = oidcCookie(slug);
    if (ids.length === 0) {
      res.clearCookie(name, { path, secure: secureCookie, httpOnly: true, sameSite: 'lax' });
      return;
    }
    res.cookie(name, ids.join('.'), {
      path,
      httpOnly: true,
      secure: secureCookie,
      sameSite: 'lax',
      maxAge: opts.requestTtlMs,
    });
  };
  /** Adds a sign-in to the browser's list; the oldest beyond {@link MAX_OIDC_IN_FLIGHT} drops out. */
  const setOidcCookie = (req: Request, res: Response, slug: string, transactionId: string) => {
    writeOidcCookie(res, slug, [...heldOidc(req, slug), transactionId].slice(-MAX_OIDC_IN_FLIGHT));
  };
  /**
   * The browser's sign-ins in flight; none when the browser sends two cookies of the name: on http a
   * sibling subdomain can set one beside ours (on https the __Host- name rules that out), and then
   * neither is trusted.
   */
  const heldOidc = (req: Request, slug: string): string[] => {
    const values = readCookies(req, oidcCookie(slug).name);
    return values.length === 1 ? oidcIdsOf(values[0]!) : [];
  };

  // On the routes that name cookies after the account: a slug that cannot be an account's is refused
  // first (a space or a semicolon in a cookie name would make no cookie but a 500). The ACS reads no
  // per-account cookie before the account is found, and logs posts for unknown accounts itself.
  const accountSlug = (req: Request, _res: Response, next: NextFunction) => {
    next(isSlug(req.params.slug) ? undefined : new SpError('ACCOUNT_NOT_FOUND'));
  };

  router.get('/sso/:slug/metadata', async (req, res) => {
    const xml = await opts.sso.metadata(req.params.slug);
    res.type('application/samlmetadata+xml').set('Cache-Control', 'public, max-age=300').send(xml);
  });

  router.get('/sso/:slug/login', accountSlug, loginLimit, async (req, res) => {
    const slug = String(req.params.slug);
    const cookie = loginCookie(slug);
    // Logins started in other tabs within the request lifetime share the browser's nonce, so each
    // tab's answer finds it; an older one is replaced, so a nonce never lives past twice that lifetime
    // (it travels with every request to the site, and whoever learnt it could bind a login to it).
    const existing = readLoginCookie(readCookie(req, cookie.name));
    const now = Date.now();
    const fresh =
      existing !== null && existing.issuedAt <= now && now - existing.issuedAt < opts.requestTtlMs;
    const nonce = fresh ? existing.nonce : randomBytes(32).toString('hex');
    const issuedAt = fresh ? existing.issuedAt : now;
    const relayState = safeReturnPath(req.query.returnTo, opts.baseUrl);
    // Fetch Metadata: a login another site sent the browser to is confirmed on our page before it
    // signs in (login CSRF). Same-site (a sibling subdomain) counts as another site here.
    const crossSite = signInStartedElsewhere(req, origin);
    const url = await opts.sso.startLogin(slug, relayState, nonce, { crossSite });
    // SameSite=None: the IdP answers with a cross-site POST, which must carry this cookie to the ACS.
    // HttpOnly, Secure (browsers accept it on http://localhost too); on http, scoped to this account's ACS.
    res.cookie(cookie.name, `${nonce}.${issuedAt.toString(36)}`, {
      path: cookie.path,
      httpOnly: true,
      secure: true,
      sameSite: 'none',
      // Until the last login it may bind (started before issuedAt + TTL) has had its TTL.
      maxAge: issuedAt + 2 * opts.requestTtlMs - now,
    });
    res.set('Cache-Control', 'no-store').redirect(302, url);
  });

  // A test sign-in link (a one-time capability made by an admin): off to the IdP, answer tested only.
  // SAML or OIDC: an OIDC test's transaction is bound to this browser like a sign-in's.
  router.get('/sso/:slug/tests/:token', accountSlug, loginLimit, async (req, res) => {
    const slug = String(req.params.slug);
    const { url, oidcTransactionId } = await opts.sso.startTest(slug, String(req.params.token));
    if (oidcTransactionId !== undefined) setOidcCookie(req, res, slug, oidcTransactionId);
    res.set('Cache-Control', 'no-store').set('Referrer-Policy', 'no-referrer').redirect(302, url);
  });

  /** Answers a verified sign-in: the return path, a test verdict, or the confirmation page. */
  const respond = (req: Request, res: Response, slug: string, outcome: AcsOutcome, relayState: string) => {
    const current = req.session?.user;
    res.set('Cache-Control', 'no-store');
    if (outcome.kind === 'signed-in') {
      // No body: res.redirect() would negotiate one (Accept header) that no browser shows.
      res.status(303).location(relayState).end();
      return;
    }
    if (outcome.kind === 'test') {
      // A test sign-in: no session was made. The verdict page is for the account's admins.
      if (req.accepts(['html', 'json']) === 'json') {
        res.json({ test: { id: outcome.testId, status: outcome.status } });
      } else {
        res.redirect(303, `${basePath}/admin/tests/${outcome.testId}`);
      }
      return;
    }
    const { pending } = outcome;
    const action = `${basePath}/sso/${slug}/confirm`;
    const cookie = confirmCookie(slug);
    res.cookie(cookie.name, pending.browserNonce, {
      path: cookie.path,
      httpOnly: true,
      secure: secureCookie,
      sameSite: 'lax',
      maxAge: Date.parse(pending.expiresAt) - Date.now(),
    });
    if (req.accepts(['html', 'json']) === 'json') {
      res.json({
        confirmation: {
          url: `${origin}${action}`,
          token: pending.token,
          expiresAt: pending.expiresAt,
          reason: pending.reason,
          account: { slug: pending.account.slug, name: pending.account.name },
          identity: pending.identity,
        },
      });
      return;
    }
    res
      .type('html')
      .send(confirmPage({ site: siteOf(res), action, startPage: `${basePath}/`, pending, current }));
  };

  // OAuth 2.0 / OpenID Connect: the start of a sign-in (authorization code flow, state, nonce, PKCE).
  router.get('/sso/:slug/oidc/login', accountSlug, loginLimit, async (req, res) => {
    const slug = String(req.params.slug);
    const relayState = safeReturnPath(req.query.returnTo, opts.baseUrl);
    const crossSite = signInStartedElsewhere(req, origin);
    const { url, transactionId } = await opts.sso.startOidcLogin(slug, relayState, { crossSite });
    setOidcCookie(req, res, slug, transactionId);
    res.set('Cache-Control', 'no-store').set('Referrer-Policy', 'no-referrer').redirect(302, url);
  });

  // The OIDC redirect URI (Auth0: "Allowed Callback URLs").
  router.get('/sso/:slug/oidc/callback', accountSlug, acsLimit, async (req: Request, res: Response) => {
    res.locals.referenceId ??= newReferenceId();
    const slug = String(req.params.slug);
    const at = req.originalUrl.indexOf('?');
    const search = at >= 0 ? req.originalUrl.slice(at) : '';
    // The sign-in this callback answers is the one of the browser's whose state it carries; it is
    // consumed whatever happens next, and the others (other tabs) stay in flight.
    const held = heldOidc(req, slug);
    // Exactly one state: with two, the provider's library would read another than the one matched.
    const states = new URLSearchParams(search.slice(0, 8192)).getAll('state');
    const state = states.length === 1 ? states[0]! : null;
    const transactionId = state === null ? null : (held.find((id) => oidcStateOf(id) === state) ?? null);
    if (transactionId !== null || held.length === 0) {
      writeOidcCookie(
        res,
        slug,
        held.filter((id) => id !== transactionId),
      );
    }
    // consumeOidcCallback() audits every outcome itself.
    res.locals.acsAudited = true;
    const { outcome, relayState } = await opts.sso
      .consumeOidcCallback(
        {
          slug,
          search,
          transactionId,
          inFlight: held.length,
          transport: () => httpsSignInError(req),
          current: currentSession(req),
          clientIp: req.ip ?? null,
          referenceId: res.locals.referenceId as string,
        },
        establishSession(req),
      )
      .catch((err: unknown) => dropSessionOnFailure(req, err));
    res.set('Referrer-Policy', 'no-referrer');
    respond(req, res, slug, outcome, relayState);
  });

  router.post(
    '/sso/:slug/acs',
    acsLimit,
    (_req: Request, res: Response, next: NextFunction) => {
      res.locals.referenceId ??= newReferenceId();
      next();
    },
    ...acsBody,
    async (req: Request, res: Response) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const slug = String(req.params.slug);
      const nonce = readLoginCookie(readCookie(req, loginCookie(slug).name))?.nonce ?? null;
      res.locals.acsAudited = true;
      const relayState = safeReturnPath(body.RelayState, opts.baseUrl);
      const outcome = await opts.sso
        .consume(
          {
            slug,
            samlResponse: body.SAMLResponse,
            relayState,
            browserNonce: nonce,
            transport: () => httpsSignInError(req),
            current: currentSession(req),
            clientIp: req.ip ?? null,
            referenceId: res.locals.referenceId as string,
          },
          establishSession(req),
        )
        .catch((err: unknown) => dropSessionOnFailure(req, err));
      respond(req, res, slug, outcome, relayState);
    },
    // Requests refused before the handler ran (body too large, unparsable form) are audited here;
    // rate-limited ones are not (an attacker would turn a flood into database writes).
    async (err: unknown, req: Request, res: Response, next: NextFunction) => {
      if (!res.locals.acsAudited) {
        await opts.sso.auditRejection(
          {
            slug: String(req.params.slug),
            clientIp: req.ip ?? null,
            referenceId: res.locals.referenceId as string,
          },
          toSpError(err),
        );
      }
      next(err);
    },
  );

  // The confirmation of a sign-in that did not start here. Only a same-origin POST (our own page's
  // form, as Fetch Metadata / Origin say) with the one-time token and this browser's cookie signs in.
  router.post(
    '/sso/:slug/confirm',
    accountSlug,
    acsLimit,
    (_req: Request, res: Response, next: NextFunction) => {
      res.locals.referenceId ??= newReferenceId();
      next();
    },
    smallForm,
    async (req: Request, res: Response) => {
      if (!isSameOrigin(req, origin))
        throw new SpError('CSRF_INVALID', { detail: 'cross-origin confirmation' });
      const body = (req.body ?? {}) as Record<string, unknown>;
      const slug = String(req.params.slug);
      const cookie = confirmCookie(slug);
      const nonce = readCookie(req, cookie.name);
      // confirm() audits every outcome itself.
      res.locals.acsAudited = true;
      const { relayState } = await opts.sso
        .confirm(
          {
            slug,
            token: body.token,
            browserNonce: nonce !== null && NONCE.test(nonce) ? nonce : null,
            clientIp: req.ip ?? null,
            referenceId: res.locals.referenceId as string,
          },
          establishSession(req),
        )
        .catch((err: unknown) => dropSessionOnFailure(req, err));
      res.clearCookie(cookie.name, {
        path: cookie.path,
        secure: secureCookie,
        httpOnly: true,
        sameSite: 'lax',
      });
      res.set('Cache-Control', 'no-store').redirect(303, relayState);
    },
  );

  router.get('/api/me', async (req, res) => {
    const bearer = bearerValue(req);
    // A bot token is the credential when one is sent (a failure is a 401, never a fallback to a cookie);
    // other bearer values are not ours to judge here and the session answers, as before.
    if (opts.bots && bearer !== null && looksLikeJwt(bearer)) {
      const bot = await opts.bots.authenticate(bearer);
      res.set('Cache-Control', 'no-store').json({
        account: bot.accountSlug,
        role: bot.role,
        bot: { id: bot.botId, name: bot.botName },
      });
      return;
    }
    const user = req.session.user;
    if (!user) throw new SpError('AUTH_REQUIRED');
    res.set('Cache-Control', 'no-store').json({
      email: user.email,
      nameId: user.nameId,
      account: user.accountSlug,
      role: user.role,
    });
  });

  // Logout is a state change: a cross-site page must not be able to sign users out (a first step of
  // many login-CSRF and session-swap tricks). Our forms carry the CSRF token; scripts of this origin are
  // recognised by Fetch Metadata / Origin.
  router.post('/logout', loginLimit, smallForm, (req, res, next) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const csrf = res.locals.csrf as CsrfTokens | undefined;
    if (!csrf?.check(body._csrf) && !isSameOrigin(req, origin)) {
      next(new SpError('CSRF_INVALID', { detail: 'logout without token from another origin' }));
      return;
    }
    req.session.destroy((err) => {
      if (err) return next(new SpError('STORE_UNAVAILABLE', { cause: err }));
      res.clearCookie(sessionCookie.name, { path: sessionCookie.path, secure: secureCookie, httpOnly: true });
      if (req.accepts(['html', 'json']) === 'json') res.status(204).end();
      else res.redirect(303, `${basePath}/`);
    });
  });

  return router;
}
