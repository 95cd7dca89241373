import { readFileSync } from 'node:fs';
import { Router } from 'express';
import { SpError } from '../errors.js';
import { csrfToken } from './middleware/csrf.js';
import { html, page } from './views.js';
import './session-user.js';

const css = readFileSync(new URL('../../views/style.css', import.meta.url), 'utf8');
const SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** The start page (who am I / sign in with SSO) and static assets. */
export function pagesRouter(): Router {
  const router = Router();

  router.get('/assets/style.css', (_req, res) => {
    res.type('text/css').set('Cache-Control', 'public, max-age=3600').send(css);
  });

  router.get('/', (req, res) => {
    const user = req.session.user;
    const body = user
      ? html`<div class="ok">
            <h1>Signed in</h1>
            <p>
              You are signed in as <strong>${user.email ?? user.nameId}</strong> in account
              <code>${user.accountSlug}</code> (role ${user.role}).
            </p>
          </div>
          <form method="post" action="/logout">
            <input type="hidden" name="_csrf" value="${csrfToken(res)}" />
            <button type="submit">Sign out</button>
          </form>`
      : html`<h1>Sign in with single sign-on</h1>
          <form method="get" action="/login">
            <label for="account">Account</label>
            <input
              id="account"
              name="account"
              required
              pattern="[a-z0-9][a-z0-9\\-]{1,62}"
              autocomplete="organization"
              placeholder="acme"
            />
            <button type="submit">Continue</button>
          </form>
          <p class="muted">
            Administrator without single sign-on yet? <a href="/login/password">Sign in with a password</a>.
          </p>`;
    res.set('Cache-Control', 'no-store').type('html').send(page('saml-sp-kit', body));
  });

  router.get('/login', (req, res) => {
    const account = req.query.account;
    if (typeof account !== 'string' || !SLUG.test(account)) throw new SpError('ACCOUNT_SLUG_INVALID');
    res.redirect(302, `sso/${account}/login`);
  });

  router.get('/favicon.ico', (_req, res) => {
    res.status(204).set('Cache-Control', 'public, max-age=86400').end();
  });

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  return router;
}
