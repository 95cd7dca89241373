/** The sections of the admin page with the values to configure in Auth0. */
import { auth0Settings } from '../../../connections/service.js';
import { spUrls } from '../../../connections/urls.js';
import type { Account } from '../../../storage/types.js';
import { html, type Html } from '../../views.js';

/** A value to paste into the IdP, with a button that copies it. */
export function copyable(id: string, value: string): Html {
  return html`<code class="wrap" id="${id}">${value}</code>
    <button type="button" class="copy secondary" data-copy="${id}">Copy</button>`;
}

/** The values to paste into Auth0 (callback URL, audience, metadata and login URLs), with the steps. */
export function auth0Section(baseUrl: string, account: Account): Html {
  const urls = spUrls(baseUrl, account.slug);
  const a0 = auth0Settings(urls);
  return html`<section>
    <h2>Values for Auth0</h2>
    <ol class="steps">
      ${a0.steps.map((s) => html`<li>${s}</li>`)}
    </ol>
    <dl class="values">
      <dt>Application Callback URL</dt>
      <dd>${copyable('value-callback', a0.applicationCallbackUrl)}</dd>
      <dt>Audience (SP entity ID)</dt>
      <dd>${copyable('value-audience', a0.addonSettings.audience)}</dd>
      <dt>SP metadata URL</dt>
      <dd>${copyable('value-metadata', urls.metadataUrl)}</dd>
      <dt>Login URL</dt>
      <dd>${copyable('value-login', urls.loginUrl)}</dd>
    </dl>
    <p class="muted">The addon's Settings JSON is below the import form.</p>
  </section>`;
}

/** The long Settings JSON for Auth0's SAML2 Web App addon, after the import form. */
export function auth0JsonSection(baseUrl: string, account: Account): Html {
  const a0 = auth0Settings(spUrls(baseUrl, account.slug));
  return html`<section>
    <h2>SAML2 Web App addon — Settings JSON</h2>
    <p>Paste it into the addon's Settings tab in Auth0, replacing what is there.</p>
    <pre class="json" id="value-settings-json">${JSON.stringify(a0.addonSettings, null, 2)}</pre>
    <button type="button" class="copy secondary" data-copy="value-settings-json">Copy the JSON</button>
  </section>`;
}
