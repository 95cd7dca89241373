import { randomBytes } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { SpError } from '../../errors.js';
import type { SsoService } from '../../sso/service.js';
import { readCookie } from '../cookies.js';
import { newReferenceId, toSpError } from '../middleware/errors.js';
import { perClientLimit } from '../middleware/rate-limit.js';
import { startLoginSession } from '../login-session.js';
import { safeReturnPath } from '../return-to.js';
import '../session-user.js';

/** Name of the short-lived cookie that binds an SP-initiated login to the browser that started it. */
export const LOGIN_COOKIE = 'sspk_login';

const NONCE = /^[a-f0-9]{64}$/;

/** GET metadata, GET login, POST acs — per account. */
export function ssoRouter(opts: {
  sso: SsoService;
  baseUrl: string;
  requestTtlMs: number;
  maxSamlResponseBytes: number;
  limits: { acsPerMinute: number; loginPerMinute: number };
}): Router {
  const router = Router();
  const acsLimit = perClientLimit(opts.limits.acsPerMinute);
  const loginLimit = perClientLimit(opts.limits.loginPerMinute);
  const acsBody = express.urlencoded({
    extended: false,
    limit: opts.maxSamlResponseBytes,
    parameterLimit: 10,
  });

  router.get('/sso/:slug/metadata', async (req, res) => {
    const xml = await opts.sso.metadata(req.params.slug);
    res.type('application/samlmetadata+xml').set('Cache-Control', 'public, max-age=300').send(xml);
  });

  router.get('/sso/:slug/login', loginLimit, async (req, res) => {
    const slug = String(req.params.slug);
    const existing = readCookie(req, LOGIN_COOKIE);
    const nonce = existing !== null && NONCE.test(existing) ? existing : randomBytes(32).toString('hex');
    const relayState = safeReturnPath(req.query.returnTo, opts.baseUrl);
    const url = await opts.sso.startLogin(slug, relayState, nonce);
    // SameSite=None: the IdP answers with a cross-site POST, which must carry this cookie to the ACS.
    // Path-scoped to this account's ACS, HttpOnly, Secure (browsers accept it on http://localhost too).
    res.cookie(LOGIN_COOKIE, nonce, {
      path: `${new URL(opts.baseUrl).pathname.replace(/\/$/, '')}/sso/${slug}/acs`,
      httpOnly: true,
      secure: true,
      sameSite: 'none',
      maxAge: opts.requestTtlMs,
    });
    res.set('Cache-Control', 'no-store').redirect(302, url);
  });

  router.post(
    '/sso/:slug/acs',
    acsLimit,
    (_req: Request, res: Response, next: NextFunction) => {
      res.locals.referenceId = newReferenceId();
      next();
    },
    acsBody,
    async (req: Request, res: Response) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const nonce = readCookie(req, LOGIN_COOKIE);
      res.locals.acsAudited = true;
      try {
        await opts.sso.consume(
          {
            slug: String(req.params.slug),
            samlResponse: body.SAMLResponse,
            browserNonce: nonce !== null && NONCE.test(nonce) ? nonce : null,
            clientIp: req.ip ?? null,
            referenceId: res.locals.referenceId as string,
          },
          (result) =>
            startLoginSession(req, {
              userId: result.user.id,
              accountSlug: result.account.slug,
              nameId: result.assertion.nameId,
              email: result.user.email,
              role: result.user.role,
              via: 'sso',
            }),
        );
      } catch (err) {
        // A failure after the session was created (activation, audit) must not leave a login behind.
        if (req.session?.user) await new Promise<void>((resolve) => req.session.destroy(() => resolve()));
        throw err;
      }
      res.set('Cache-Control', 'no-store').redirect(303, safeReturnPath(body.RelayState, opts.baseUrl));
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
          toSpError(err).code,
        );
      }
      next(err);
    },
  );

  router.get('/api/me', (req, res) => {
    const user = req.session.user;
    if (!user) throw new SpError('AUTH_REQUIRED');
    res.set('Cache-Control', 'no-store').json({
      email: user.email,
      nameId: user.nameId,
      account: user.accountSlug,
      role: user.role,
    });
  });

  router.post('/logout', (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(new SpError('STORE_UNAVAILABLE', { cause: err }));
      res.clearCookie('sspk.sid', { path: '/' });
      if (req.accepts(['html', 'json']) === 'json') res.status(204).end();
      else res.redirect(303, '/');
    });
  });

  return router;
}
