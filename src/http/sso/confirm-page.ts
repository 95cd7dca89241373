import type { PendingConfirmation } from '../../sso/service.js';
import { html, page } from '../views.js';
import type { Site } from '../site.js';
import type { SessionUser } from '../session-user.js';

const REASONS: Record<PendingConfirmation['reason'], string> = {
  unsolicited: 'This sign-in was started from your identity provider, not from this site.',
  'cross-site-start': 'This sign-in was started by another website.',
  'replaces-session': 'This browser is already signed in as someone else.',
};

/**
 * The page that asks the user to confirm a sign-in that did not start here. It names the account and
 * the identity, so a user pushed into somebody else's sign-in (login CSRF) sees it and can refuse; its
 * form posts to this origin only and carries the one-time token.
 */
export function confirmPage(opts: {
  site: Site;
  action: string;
  startPage: string;
  pending: PendingConfirmation;
  current: SessionUser | undefined;
}): string {
  const { pending, current } = opts;
  const replacing =
    current !== undefined
      ? html`<p>
          You are signed in as <strong>${current.email ?? current.nameId}</strong> in
          <code>${current.accountSlug}</code>. Continuing signs you out of that session.
        </p>`
      : '';
  return page(
    opts.site,
    `Continue to ${pending.account.name}`,
    html`<h1>Continue to ${pending.account.name} as ${pending.identity}?</h1>
      <p class="muted">${REASONS[pending.reason]} Continue only if you meant to sign in as this user.</p>
      ${replacing}
      <form method="post" action="${opts.action}">
        <input type="hidden" name="token" value="${pending.token}" />
        <button type="submit">Continue to ${pending.account.name} as ${pending.identity}</button>
      </form>
      <p><a href="${opts.startPage}">Cancel</a></p>`,
  );
}
