import { SpError } from '../errors.js';
import { BINDING_POST, BINDING_REDIRECT, NS } from './constants.js';
import { children, parseUntrustedXml, textOf, type Element } from './xml.js';

/** What we take from IdP metadata. */
export interface IdpMetadata {
  entityId: string;
  /** SSO endpoint for the HTTP-Redirect binding. */
  ssoUrl: string;
  /** Signing certificates as bare base64 DER bodies. */
  signingCertificates: string[];
}

const MAX_METADATA_BYTES = 512 * 1024;

/**
 * Parses IdP metadata XML (an EntityDescriptor, or an EntitiesDescriptor holding exactly one IdP).
 * DOCTYPEs are refused (XXE). The document is uploaded or pasted by an admin, or fetched from the
 * admin's metadata URL by src/connections/fetch-metadata.ts (which carries the SSRF rules); either
 * way it is untrusted text here.
 */
export function parseIdpMetadata(xml: string): IdpMetadata {
  if (Buffer.byteLength(xml, 'utf8') > MAX_METADATA_BYTES) {
    throw new SpError('METADATA_INVALID', { message: 'The IdP metadata is larger than 512 KiB.' });
  }
  const root = parseUntrustedXml(xml, {
    malformed: 'METADATA_INVALID',
    doctype: 'METADATA_DOCTYPE_FORBIDDEN',
  }).documentElement!;
  let entities: Element[];
  if (root.namespaceURI === NS.metadata && root.localName === 'EntityDescriptor') entities = [root];
  else if (root.namespaceURI === NS.metadata && root.localName === 'EntitiesDescriptor') {
    entities = children(root, NS.metadata, 'EntityDescriptor');
  } else {
    throw new SpError('METADATA_INVALID', {
      message: 'The IdP metadata must be a SAML 2.0 EntityDescriptor.',
    });
  }
  const idps = entities.flatMap((e) => children(e, NS.metadata, 'IDPSSODescriptor').map((d) => ({ e, d })));
  if (idps.length !== 1) {
    throw new SpError('METADATA_INVALID', {
      message: `The IdP metadata must describe exactly one identity provider (found ${idps.length}).`,
    });
  }
  const { e: entity, d: idp } = idps[0]!;
  const entityId = entity.getAttribute('entityID')?.trim() ?? '';
  if (!entityId) throw new SpError('METADATA_INVALID', { message: 'The IdP metadata has no entityID.' });

  const services = children(idp, NS.metadata, 'SingleSignOnService');
  const redirect = services.find((s) => s.getAttribute('Binding') === BINDING_REDIRECT);
  if (!redirect) {
    const hasPost = services.some((s) => s.getAttribute('Binding') === BINDING_POST);
    throw new SpError('METADATA_INVALID', {
      message: hasPost
        ? 'The IdP metadata offers only the HTTP-POST binding; an HTTP-Redirect SingleSignOnService is required.'
        : 'The IdP metadata has no SingleSignOnService.',
    });
  }
  const ssoUrl = redirect.getAttribute('Location')?.trim() ?? '';

  const signingCertificates: string[] = [];
  for (const kd of children(idp, NS.metadata, 'KeyDescriptor')) {
    const use = kd.getAttribute('use');
    if (use && use !== 'signing') continue;
    for (const keyInfo of children(kd, NS.dsig, 'KeyInfo')) {
      for (const data of children(keyInfo, NS.dsig, 'X509Data')) {
        for (const c of children(data, NS.dsig, 'X509Certificate')) {
          signingCertificates.push(textOf(c).replace(/\s+/g, ''));
        }
      }
    }
  }
  if (signingCertificates.length === 0) {
    throw new SpError('CERT_MISSING', { message: 'The IdP metadata has no signing certificate.' });
  }
  return { entityId, ssoUrl, signingCertificates };
}

/** Wraps a base64 DER body as PEM. */
export function derBase64ToPem(body: string): string {
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
