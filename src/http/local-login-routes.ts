import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { newReferenceId, type AuditTrail } from '../audit/trail.js';
import { isSpError } from '../errors.js';
import type { Stores } from '../storage/types.js';
import {
  auditPasswordRefusal,
  signInWithPassword,
  type PasswordSignInContext,
} from '../users/local-login.js';
import { startLoginSession } from './login-session.js';
import { csrfToken, verifyCsrf } from './middleware/csrf.js';
import { toSpError } from './middleware/errors.js';
import { localLimiters, type LimiterFactory } from './middleware/rate-limit.js';
import { html, page } from './views.js';
import { siteOf } from './site.js';
import './session-user.js';
import { isSlug } from '../accounts/slug.js';

/** Password sign-in for local users (the bootstrap admin), refused for SSO-only accounts. */
export function localLoginRouter(opts: {
  stores: Stores;
  trail: AuditTrail;
  perMinute: number;
  /** How the limiters keep their counters (default: in this process; with Redis: shared). */
  limiter?: LimiterFactory;
  /** Told of every sign-in recorded in an account's trail (metrics and onEvent). */
  onDecided?: PasswordSignInContext['onDecided'];
}): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 10 });

  router.get('/login/password', (req, res) => {
    const account = typeof req.query.account === 'string' ? req.query.account : '';
    res
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(
        page(
          siteOf(res),
          'Password sign-in',
          html`<h1>Administrator sign-in</h1>
            <p class="muted">For local administrator accounts. Everyone else signs in with single sign-on.</p>
            <form method="post" action="${`${siteOf(res).base}/login/password`}">
              <input type="hidden" name="_csrf" value="${csrfToken(res)}" />
              <label for="account">Account</label
              ><input id="account" name="account" required value="${account}" />
              <label for="email">E-mail</label
              ><input id="email" name="email" type="email" required autocomplete="username" />
              <label for="password">Password</label
              ><input
                id="password"
                name="password"
                type="password"
                required
                autocomplete="current-password"
              />
              <button type="submit">Sign in</button>
            </form>`,
        ),
      );
  });

  router.post(
    '/login/password',
    (opts.limiter ?? localLimiters)('password-login', opts.perMinute),
    (_req: Request, res: Response, next: NextFunction) => {
      res.locals.referenceId ??= newReferenceId();
      next();
    },
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      // From here on every outcome is audited by signInWithPassword.
      res.locals.audited = true;
      await signInWithPassword(
        opts.stores,
        opts.trail,
        { account: body.account, email: body.email, password: body.password },
        {
          clientIp: req.ip ?? null,
          referenceId: res.locals.referenceId as string,
          onDecided: opts.onDecided,
        },
        (account, user) =>
          startLoginSession(req, {
            userId: user.id,
            accountSlug: account.slug,
            nameId: user.nameId,
            email: user.email,
            role: user.role,
            via: 'password',
          }),
      );
      res.redirect(303, `${siteOf(res).base}/admin`);
    },
    // Refused before the credentials were looked at (no CSRF token, unreadable form): audited in the
    // account the form named. Rate-limited posts are not (a flood would become database writes).
    async (err: unknown, req: Request, res: Response, next: NextFunction) => {
      if (!res.locals.audited && !isSpError(err, 'RATE_LIMITED') && res.locals.referenceId) {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const slug = typeof body.account === 'string' ? body.account.trim() : '';
        const account = isSlug(slug) ? await opts.stores.accounts.getBySlug(slug) : null;
        await auditPasswordRefusal(opts.trail, account, slug, toSpError(err), {
          clientIp: req.ip ?? null,
          referenceId: res.locals.referenceId as string,
          onDecided: opts.onDecided,
        });
        res.locals.audited = true;
      }
      next(err);
    },
  );

  return router;
}
