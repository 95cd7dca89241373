import { readFileSync } from 'node:fs';
import { Router } from 'express';
import { SpError } from '../errors.js';
import { csrfToken } from './middleware/csrf.js';
import { esc, html, page } from './views.js';
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

  // The start page's form lands here. Browsers apply the page's CSP `form-action 'self'` to every
  // redirect a form submission follows, so a redirect chain from this form to the IdP's origin would be
  // blocked: answer with a page that moves on by itself (a meta refresh is a new navigation, not part of
  // the form submission), with a link for the rare browser that does not follow it.
  router.get('/login', (req, res) => {
    const account = typeof req.query.account === 'string' ? req.query.account.trim().toLowerCase() : '';
    if (!SLUG.test(account)) throw new SpError('ACCOUNT_SLUG_INVALID');
    const next = `${req.baseUrl}/sso/${account}/login`;
    res
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(
        page(
          'Signing in…',
          html`<h1>Signing in to ${account}…</h1>
            <p>Taking you to your identity provider. <a href="${next}">Continue</a> if nothing happens.</p>`,
        ).replace('<head>', `<head>\n<meta http-equiv="refresh" content="0;url=${esc(next)}">`),
      );
  });

  router.get('/favicon.ico', (_req, res) => {
    res.status(204).set('Cache-Control', 'public, max-age=86400').end();
  });

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  return router;
}
