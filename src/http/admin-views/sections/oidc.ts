/**
 * The OAuth 2.0 / OpenID Connect part of the admin page: the connection's status, the values to paste
 * into Auth0 (callback and login URLs, with copy buttons), the form that configures it (in Auth0's
 * words: "Regular Web Application" or "Single Page Application"), the test sign-in and the remove
 * button. The client secret is a password field, never put back into the page.
 */
import type { OidcConnectionView } from '../../../connections/oidc-service.js';
import { spUrls } from '../../../connections/urls.js';
import type { Account } from '../../../storage/types.js';
import { html, type Html } from '../../views.js';
import { fmtTime } from '../format.js';
import type { OidcFormValues } from '../forms.js';
import { copyable } from './auth0.js';

/** Web vs SPA, in the words of the Auth0 guides (seeds 001 / 004). */
const CLIENT_TYPES = [
  {
    value: 'confidential',
    label: 'Regular Web Application (Web: Client ID and Client Secret)',
    text: 'For confidential clients: you must provide both the Client ID and the Client Secret. Simply passing the Client ID will cause the authorization process to fail, as the authorization code flow requires both credentials.',
  },
  {
    value: 'public',
    label: 'Single Page Application (SPA: Client ID only)',
    text: 'For public clients: only the Client ID. Providing both the Client ID and the Client Secret will result in a failure; the sign-in is protected with PKCE instead.',
  },
] as const;

/** The form's values: what a rejected post showed, else the connection's, else empty. */
function formValues(conn: OidcConnectionView | null, form: OidcFormValues | undefined): OidcFormValues {
  if (form) return form;
  const manual = conn?.source === 'manual';
  return {
    issuer: conn?.issuer ?? '',
    clientId: conn?.clientId ?? '',
    clientType: conn?.clientType ?? 'confidential',
    tokenEndpointAuthMethod:
      conn?.tokenEndpointAuthMethod === 'client_secret_post' ? 'client_secret_post' : '',
    authorizationUrl: manual ? conn.authorizationUrl : '',
    tokenUrl: manual ? conn.tokenUrl : '',
    jwksUri: manual ? conn.jwksUri : '',
    userinfoUrl: manual ? (conn.userinfoUrl ?? '') : '',
  };
}

function urlField(id: keyof OidcFormValues, label: string, value: string, placeholder: string): Html {
  return html`<label for="${`oidc-${id}`}">${label}</label>
    <input
      id="${`oidc-${id}`}"
      name="${id}"
      type="url"
      value="${value}"
      autocomplete="off"
      spellcheck="false"
      autocapitalize="none"
      placeholder="${placeholder}"
    />`;
}

/** The OIDC section: status, values for Auth0, the configuration form, test and remove. */
export function oidcSection(
  base: string,
  token: string,
  baseUrl: string,
  account: Account,
  conn: OidcConnectionView | null,
  form: OidcFormValues | undefined,
): Html {
  const urls = spUrls(baseUrl, account.slug);
  const v = formValues(conn, form);
  const explicitOpen = v.authorizationUrl !== '' || v.tokenUrl !== '' || v.jwksUri !== '';
  const badge = conn
    ? html`<span class="${`badge badge-${conn.status}`}">${conn.status}</span>`
    : html`<span class="badge badge-none">not connected</span>`;
  const current = conn
    ? html`<p class="muted">
          ${conn.status === 'active' ? `Active since ${fmtTime(conn.activatedAt)}.` : 'Pending: the connection becomes active at the first successful sign-in or passing test sign-in.'}
        </p>
        <dl class="values">
          <dt>Application type</dt>
          <dd>${conn.auth0.applicationType} <span class="muted">(${conn.clientType})</span></dd>
          <dt>Issuer</dt>
          <dd>
            <code class="wrap">${conn.issuer}</code>
            <span class="muted"
              >(${conn.source === 'discovery' ? 'endpoints by discovery' : 'endpoints given'})</span
            >
          </dd>
          <dt>Client ID</dt>
          <dd><code class="wrap">${conn.clientId}</code></dd>
          <dt>Client Secret</dt>
          <dd>
            ${conn.clientSecretSet ? 'set (stored encrypted, never shown)' : html`<span class="muted">none (public client)</span>`}
          </dd>
          <dt>Token endpoint authentication</dt>
          <dd>
            ${conn.auth0.tokenEndpointAuthenticationMethod}
            <span class="muted">(${conn.tokenEndpointAuthMethod})</span>
          </dd>
          <dt>Authorization endpoint</dt>
          <dd><code class="wrap">${conn.authorizationUrl}</code></dd>
          <dt>Token endpoint</dt>
          <dd><code class="wrap">${conn.tokenUrl}</code></dd>
          <dt>JSON Web Key Set</dt>
          <dd><code class="wrap">${conn.jwksUri}</code></dd>
          <dt>Userinfo endpoint</dt>
          <dd>
            ${conn.userinfoUrl ? html`<code class="wrap">${conn.userinfoUrl}</code>` : html`<span class="muted">none</span>`}
          </dd>
          <dt>Last change</dt>
          <dd>${fmtTime(conn.updatedAt)}</dd>
        </dl>`
    : html`<p>
        No OAuth 2.0 / OpenID Connect provider is connected yet. Put the callback URL below into Auth0, then
        fill in the form.
      </p>`;
  return html`<section id="oidc">
      <h2>OAuth 2.0 / OpenID Connect ${badge}</h2>
      ${current}
    </section>
    <section>
      <h2>Values for Auth0 (OAuth 2.0 / OpenID Connect)</h2>
      <ol class="steps">
        <li>
          In Auth0, open <strong>Applications → Applications</strong> and open (or create) your application: a
          <strong>Regular Web Application</strong> or a <strong>Single Page Application</strong>.
        </li>
        <li>
          In its Settings, add the callback URL below to <strong>Allowed Callback URLs</strong> and save. You
          can add several callback URLs there by separating them with a comma.
        </li>
        <li>
          Copy the <strong>Domain</strong> (the issuer is <code>https://YOUR_DOMAIN/</code>, with the trailing
          slash), the <strong>Client ID</strong> and, for a Regular Web Application, the
          <strong>Client Secret</strong> into the form below.
        </li>
        <li>Run a test sign-in: a passing test activates the connection.</li>
      </ol>
      <dl class="values">
        <dt>Allowed Callback URLs</dt>
        <dd>
          ${copyable('value-oidc-callback', urls.oidcCallbackUrl)}
          <br /><span class="muted"
            >Several URLs are separated by commas in Auth0's field: add this one, keep the others.</span
          >
        </dd>
        <dt>Login URL</dt>
        <dd>${copyable('value-oidc-login', urls.oidcLoginUrl)}</dd>
      </dl>
    </section>
    <section>
      <h2>${conn ? 'Replace the OpenID Connect settings' : 'Connect over OpenID Connect'}</h2>
      <p class="muted">
        The settings are saved only when they are fully valid and the provider answers; otherwise nothing
        changes.
      </p>
      <form method="post" action="${`${base}/admin/oidc`}" autocomplete="off">
        <input type="hidden" name="_csrf" value="${token}" />
        <fieldset class="choices">
          <legend>Application type (as Auth0 names it)</legend>
          ${CLIENT_TYPES.map(
            (c) =>
              html`<label class="choice"
                ><input
                  type="radio"
                  name="clientType"
                  value="${c.value}"
                  ${v.clientType === c.value ? html`checked` : ''}
                />
                <span><strong>${c.label}</strong><br /><span class="muted">${c.text}</span></span></label
              >`,
          )}
        </fieldset>
        <label for="oidc-issuer"
          >Issuer <span class="muted">(Auth0: https://YOUR_DOMAIN/, with the trailing slash)</span></label
        >
        <input
          id="oidc-issuer"
          name="issuer"
          type="url"
          required
          value="${v.issuer}"
          autocomplete="off"
          spellcheck="false"
          autocapitalize="none"
          placeholder="https://YOUR_TENANT.auth0.com/"
        />
        <label for="oidc-clientId">Client ID</label>
        <input
          id="oidc-clientId"
          name="clientId"
          required
          value="${v.clientId}"
          autocomplete="off"
          spellcheck="false"
          autocapitalize="none"
        />
        <label for="oidc-clientSecret"
          >Client Secret
          <span class="muted"
            >(Regular Web Application only;
            ${conn?.clientSecretSet ? 'type it again to save changes' : 'leave empty for a Single Page Application'})</span
          ></label
        >
        <input
          id="oidc-clientSecret"
          name="clientSecret"
          type="password"
          autocomplete="new-password"
          value=""
          spellcheck="false"
        />
        <label for="oidc-tokenEndpointAuthMethod"
          >Token endpoint authentication method
          <span class="muted"
            >(Regular Web Application; Auth0: Credentials → Authentication Method)</span
          ></label
        >
        <select id="oidc-tokenEndpointAuthMethod" name="tokenEndpointAuthMethod">
          <option value="" ${v.tokenEndpointAuthMethod === '' ? html`selected` : ''}>
            Client Secret (Basic) — the default
          </option>
          <option
            value="client_secret_post"
            ${v.tokenEndpointAuthMethod === 'client_secret_post' ? html`selected` : ''}
          >
            Client Secret (Post)
          </option>
        </select>
        <details ${explicitOpen ? html`open` : ''}>
          <summary>Endpoints instead of discovery <span class="muted">(optional)</span></summary>
          <p class="muted">
            Leave these empty to read them from the issuer's discovery document. In Auth0: Settings → Advanced
            Settings → Endpoints.
          </p>
          ${urlField('authorizationUrl', 'OAuth Authorization URL', v.authorizationUrl, 'https://YOUR_TENANT.auth0.com/authorize')}
          ${urlField('tokenUrl', 'OAuth Token URL', v.tokenUrl, 'https://YOUR_TENANT.auth0.com/oauth/token')}
          ${urlField('jwksUri', 'JSON Web Key Set', v.jwksUri, 'https://YOUR_TENANT.auth0.com/.well-known/jwks.json')}
          ${urlField('userinfoUrl', 'OAuth User Info URL (optional)', v.userinfoUrl, 'https://YOUR_TENANT.auth0.com/userinfo')}
        </details>
        <button type="submit">${conn ? 'Save the OpenID Connect settings' : 'Connect'}</button>
      </form>
    </section>
    ${
      conn
        ? html`<section>
              <h2>Test sign-in (OpenID Connect)</h2>
              <p>
                Opens your provider's sign-in page; sign in there and you come back to a checklist of
                everything this site checks (state, token exchange, ID token signature, issuer, audience,
                expiry, nonce, verified e-mail, userinfo, groups and role), with what to change for each
                failure. It signs nobody in or out and creates no
                user.${conn.status === 'pending' ? ' A passing test activates the connection.' : ''}
              </p>
              <form method="post" action="${`${base}/admin/tests`}">
                <input type="hidden" name="_csrf" value="${token}" />
                <input type="hidden" name="protocol" value="oidc" />
                <button type="submit">Test sign-in</button>
              </form>
            </section>
            <section>
              <h2>Remove the OpenID Connect connection</h2>
              <p class="muted">
                Its users stay (they cannot sign in with OpenID Connect until a connection is configured
                again).
              </p>
              <form method="post" action="${`${base}/admin/oidc/delete`}">
                <input type="hidden" name="_csrf" value="${token}" />
                <label class="check"
                  ><input type="checkbox" name="confirm" value="yes" required /> I understand: nobody can sign
                  in with OpenID Connect until a connection is configured again, and the client secret is
                  deleted.</label
                >
                <button type="submit" class="danger">Remove the connection</button>
              </form>
            </section>`
        : ''
    }`;
}

/** The protocol switch at the top of the page: each protocol with its connection's status. */
export function protocolNav(
  base: string,
  chosen: 'saml' | 'oidc',
  status: { saml: string | null; oidc: string | null },
): Html {
  const item = (protocol: 'saml' | 'oidc', label: string) => {
    const s = status[protocol];
    return html`<a
      href="${`${base}/admin?protocol=${protocol}`}"
      class="${`protocol${chosen === protocol ? ' current' : ''}`}"
      ${chosen === protocol ? html`aria-current="page"` : ''}
      >${label} <span class="${`badge badge-${s ?? 'none'}`}">${s ?? 'not connected'}</span></a
    >`;
  };
  return html`<nav class="protocols" aria-label="Protocol">
    <p class="muted">
      Connect your identity provider with SAML <em>or</em> OAuth 2.0 / OpenID Connect; each has its own values
      to copy.
    </p>
    <div class="protocol-tabs">${item('saml', 'SAML 2.0')} ${item('oidc', 'OAuth 2.0 / OpenID Connect')}</div>
  </nav>`;
}
