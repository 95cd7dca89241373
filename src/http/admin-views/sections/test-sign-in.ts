/** Test sign-in: the section that starts a test, and the page with its verdict. */
import type { SignInTestView } from '../../../sso/service.js';
import type { SignInCheck } from '../../../storage/types.js';
import { html, type Html } from '../../views.js';
import type { ConnectionJson } from './connection.js';

/** The "Test sign-in" button (only once an IdP is imported). */
export function testSection(base: string, token: string, conn: ConnectionJson | null): Html | string {
  if (!conn) return '';
  return html`<section>
    <h2>Test sign-in</h2>
    <p>
      Opens your identity provider; sign in there and you come back to a checklist of everything this SP
      checks, with the setting to change for each failure. It signs nobody in or out and creates no
      user.${conn.status === 'pending' ? ' A passing test activates the connection.' : ''}
    </p>
    <form method="post" action="${`${base}/admin/tests`}">
      <input type="hidden" name="_csrf" value="${token}" />
      <button type="submit">Test sign-in</button>
    </form>
  </section>`;
}

/**
 * Where a failed test's fix is: at the identity provider, unless the failure is the transport check
 * (how this site is reached: the proxy in front of it, TRUST_PROXY), which no IdP setting changes.
 */
function failedVerdictAdvice(checks: readonly SignInCheck[]): string {
  const failed = checks.filter((c) => !c.ok && c.evaluated);
  const transport = failed.some((c) => c.name === 'transport');
  if (transport && failed.length === 1) {
    return 'The identity provider answered correctly; fix how this site is reached (the proxy in front of it, or TRUST_PROXY: see the failed check), then test again.';
  }
  if (transport) {
    return 'Fix the failed checks, at the identity provider and in how this site is reached (the proxy in front of it, or TRUST_PROXY), then test again.';
  }
  return 'Fix the failed checks at the identity provider, then test again.';
}

/** The verdict of a test sign-in, as a checklist. */
export function verdictBody(base: string, test: SignInTestView): Html {
  const badge =
    test.status === 'passed'
      ? html`<span class="badge badge-active">passed</span>`
      : test.status === 'failed'
        ? html`<span class="badge badge-failed">failed</span>`
        : html`<span class="badge badge-pending">waiting for the IdP</span>`;
  const items = test.checks.map(
    (c) =>
      html`<li class="${c.ok ? 'check-ok' : c.evaluated ? 'check-failed' : 'check-skipped'}">
        <strong>${c.ok ? '✓' : c.evaluated ? '✗' : '–'} ${c.label}</strong>
        ${c.received ? html`<p class="muted">Received: <code>${c.received}</code></p>` : ''}
        ${!c.ok && c.expected ? html`<p class="muted">Expected: <code>${c.expected}</code></p>` : ''}
        ${!c.ok && c.hint ? html`<p class="hint">${c.hint}</p>` : ''}
      </li>`,
  );
  return html`<div class="admin">
    <h1>Test sign-in${test.protocol === 'oidc' ? ' (OpenID Connect)' : ''} ${badge}</h1>
    ${
      test.status === 'passed'
        ? html`<p class="ok">Every check passed: users of this identity provider can sign in.</p>`
        : test.status === 'failed'
          ? html`<p class="error">${failedVerdictAdvice(test.checks)}</p>`
          : html`<p class="muted">
                The identity provider has not answered yet. Reload this page once you have signed in at the
                identity provider.
              </p>
              <p class="muted">
                Signed in there and nothing arrives? The answer went somewhere else:
                ${
                  test.protocol === 'oidc'
                    ? html`the application's "Allowed Callback URLs" must hold the callback URL shown on the
                      setup page, exactly.`
                    : html`the Auth0 application's "Application Callback URL" (Addons &gt; SAML2 Web App &gt;
                      Settings) must be the ACS URL shown on the setup page, exactly.`
                }
                This test expires at ${test.expiresAt.replace('T', ' ').slice(0, 16)} UTC.
              </p>`
    }
    <ol class="checklist">
      ${items}
    </ol>
    <p class="muted">Reference <code>${test.referenceId ?? '—'}</code> · test <code>${test.id}</code></p>
    <p>
      <a href="${`${base}/admin${test.protocol === 'oidc' ? '?protocol=oidc' : ''}`}"
        >Back to the setup page</a
      >
    </p>
  </div>`;
}
