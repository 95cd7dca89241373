/** The "Settings" section of the admin page, with the SSO administrators who keep access with SSO only. */
import type { Account, User } from '../../../storage/types.js';
import { userLabel } from '../../../users/roles.js';
import { html, type Html } from '../../views.js';
import { fmtTime } from '../format.js';
import type { FormState } from '../forms.js';
import type { ConnectionJson } from './connection.js';

/**
 * Who would still get in with SSO only: the admins who can sign in with single sign-on now, or why the
 * switch is refused when there are none.
 */
export function ssoAdminsBlock(admins: User[], ssoOnly: boolean, acceptChecked: boolean): Html {
  if (admins.length > 0) {
    return html`<div class="sso-admins">
      <p class="muted">
        Administrators who can sign in with single
        sign-on${ssoOnly ? '' : ' (they keep access with SSO only)'}:
      </p>
      <ul>
        ${admins.map(
          (u) =>
            html`<li>
              <strong class="wrap">${userLabel(u)}</strong>
              <span class="muted">· last sign-in ${fmtTime(u.lastLoginAt)}</span>
            </li>`,
        )}
      </ul>
    </div>`;
  }
  return html`<div class="warning sso-admins">
    <p>
      <strong>No administrator has signed in with single sign-on yet.</strong> Turning SSO only on now would
      leave only password administrators, and they lose access with it: the switch is refused. Sign in once
      with single sign-on as a member of an admin group (or give an SSO user the admin role below) first.
    </p>
    ${
      ssoOnly
        ? ''
        : html`<label class="check"
            ><input
              type="checkbox"
              name="acceptCliRecoveryOnly"
              value="on"
              ${acceptChecked ? html` checked` : ''}
            />
            Turn it on anyway: I accept that only the operator's command line can let anyone back in</label
          >`
    }
  </div>`;
}

/** The settings form (SSO policy, domains, admin groups, SSO only with who keeps access). */
export function settingsSection(
  base: string,
  token: string,
  account: Account,
  conn: ConnectionJson | null,
  form: FormState,
  admins: User[],
): Html {
  const s = form.settings ?? {
    idpInitiated: account.settings.idpInitiated,
    allowedEmailDomains: account.settings.allowedEmailDomains.join(', '),
    adminGroups: account.settings.adminGroups.join('\n'),
    ssoOnly: account.settings.ssoOnly,
    loginConfirmation: account.settings.loginConfirmation,
    requireEmail: account.settings.requireEmail,
    acceptCliRecoveryOnly: false,
  };
  const active = conn?.status === 'active';
  return html`<section>
    <h2>Settings</h2>
    <form method="post" action="${`${base}/admin/settings`}">
      <input type="hidden" name="_csrf" value="${token}" />
      <label class="check"
        ><input type="checkbox" name="idpInitiated" value="on" ${s.idpInitiated ? html` checked` : ''} />
        Allow IdP-initiated sign-in (the application tile in Auth0)</label
      >
      <label class="check"
        ><input
          type="checkbox"
          name="loginConfirmation"
          value="on"
          ${s.loginConfirmation ? html` checked` : ''}
        />
        Ask users to confirm a sign-in that did not start on this site (protects against login CSRF)</label
      >
      <label class="check"
        ><input type="checkbox" name="requireEmail" value="on" ${s.requireEmail ? html` checked` : ''} />
        Require an e-mail address from the identity provider</label
      >
      <label for="allowedEmailDomains"
        >Allowed e-mail domains <span class="muted">(comma separated; empty allows every domain)</span></label
      >
      <input
        id="allowedEmailDomains"
        name="allowedEmailDomains"
        value="${s.allowedEmailDomains}"
        placeholder="example.com, example.org"
        spellcheck="false"
      />
      <label for="adminGroups"
        >Admin groups
        <span class="muted">(one IdP group per line; members become administrators here)</span></label
      >
      <textarea id="adminGroups" name="adminGroups" rows="3" spellcheck="false">${s.adminGroups}</textarea>
      <label class="check"
        ><input type="checkbox" name="ssoOnly" value="on" ${s.ssoOnly ? html` checked` : ''} /> SSO
        only</label
      >
      <p class="muted">
        SSO only switches off password sign-in for this account, including the bootstrap administrator you may
        be signed in with now: afterwards everyone signs in with single sign-on. It can be turned on only once
        single sign-on is active${active ? '' : ' (it is not yet: sign in once with SSO first)'}, and when an
        administrator has signed in with single sign-on.
      </p>
      ${ssoAdminsBlock(admins, account.settings.ssoOnly, s.acceptCliRecoveryOnly)}
      <button type="submit">Save settings</button>
    </form>
  </section>`;
}
