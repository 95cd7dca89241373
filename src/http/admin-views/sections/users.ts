/** The "Users" section of the admin page: the table and each row's forms. */
import type { LoginFlow } from '../../../storage/types.js';
import type { UserView } from '../../../users/admin.js';
import { html, type Html } from '../../views.js';
import { fmtTime } from '../format.js';

const MAX_USERS_SHOWN = 200;

const FLOW_LABELS: Readonly<Record<LoginFlow, string>> = {
  'sp-initiated': 'SSO, started here',
  'idp-initiated': 'SSO, from the IdP',
  password: 'password',
  'setup-link': 'setup link',
};
const GROUPS_SHOWN = 10;

function roleCell(u: UserView): Html {
  if (u.roleOverride !== null) {
    return html`<strong>${u.role}</strong> <span class="badge badge-override">set by an admin</span>`;
  }
  return html`${u.role} <span class="muted">${u.kind === 'sso' ? '(from groups)' : '(local)'}</span>`;
}

/** One user row: what the admin needs to decide, and the forms to act (CSRF-protected posts). */
function userRow(base: string, token: string, u: UserView, self: string): Html {
  const action = `${base}/admin/users/${u.id}`;
  const groups = u.groups.slice(0, GROUPS_SHOWN);
  const more = u.groups.length - groups.length;
  const who = u.email ?? u.nameId;
  return html`<tr class="${u.disabled ? 'user-disabled' : ''}">
    <td class="who">
      <strong>${who}</strong>${u.id === self ? html` <span class="badge badge-none">you</span>` : ''}
      ${u.name ? html`<br /><span class="muted">${u.name}</span>` : ''}
      ${u.email !== null && u.kind === 'sso' ? html`<br /><span class="muted">NameID <code>${u.nameId}</code></span>` : ''}
    </td>
    <td class="wrap">
      ${groups.length > 0 ? groups.map((g, i) => html`${i > 0 ? ', ' : ''}<code>${g}</code>`) : html`<span class="muted">none</span>`}
      ${more > 0 ? html` <span class="muted">and ${more} more</span>` : ''}
    </td>
    <td>${roleCell(u)}</td>
    <td>${u.disabled ? html`<span class="outcome outcome-failure">disabled</span>` : 'enabled'}</td>
    <td>
      ${fmtTime(u.lastLoginAt)}<br /><span class="muted"
        >${u.lastLoginFlow ? FLOW_LABELS[u.lastLoginFlow] : u.kind === 'local' ? 'password' : '—'}</span
      >
    </td>
    <td class="actions">
      <form method="post" action="${action}" class="inline">
        <input type="hidden" name="_csrf" value="${token}" />
        <input type="hidden" name="disabled" value="${u.disabled ? 'false' : 'true'}" />
        <button type="submit" class="secondary">${u.disabled ? 'Enable' : 'Disable'}</button>
      </form>
      <form method="post" action="${action}" class="inline role-form">
        <input type="hidden" name="_csrf" value="${token}" />
        <select name="role" aria-label="${`Role of ${who}`}">
          <option value="auto" ${u.roleOverride === null ? html`selected` : ''}>
            ${u.kind === 'sso' ? 'automatic (groups)' : 'automatic'}
          </option>
          <option value="admin" ${u.roleOverride === 'admin' ? html`selected` : ''}>admin</option>
          <option value="member" ${u.roleOverride === 'member' ? html`selected` : ''}>member</option>
        </select>
        <button type="submit" class="secondary">Set role</button>
      </form>
    </td>
  </tr>`;
}

/** The users table, with the forms to disable/enable a user and set their role. */
export function usersSection(base: string, token: string, users: UserView[], self: string): Html {
  const shown = users.slice(0, MAX_USERS_SHOWN);
  return html`<section id="users">
    <h2>Users <span class="muted">(${users.length})</span></h2>
    <p class="muted">
      Groups are as the identity provider last sent them. A role set by an admin wins over the groups;
      "automatic" follows the admin groups again. Disabling a user ends their sessions at once. The last
      administrator who can sign in cannot be disabled or demoted here.
    </p>
    ${
      users.length === 0
        ? html`<p class="muted">No users yet. Users are created at their first single sign-on.</p>`
        : html`<p class="scroll-hint muted">Scroll the table sideways to see every column.</p>
            <div class="table-wrap" tabindex="0" role="region" aria-label="Users">
              <table class="users">
                <thead>
                  <tr>
                    <th>User</th>
                    <th>IdP groups</th>
                    <th>Role</th>
                    <th>Status</th>
                    <th>Last sign-in</th>
                    <th>Actions</th>
                  </tr>
                </thead>
                <tbody>
                  ${shown.map((u) => userRow(base, token, u, self))}
                </tbody>
              </table>
            </div>
            ${users.length > shown.length ? html`<p class="muted">Showing the first ${shown.length}.</p>` : ''}`
    }
  </section>`;
}
