/**
 * The whole admin page (GET /admin, and the re-render of a form post): the signed-in header, a notice
 * and every section in order; and the sign-in page shown to everyone else.
 */
import type { Request, Response } from 'express';
import type { SetupLinkService } from '../../accounts/setup-links.js';
import type { BotService } from '../../bots/service.js';
import { connectionView, type ConnectionService } from '../../connections/service.js';
import { oidcConnectionView } from '../../connections/oidc-service.js';
import type { Stores } from '../../storage/types.js';
import { userView } from '../../users/admin.js';
import { ssoAdmins } from '../../users/roles.js';
import { allowFormRedirectTo } from '../csp.js';
import { csrfToken } from '../middleware/csrf.js';
import { html, page } from '../views.js';
import { siteOf } from '../site.js';
import { botsSection, BOTS_SHOWN } from './bots-section.js';
import type { FormState } from './forms.js';
import { auditSection } from './sections/audit.js';
import { auth0JsonSection, auth0Section } from './sections/auth0.js';
import { connectionSection } from './sections/connection.js';
import { importSection } from './sections/import.js';
import { oidcSection, protocolNav } from './sections/oidc.js';
import { settingsSection } from './sections/settings.js';
import { setupLinksSection } from './sections/setup-links.js';
import { testSection } from './sections/test-sign-in.js';
import { usersSection } from './sections/users.js';
import '../session-user.js';

/** The only flash messages `?saved=` can show. */
const SAVED: Readonly<Record<string, string>> = {
  idp: 'The identity provider was imported. Sign in once with single sign-on to activate the connection.',
  metadata:
    'The identity provider metadata was imported. Sign in once with single sign-on to activate the connection.',
  'metadata-url':
    'The identity provider metadata was fetched from its URL and imported; it is refreshed on a schedule from now on. Sign in once with single sign-on to activate the connection.',
  refreshed: 'The identity provider metadata was fetched again from its URL.',
  settings: 'The settings were saved.',
  user: 'The user was changed.',
  'link-revoked': 'The setup link was revoked; the sessions it opened have ended.',
  bot: 'The bot was added. Issue it a token below.',
  'bot-disabled': 'The bot was disabled: its tokens are refused from now on.',
  'token-revoked': 'The token was revoked: it is refused from now on.',
  oidc: 'The OpenID Connect settings were saved. Run a test sign-in (or sign in once) to activate the connection.',
  'oidc-deleted': 'The OpenID Connect connection was removed.',
};

const AUDIT_SHOWN = 20;

/** A message shown above the page's sections: a saved form, or a rejected one with its error code. */
export interface Notice {
  kind: 'ok' | 'error';
  message: string;
  code?: string;
}

/** The page for a visitor who is not an admin of the account (401 signed out, 403 signed in). */
export function signInPage(req: Request, res: Response, signedIn: boolean): void {
  const base = req.baseUrl;
  res
    .status(signedIn ? 403 : 401)
    .set('Cache-Control', 'no-store')
    .type('html')
    .send(
      page(
        siteOf(res),
        'Sign in',
        html`<h1>Sign in as an administrator</h1>
          <p>
            ${signedIn ? 'Your account is not an administrator of this account. Sign in with an administrator account to manage single sign-on.' : 'Sign in as an administrator of your account to manage single sign-on.'}
          </p>
          <p><a href="${`${base}/login/password`}">Administrator sign-in with a password</a></p>
          <p><a href="${`${base}/`}">Start page (single sign-on)</a></p>`,
      ),
    );
}

/** The flash message of a `?saved=` query value, or none for any other value. */
export function savedNotice(saved: unknown): Notice | null {
  const key = typeof saved === 'string' ? saved : '';
  const message = Object.hasOwn(SAVED, key) ? SAVED[key] : undefined;
  return message ? { kind: 'ok', message } : null;
}

/** What the page reads: the services and stores of the router's options. */
export interface PageDeps {
  connections: ConnectionService;
  links: SetupLinkService;
  stores: Stores;
  bots: BotService;
  baseUrl: string;
}

/**
 * Renders the admin page of the signed-in admin's account with `status`, an optional notice, and the
 * values a rejected form post put back (or a token just issued, shown once).
 */
export async function renderAdminPage(
  deps: PageDeps,
  req: Request,
  res: Response,
  status: number,
  notice: Notice | null,
  formState: FormState = {},
): Promise<void> {
  const user = req.session.user!;
  const account = await deps.connections.account(user.accountSlug);
  const stored = await deps.stores.connections.getByAccount(account.id);
  const conn = stored ? connectionView(deps.baseUrl, account, stored) : null;
  const [users, events, links, botList] = await Promise.all([
    deps.stores.users.listByAccount(account.id),
    deps.stores.audit.list(account.id, { limit: AUDIT_SHOWN }),
    deps.links.list(account),
    deps.bots.listBots(account),
  ]);
  const oidcConnection = await deps.stores.oidcConnections.getByAccount(account.id);
  const oidc = oidcConnection ? oidcConnectionView(deps.baseUrl, account, oidcConnection) : null;
  // Which protocol's part to show: the one asked for, else the only one connected, else SAML.
  const asked = formState.protocol ?? req.query.protocol;
  const protocol: 'saml' | 'oidc' =
    asked === 'oidc' || asked === 'saml' ? asked : oidc && !conn ? 'oidc' : 'saml';
  const admins = ssoAdmins({ account, connection: stored, oidcConnection, users });
  const bots = await Promise.all(
    botList
      .slice(0, BOTS_SHOWN)
      .map(async (bot) => ({ bot, tokens: await deps.bots.listTokens(account, bot.id) })),
  );
  const base = req.baseUrl;
  const token = csrfToken(res);
  // The test sign-in form's answer redirects to the IdP: that origin must be a form-action source.
  if (protocol === 'saml' && conn) allowFormRedirectTo(res, conn.ssoUrl);
  if (protocol === 'oidc' && oidc) allowFormRedirectTo(res, oidc.authorizationUrl);
  // The HTML of the two templates below keeps the indentation it had inside the router, so the page's
  // bytes stay exactly as before the split (prettier would re-indent it).
  // prettier-ignore
  const noticeHtml = notice
    ? notice.kind === 'ok'
      ? html`<div class="ok notice" role="status"><p>${notice.message}</p></div>`
      : html`<div class="error notice" role="alert">
            <p>${notice.message}</p>
            <p class="muted">Error code <code>${notice.code ?? ''}</code></p>
          </div>`
    : '';
  // prettier-ignore
  const body = html`<div class="admin">
      <header class="topbar">
        <p class="muted">
          Signed in as
          ${
            user.via === 'setup-link'
              ? html`<strong>a setup link</strong> ·`
              : html`<strong>${user.email ?? user.nameId}</strong>
                  (${user.via === 'password' ? 'password' : 'SSO'}) ·`
          }
          account <code>${account.slug}</code>
        </p>
        <form method="post" action="${`${base}/logout`}" class="inline">
          <input type="hidden" name="_csrf" value="${token}" />
          <button type="submit" class="secondary">Sign out</button>
        </form>
      </header>
      <h1>Single sign-on for ${account.name}</h1>
      ${noticeHtml}
      ${protocolNav(base, protocol, { saml: conn?.status ?? null, oidc: oidc?.status ?? null })}
      ${
        protocol === 'saml'
          ? html`${connectionSection(conn, base, token)} ${auth0Section(deps.baseUrl, account)}
              ${importSection(base, token, conn, formState)} ${testSection(base, token, conn)}
              ${auth0JsonSection(deps.baseUrl, account)}`
          : oidcSection(base, token, deps.baseUrl, account, oidc, formState.oidc)
      }
      ${settingsSection(base, token, account, conn, formState, admins)}
      ${usersSection(
        base,
        token,
        users.map((u) => userView(u, account)),
        user.userId,
      )}
      ${botsSection(base, token, bots, formState.issued ?? null, formState.bot ?? null)}
      ${setupLinksSection(base, token, links, user.setupLinkId)} ${auditSection(base, events)}
      <script src="${`${base}/assets/copy.js`}" defer></script>
    </div>`;
  res
    .status(status)
    .set('Cache-Control', 'no-store')
    .type('html')
    .send(page(siteOf(res), `SSO setup · ${account.name}`, body));
}
