/** The IdP import forms of the admin page (both post multipart). */
import { html, type Html } from '../../views.js';
import type { FormState } from '../forms.js';
import type { ConnectionJson } from './connection.js';

/** The import forms: certificate + SAML Protocol URL (+ entity ID), the IdP metadata URL, or the metadata file. */
export function importSection(
  base: string,
  token: string,
  conn: ConnectionJson | null,
  form: FormState,
): Html {
  const ssoUrl = form.idp?.ssoUrl ?? conn?.ssoUrl ?? '';
  const metadataUrl = form.metadataUrl ?? conn?.idpMetadataUrl ?? '';
  const entityId =
    form.idp?.idpEntityId ?? (conn?.idpEntityIdSource === 'admin' ? (conn.idpEntityId ?? '') : '');
  return html`<section>
    <h2>${conn ? 'Replace the identity provider' : 'Import the identity provider'}</h2>
    <p class="muted">
      A new import replaces the current one only when it is fully valid; otherwise nothing changes.
    </p>
    <form method="post" action="${`${base}/admin/idp`}" enctype="multipart/form-data">
      <input type="hidden" name="_csrf" value="${token}" />
      <label for="certificate">IdP signing certificate file (.pem, .crt, .cer)</label>
      <input
        id="certificate"
        name="certificate"
        type="file"
        accept=".pem,.crt,.cer,application/x-x509-ca-cert,application/x-pem-file"
      />
      <label for="certificatePem">…or paste the certificate (PEM)</label>
      <textarea
        id="certificatePem"
        name="certificatePem"
        rows="5"
        spellcheck="false"
        placeholder="-----BEGIN CERTIFICATE-----"
      ></textarea>
      <label for="ssoUrl">SAML Protocol URL</label>
      <input
        id="ssoUrl"
        name="ssoUrl"
        type="url"
        required
        value="${ssoUrl}"
        placeholder="https://TENANT.auth0.com/samlp/CLIENT_ID"
      />
      <label for="idpEntityId"
        >IdP entity ID <span class="muted">(optional, e.g. urn:TENANT.auth0.com)</span></label
      >
      <input id="idpEntityId" name="idpEntityId" value="${entityId}" spellcheck="false" />
      <button type="submit">Import</button>
    </form>
    <h3>…or import from the IdP metadata URL <span class="muted">(refreshed on a schedule)</span></h3>
    <p class="muted">
      The metadata is fetched now and again on a schedule, so a certificate the IdP rotates is picked up
      without an outage. In Auth0: Addons &gt; SAML2 Web App &gt; Usage &gt; Identity Provider Metadata.
    </p>
    <form method="post" action="${`${base}/admin/idp/metadata-url`}">
      <input type="hidden" name="_csrf" value="${token}" />
      <label for="metadataUrl">IdP metadata URL</label>
      <input
        id="metadataUrl"
        name="metadataUrl"
        type="url"
        required
        value="${metadataUrl}"
        spellcheck="false"
        placeholder="https://TENANT.auth0.com/samlp/metadata/CLIENT_ID"
      />
      <button type="submit">Import from URL</button>
    </form>
    <h3>…or upload the IdP metadata file</h3>
    <form method="post" action="${`${base}/admin/idp/metadata`}" enctype="multipart/form-data">
      <input type="hidden" name="_csrf" value="${token}" />
      <label for="metadata">IdP metadata XML file</label>
      <input
        id="metadata"
        name="metadata"
        type="file"
        required
        accept=".xml,application/xml,text/xml,application/samlmetadata+xml"
      />
      <button type="submit">Import metadata</button>
    </form>
  </section>`;
}
