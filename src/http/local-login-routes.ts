import express, { Router } from 'express';
import type { Stores } from '../storage/types.js';
import { passwordLogin } from '../users/local-login.js';
import { startLoginSession } from './login-session.js';
import { csrfToken, verifyCsrf } from './middleware/csrf.js';
import { perClientLimit } from './middleware/rate-limit.js';
import { html, page } from './views.js';
import './session-user.js';

/** Password sign-in for local users (the bootstrap admin), refused for SSO-only accounts. */
export function localLoginRouter(opts: { stores: Stores; perMinute: number }): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 10 });

  router.get('/login/password', (req, res) => {
    const account = typeof req.query.account === 'string' ? req.query.account : '';
    res
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(
        page(
          'Password sign-in',
          html`<h1>Administrator sign-in</h1>
            <p class="muted">For local administrator accounts. Everyone else signs in with single sign-on.</p>
            <form method="post" action="/login/password">
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

  router.post('/login/password', perClientLimit(opts.perMinute), form, verifyCsrf, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { account, user } = await passwordLogin(opts.stores, {
      account: body.account,
      email: body.email,
      password: body.password,
    });
    await startLoginSession(req, {
      userId: user.id,
      accountSlug: account.slug,
      nameId: user.nameId,
      email: user.email,
      role: user.role,
      via: 'password',
    });
    res.redirect(303, '/admin');
  });

  return router;
}
