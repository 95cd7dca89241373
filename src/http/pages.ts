import { readFileSync } from 'node:fs';
import { Router } from 'express';
import { csrfToken, requestSite, STARTED_ELSEWHERE } from './middleware/csrf.js';
import type { Stores } from '../storage/types.js';
import { esc, html, page, type Html } from './views.js';
import { siteOf } from './site.js';
import './session-user.js';
import { SLUG } from '../accounts/slug.js';

const css = readFileSync(new URL('../../views/style.css', import.meta.url), 'utf8');
const copyScript = readFileSync(new URL('../../views/copy.js', import.meta.url), 'utf8');

/** The start page's sign-in form, with the value typed before and an error, if any. */
function startForm(base: string, value: string, error: string | null, notice: string | null = null): Html {
  return html`<h1>Sign in with single sign-on</h1>
    ${error ? html`<div class="error notice" role="alert"><p>${error}</p></div>` : ''}
    ${notice ? html`<div class="notice" role="status"><p>${notice}</p></div>` : ''}
    <form method="get" action="${`${base}/login`}">
      <label for="account">Account</label>
      <input
        id="account"
        name="account"
        required
        value="${value}"
        autocomplete="organization"
        autocapitalize="none"
        spellcheck="false"
        placeholder="acme"
        title="Your organisation's account name, e.g. acme"
      />
      <button type="submit">Continue</button>
    </form>
    <p class="muted">
      Administrator without single sign-on yet?
      <a href="${`${base}/login/password`}">Sign in with a password</a>.
    </p>`;
}

/** Notices the start page shows when another page sends the browser there (`?notice=`). */
const START_NOTICES: Readonly<Record<string, string>> = {
  'sso-only':
    'SSO only is now on for this account: password sign-in is off, and your password session has ended. Sign in with single sign-on.',
};

/** The start form's arguments from its query: a pre-filled account (`?account=`) and a known notice. */
function startPageQuery(query: Record<string, unknown>): [string, null, string | null] {
  const account = typeof query.account === 'string' && SLUG.test(query.account) ? query.account : '';
  const notice = typeof query.notice === 'string' ? (START_NOTICES[query.notice] ?? null) : null;
  return [account, null, notice];
}

/** With both a SAML and an OIDC connection: the one to start, when exactly one of them is active. */
function startOf(
  saml: 'pending' | 'active',
  oidc: 'pending' | 'active',
  samlStart: string,
  oidcStart: string,
): string | null {
  if (saml === oidc) return null;
  return saml === 'active' ? samlStart : oidcStart;
}

/**
 * The start page (who am I / sign in with SSO), the pages' assets (the kit's stylesheet and copy script,
 * and the host's brand CSS when given) and `/healthz`.
 */
export function pagesRouter(opts: {
  stores: Stores;
  brandCss?: string | undefined;
  /** The site's origin (BASE_URL's): where a navigation to the start page came from is read against it. */
  origin: string;
}): Router {
  const router = Router();
  const brandCss = opts.brandCss;

  if (brandCss !== undefined) {
    router.get('/assets/brand.css', (_req, res) => {
      res.type('text/css').set('Cache-Control', 'public, max-age=3600').send(brandCss);
    });
  }

  router.get('/assets/style.css', (_req, res) => {
    res.type('text/css').set('Cache-Control', 'public, max-age=3600').send(css);
  });

  router.get('/assets/copy.js', (_req, res) => {
    res.type('text/javascript').set('Cache-Control', 'public, max-age=3600').send(copyScript);
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
          <form method="post" action="${`${siteOf(res).base}/logout`}">
            <input type="hidden" name="_csrf" value="${csrfToken(res)}" />
            <button type="submit">Sign out</button>
          </form>`
      : startForm(siteOf(res).base, ...startPageQuery(req.query));
    res
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(page(siteOf(res), siteOf(res).productName, body));
  });

  // The start page's form lands here. Browsers apply the page's CSP `form-action 'self'` to every
  // redirect a form submission follows, so a redirect chain from this form to the IdP's origin would be
  // blocked: answer with a page that moves on by itself (a meta refresh is a new navigation, not part of
  // the form submission), with a link for the rare browser that does not follow it.
  router.get('/login', async (req, res) => {
    const typed = typeof req.query.account === 'string' ? req.query.account.slice(0, 100) : '';
    const account = typed.trim().toLowerCase();
    // An unknown or mistyped account: the form again, with what was typed and what to check.
    const known = SLUG.test(account) ? await opts.stores.accounts.getBySlug(account) : null;
    if (!known) {
      const message = SLUG.test(account)
        ? `There is no account named "${account}". Check the spelling with your administrator.`
        : 'An account name has 2 to 63 letters, digits and dashes.';
      res
        .status(SLUG.test(account) ? 404 : 400)
        .set('Cache-Control', 'no-store')
        .type('html')
        .send(page(siteOf(res), siteOf(res).productName, startForm(siteOf(res).base, typed, message)));
      return;
    }
    const saml = await opts.stores.connections.getByAccount(known.id);
    const oidc = await opts.stores.oidcConnections.getByAccount(known.id);
    const base = siteOf(res).base;
    // The forward below is a navigation of our own page, which the sign-in start would take for one of
    // this site: when another site sent the browser here, it says so (login CSRF: the sign-in must
    // wait for the user's confirmation, as it would had that site linked to the start itself).
    const elsewhere = requestSite(req, opts.origin) === 'cross-site' ? `?${STARTED_ELSEWHERE}` : '';
    const samlStart = `${base}/sso/${account}/login${elsewhere}`;
    const oidcStart = `${base}/sso/${account}/oidc/login${elsewhere}`;
    // One connection, or one of two that works (an account moving from one protocol to the other):
    // straight on. Two that both work, or neither yet: the user picks (links are plain navigations,
    // which the page's CSP form-action does not govern).
    const only =
      oidc === null
        ? samlStart
        : saml === null
          ? oidcStart
          : startOf(saml.status, oidc.status, samlStart, oidcStart);
    if (only === null) {
      res
        .set('Cache-Control', 'no-store')
        .type('html')
        .send(
          page(
            siteOf(res),
            `Sign in to ${known.name}`,
            html`<h1>Sign in to ${known.name}</h1>
              <p>Your organisation can sign in two ways. Choose the one your administrator told you about.</p>
              <p><a class="button" href="${samlStart}">Continue with SAML single sign-on</a></p>
              <p><a class="button" href="${oidcStart}">Continue with OpenID Connect</a></p>`,
          ),
        );
      return;
    }
    res
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(
        page(
          siteOf(res),
          'Signing in…',
          html`<h1>Signing in to ${account}…</h1>
            <p>Taking you to your identity provider. <a href="${only}">Continue</a> if nothing happens.</p>`,
        ).replace('<head>', `<head>\n<meta http-equiv="refresh" content="0;url=${esc(only)}">`),
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
