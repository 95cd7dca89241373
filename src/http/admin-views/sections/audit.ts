/** The audit trail of the admin page: recent sign-ins and changes, and the reference lookup page. */
import type { AuditEvent } from '../../../storage/types.js';
import { html, table, type Html } from '../../views.js';
import { fmtTime } from '../format.js';

/** One event of the trail in full: what a user's reference leads the admin to. */
export function referenceBody(base: string, ref: string, e: AuditEvent | null): Html {
  const field = (label: string, value: string | null) =>
    value
      ? html`<dt>${label}</dt>
          <dd><code class="wrap">${value}</code></dd>`
      : '';
  return html`<div class="admin">
    <h1>Reference <code>${ref}</code></h1>
    ${
      e === null
        ? html`<p class="error">
            No event of this account has this reference. References of requests that named no account, or that
            were rate limited, are only in the server log.
          </p>`
        : html`<dl class="values">
              <dt>Time</dt>
              <dd>${fmtTime(e.at)}</dd>
              <dt>Outcome</dt>
              <dd><span class="${`outcome outcome-${e.outcome}`}">${e.outcome}</span></dd>
              <dt>Code</dt>
              <dd><code>${e.code}</code></dd>
              ${field('Subject', e.subject)} ${field('User id', e.userId)} ${field('Client IP', e.clientIp)}
              ${field('Detail', e.detail)} ${field('Expected', e.expected)} ${field('Received', e.received)}
            </dl>
            ${e.hint ? html`<p class="hint">${e.hint}</p>` : ''}`
    }
    <p><a href="${`${base}/admin#audit`}">Back to the setup page</a></p>
  </div>`;
}

/** The audit trail: the reference lookup form and the recent sign-ins and changes. */
export function auditSection(base: string, events: AuditEvent[]): Html {
  const rows = events.map(
    (e) =>
      html`<tr>
        <td>${fmtTime(e.at)}</td>
        <td><span class="${`outcome outcome-${e.outcome}`}">${e.outcome}</span></td>
        <td class="wrap">
          <code>${e.code}</code>
          ${
            e.outcome === 'failure' && e.hint
              ? html`<p class="hint">${e.hint}</p>
                  ${e.expected ? html`<p class="muted">Expected: <code>${e.expected}</code></p>` : ''}
                  ${e.received ? html`<p class="muted">Received: <code>${e.received}</code></p>` : ''}`
              : ''
          }
        </td>
        <td class="wrap">${e.subject ?? ''}</td>
        <td class="wrap">${e.detail ?? ''}</td>
        <td><code>${e.referenceId}</code></td>
      </tr>`,
  );
  return html`<section id="audit">
    <h2>Audit trail</h2>
    <form method="get" action="${`${base}/admin/reference`}" class="reference-search">
      <label for="ref">Look up the reference of an error page <span class="muted">(ref_…)</span></label>
      <input id="ref" name="ref" required pattern="ref_[0-9a-f]{16}" placeholder="ref_0123456789abcdef" />
      <button type="submit" class="secondary">Look up</button>
    </form>
    <h3>Recent sign-ins and changes</h3>
    ${
      events.length === 0
        ? html`<p class="muted">No sign-in attempts yet.</p>`
        : table(['Time', 'Outcome', 'Code and what to change', 'Subject', 'Detail', 'Reference'], rows)
    }
  </section>`;
}
