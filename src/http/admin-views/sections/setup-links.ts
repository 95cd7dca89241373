/** The "Setup links" section of the admin page. */
import type { SetupLinkView } from '../../../accounts/setup-links.js';
import { html, table, type Html } from '../../views.js';
import { fmtTime } from '../format.js';
import { cliCommand } from '../../../cli/command.js';

/** The setup links of the account, with a form to revoke each active one. */
export function setupLinksSection(
  base: string,
  token: string,
  links: SetupLinkView[],
  currentLink: string | undefined,
): Html {
  const rows = links.map(
    (l) =>
      html`<tr>
        <td><code>${l.id.slice(0, 8)}</code></td>
        <td>${fmtTime(l.createdAt)}</td>
        <td>${fmtTime(l.expiresAt)}</td>
        <td>${l.status}${l.id === currentLink ? ' (this browser)' : ''}</td>
        <td>
          ${
            l.status === 'active'
              ? html`<form
                  method="post"
                  action="${`${base}/admin/setup-links/${l.id}/revoke`}"
                  class="inline"
                >
                  <input type="hidden" name="_csrf" value="${token}" />
                  <button type="submit" class="secondary">Revoke</button>
                </form>`
              : ''
          }
        </td>
      </tr>`,
  );
  return html`<section>
    <h2>Setup links</h2>
    <p class="muted">
      Links that open these setup pages without a password, made by the operator
      (<code>${cliCommand('create-setup-link ACCOUNT')}</code>). Revoking a link ends the sessions it opened.
    </p>
    ${
      links.length === 0
        ? html`<p class="muted">No setup links.</p>`
        : table(['Link', 'Created', 'Expires', 'Status', ''], rows)
    }
  </section>`;
}
