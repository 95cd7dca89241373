/** The "Connection" section of the admin page: the connected IdP and its certificates. */
import type { connectionView } from '../../../connections/service.js';
import { html, table, type Html } from '../../views.js';
import { fmtTime } from '../format.js';

/** A connection as the JSON API shows it (what the page's sections read). */
export type ConnectionJson = ReturnType<typeof connectionView>;

/** "expires in 23 days" / "expired 2 days ago", for a certificate's notAfter. */
function expiresIn(iso: string): string {
  const days = Math.floor((Date.parse(iso) - Date.now()) / 86_400_000);
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  return days === 0 ? 'expires today' : `expires in ${days} day${days === 1 ? '' : 's'}`;
}

/** "3 hours ago" / "just now", for a past instant. */
function ago(iso: string): string {
  const minutes = Math.floor((Date.now() - Date.parse(iso)) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 120) return `${minutes} minute${minutes === 1 ? '' : 's'} ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} hours ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/** Where the IdP values come from when a metadata URL is refreshed: the URL, the last refresh, the last error. */
function metadataUrlValues(base: string, token: string, conn: ConnectionJson): Html {
  if (!conn.idpMetadataUrl) return html``;
  const error = conn.idpMetadataRefreshError;
  return html`<dt>IdP metadata URL</dt>
    <dd><code class="wrap">${conn.idpMetadataUrl}</code></dd>
    <dt>Last refreshed</dt>
    <dd>
      ${fmtTime(conn.idpMetadataRefreshedAt)}
      ${conn.idpMetadataRefreshedAt ? html`<span class="muted">(${ago(conn.idpMetadataRefreshedAt)})</span>` : ''}
      <form method="post" action="${`${base}/admin/idp/refresh`}" class="inline">
        <input type="hidden" name="_csrf" value="${token}" />
        <button type="submit" class="secondary small">Refresh now</button>
      </form>
    </dd>
    <dt>Last refresh error</dt>
    <dd>
      ${
        error
          ? html`<span class="refresh-error"
                ><strong>${fmtTime(error.at)}</strong> <code>${error.code}</code><br />${error.message}</span
              ><br /><span class="muted">The last good metadata stays in use until a refresh succeeds.</span>`
          : html`<span class="muted">none</span>`
      }
    </dd>`;
}

/** The connection: its status, warnings, the IdP values and the trusted certificates. */
export function connectionSection(conn: ConnectionJson | null, base = '', token = ''): Html {
  if (!conn) {
    return html`<section>
      <h2>Connection <span class="badge badge-none">not connected</span></h2>
      <p>
        No identity provider is connected yet. Configure Auth0 with the values below, then import its
        certificate and SAML Protocol URL.
      </p>
    </section>`;
  }
  const certs = conn.certificates.map(
    (c) =>
      html`<tr>
        <td><code class="wrap">${c.fingerprintSha256}</code></td>
        <td>${c.subject}</td>
        <td>${fmtTime(c.notBefore)}</td>
        <td>${fmtTime(c.notAfter)}<br /><span class="muted">${expiresIn(c.notAfter)}</span></td>
      </tr>`,
  );
  const warnings = conn.warnings.map((w) => html`<li>${w}</li>`);
  return html`<section>
    <h2>Connection <span class="${`badge badge-${conn.status}`}">${conn.status}</span></h2>
    <p class="muted">
      ${conn.status === 'active' ? `Active since ${fmtTime(conn.activatedAt)}.` : 'Pending: the connection becomes active at the first successful single sign-on.'}
    </p>
    ${
      warnings.length > 0
        ? html`<div class="warning">
            <strong>Warnings</strong>
            <ul>
              ${warnings}
            </ul>
          </div>`
        : ''
    }
    <dl class="values">
      <dt>SAML Protocol URL (IdP)</dt>
      <dd><code class="wrap">${conn.ssoUrl}</code></dd>
      <dt>IdP entity ID</dt>
      <dd>
        ${conn.idpEntityId === null ? html`<span class="muted">not known yet (pinned at the first login)</span>` : html`<code class="wrap">${conn.idpEntityId}</code> <span class="muted">(${conn.idpEntityIdSource ?? ''})</span>`}
      </dd>
      <dt>Last import</dt>
      <dd>${fmtTime(conn.updatedAt)}</dd>
      ${metadataUrlValues(base, token, conn)}
    </dl>
    <h3>Trusted certificates</h3>
    ${table(['SHA-256 fingerprint', 'Subject', 'Valid from', 'Valid until'], certs)}
  </section>`;
}
