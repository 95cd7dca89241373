/**
 * A small, test-only SAML 2.0 identity provider.
 *
 * It mints signed `<samlp:Response>` documents shaped like the output of Auth0's
 * "SAML2 Web App" addon, decodes HTTP-Redirect AuthnRequests sent by the SP, verifies
 * their redirect-binding signatures, and renders minimal IdP metadata.
 *
 * Every key it uses lives in `test/fixtures/` and is public: never use them outside tests.
 *
 * @module
 */
import { createVerify, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

import { DOMParser } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';

/** A PEM private key and its matching PEM certificate. */
export interface IdpKey {
  /** PKCS#8 PEM private key. */
  privateKey: string;
  /** PEM X.509 certificate for `privateKey`. */
  cert: string;
}

function readFixture(relative: string): string {
  return readFileSync(new URL(relative, import.meta.url), 'utf8');
}

function loadKey(name: string): IdpKey {
  return {
    privateKey: readFixture(`../fixtures/${name}.key`),
    cert: readFixture(`../fixtures/${name}.crt`),
  };
}

/** The test IdP's legitimate signing pair (`test/fixtures/idp.*`, CN=test-tenant.auth0.com). */
export const idpKey: IdpKey = loadKey('idp');

/** A second legitimate IdP pair, for certificate-rotation tests (`test/fixtures/idp-rotated.*`). */
export const rotatedIdpKey: IdpKey = loadKey('idp-rotated');

/**
 * An attacker's pair (`test/fixtures/attacker.*`). Its certificate has the SAME subject as
 * {@link idpKey} (CN=test-tenant.auth0.com) but a different key, so anything that trusts a
 * certificate by its name instead of by its key material will be fooled.
 */
export const attackerKey: IdpKey = loadKey('attacker');

/** A self-signed certificate whose validity ended on 2021-01-01 (`test/fixtures/expired.crt`). */
export const expiredCertPem: string = readFixture('../fixtures/expired.crt');

/** The SP's public, development-only certificate (`certs/sp-dev.crt`). */
export const spDevCertPem: string = readFixture('../../certs/sp-dev.crt');

/** The Issuer an Auth0 tenant named `test-tenant` puts on its Responses and Assertions. */
export const TEST_TENANT_ISSUER = 'urn:test-tenant.auth0.com';

/** Options for {@link mintResponseXml} / {@link mintResponse}. */
export interface MintOptions {
  /** The SP's ACS URL; the default for `destination` and `recipient`. */
  acsUrl: string;
  /** The `<saml:Audience>` value (normally the SP entity ID). */
  audience: string;
  /** Issuer on both the Response and the Assertion; default {@link TEST_TENANT_ISSUER}. */
  issuer?: string;
  /** NameID value; default `auth0|5f7c8ec7c33c6c004bbafe82`. */
  nameId?: string;
  /** NameID Format; default `urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified`. */
  nameIdFormat?: string;
  /** `…/claims/emailaddress` and `…/claims/upn`; default `jane.doe@example.com`; `null` omits both. */
  email?: string | null;
  /** `…/claims/name`; default `Jane Doe`; `null` omits it. */
  name?: string | null;
  /** `…/claims/givenname`; default `Jane`; `null` omits it. */
  givenName?: string | null;
  /** `…/claims/surname`; default `Doe`; `null` omits it. */
  surname?: string | null;
  /** Values of `http://schemas.xmlsoap.org/claims/Group`; omitted when absent or empty. */
  groups?: string[];
  /** More attributes by name; a name that matches a standard attribute replaces it. */
  extraAttributes?: Record<string, string | string[]>;
  /** Set on the Response AND on SubjectConfirmationData. */
  inResponseTo?: string;
  /** Response Destination; default `acsUrl`; `null` omits the attribute. */
  destination?: string | null;
  /** SubjectConfirmationData Recipient; default `acsUrl`. */
  recipient?: string;
  /** What to sign; default `'assertion'` (Auth0's default). `'both'` signs the assertion, then the response. */
  sign?: 'assertion' | 'response' | 'both' | 'none';
  /** Signing pair; default {@link idpKey}. Its certificate goes into KeyInfo. */
  key?: IdpKey;
  /** Hash for both SignatureMethod (rsa-*) and DigestMethod; default `'sha256'`. */
  signatureAlgorithm?: 'sha256' | 'sha1' | 'sha512';
  /** Issue instant (also AuthnInstant); default `new Date()`. */
  now?: Date;
  /** NotOnOrAfter (Conditions and SubjectConfirmationData) = now + this; default 3600. */
  lifetimeSeconds?: number;
  /** Conditions NotBefore; default `now` (Auth0 uses the issue instant); `null` omits it. */
  notBefore?: Date | null;
  /** Top-level StatusCode Value; default `urn:oasis:names:tc:SAML:2.0:status:Success`. */
  statusCode?: string;
  /** A `<samlp:StatusMessage>` after the StatusCode (Auth0 explains a refusal there). */
  statusMessage?: string;
  /** SubjectConfirmation Method; default `urn:oasis:names:tc:SAML:2.0:cm:bearer`. */
  subjectConfirmationMethod?: string;
  /** Assertion ID; default `'_' + 20 random bytes as hex`. */
  assertionId?: string;
  /** Response ID; default `'_' + 20 random bytes as hex`. */
  responseId?: string;
  /** Leave the `<saml:AudienceRestriction>` out of the Conditions. */
  omitAudienceRestriction?: boolean;
  /** Edit the unsigned assertion XML string before it is signed. */
  beforeSign?: (assertionXml: string) => string;
}

const NS_SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const NS_SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const NS_MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const NS_DS = 'http://www.w3.org/2000/09/xmldsig#';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

const ALGORITHMS = {
  sha1: {
    signature: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
    digest: 'http://www.w3.org/2000/09/xmldsig#sha1',
  },
  sha256: {
    signature: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    digest: 'http://www.w3.org/2001/04/xmlenc#sha256',
  },
  sha512: {
    signature: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
    digest: 'http://www.w3.org/2001/04/xmlenc#sha512',
  },
} as const;

/** Redirect-binding SigAlg URI → Node hash name. */
const REDIRECT_SIG_ALGS: Record<string, string> = {
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1': 'RSA-SHA1',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': 'RSA-SHA256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'RSA-SHA512',
};

const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';

function esc(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function newId(): string {
  return `_${randomBytes(20).toString('hex')}`;
}

function iso(d: Date): string {
  return d.toISOString();
}

function attributeXml(name: string, values: string[]): string {
  const vals = values
    .map(
      (v) =>
        `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`,
    )
    .join('');
  return `<saml:Attribute Name="${esc(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${vals}</saml:Attribute>`;
}

function signEnveloped(
  xml: string,
  targetXpath: string,
  issuerXpath: string,
  key: IdpKey,
  alg: 'sha256' | 'sha1' | 'sha512',
): string {
  const sig = new SignedXml({
    privateKey: key.privateKey,
    publicCert: key.cert,
    signatureAlgorithm: ALGORITHMS[alg].signature,
    canonicalizationAlgorithm: EXC_C14N,
  });
  sig.addReference({
    xpath: targetXpath,
    digestAlgorithm: ALGORITHMS[alg].digest,
    transforms: [ENVELOPED, EXC_C14N],
  });
  sig.computeSignature(xml, { location: { reference: issuerXpath, action: 'after' } });
  return sig.getSignedXml();
}

/**
 * Mints an Auth0-shaped SAML 2.0 Response and returns the XML string.
 *
 * Layout: Response → Issuer, [Signature], Status, Assertion → Issuer, [Signature], Subject,
 * Conditions, AuthnStatement, AttributeStatement. Signatures are enveloped, placed right after the
 * Issuer of the signed element, with exc-c14n canonicalization and the enveloped-signature +
 * exc-c14n transforms; KeyInfo carries the signing certificate.
 */
export function mintResponseXml(opts: MintOptions): string {
  const now = opts.now ?? new Date();
  const issuer = opts.issuer ?? TEST_TENANT_ISSUER;
  const notOnOrAfter = new Date(now.getTime() + (opts.lifetimeSeconds ?? 3600) * 1000);
  const notBefore = opts.notBefore === undefined ? now : opts.notBefore;
  const destination = opts.destination === undefined ? opts.acsUrl : opts.destination;
  const recipient = opts.recipient ?? opts.acsUrl;
  const nameId = opts.nameId ?? 'auth0|5f7c8ec7c33c6c004bbafe82';
  const nameIdFormat = opts.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
  const email = opts.email === undefined ? 'jane.doe@example.com' : opts.email;
  const name = opts.name === undefined ? 'Jane Doe' : opts.name;
  const givenName = opts.givenName === undefined ? 'Jane' : opts.givenName;
  const surname = opts.surname === undefined ? 'Doe' : opts.surname;
  const sign = opts.sign ?? 'assertion';
  const key = opts.key ?? idpKey;
  const alg = opts.signatureAlgorithm ?? 'sha256';
  const assertionId = opts.assertionId ?? newId();
  const responseId = opts.responseId ?? newId();
  const inResponseTo = opts.inResponseTo;

  const attrs = new Map<string, string[]>();
  attrs.set(`${CLAIMS}/nameidentifier`, [nameId]);
  if (email !== null) attrs.set(`${CLAIMS}/emailaddress`, [email]);
  if (name !== null) attrs.set(`${CLAIMS}/name`, [name]);
  if (email !== null) attrs.set(`${CLAIMS}/upn`, [email]);
  if (givenName !== null) attrs.set(`${CLAIMS}/givenname`, [givenName]);
  if (surname !== null) attrs.set(`${CLAIMS}/surname`, [surname]);
  attrs.set('http://schemas.auth0.com/identities/default/provider', ['auth0']);
  if (opts.groups && opts.groups.length > 0)
    attrs.set('http://schemas.xmlsoap.org/claims/Group', opts.groups);
  for (const [k, v] of Object.entries(opts.extraAttributes ?? {})) {
    attrs.set(k, Array.isArray(v) ? v : [v]);
  }

  const irt = inResponseTo === undefined ? '' : ` InResponseTo="${esc(inResponseTo)}"`;
  const audienceXml = opts.omitAudienceRestriction
    ? ''
    : `<saml:AudienceRestriction><saml:Audience>${esc(opts.audience)}</saml:Audience></saml:AudienceRestriction>`;

  let assertion =
    `<saml:Assertion xmlns:saml="${NS_SAML}" Version="2.0" ID="${esc(assertionId)}" IssueInstant="${iso(now)}">` +
    `<saml:Issuer>${esc(issuer)}</saml:Issuer>` +
    `<saml:Subject>` +
    `<saml:NameID Format="${esc(nameIdFormat)}">${esc(nameId)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="${esc(opts.subjectConfirmationMethod ?? 'urn:oasis:names:tc:SAML:2.0:cm:bearer')}">` +
    `<saml:SubjectConfirmationData NotOnOrAfter="${iso(notOnOrAfter)}" Recipient="${esc(recipient)}"${irt}/>` +
    `</saml:SubjectConfirmation>` +
    `</saml:Subject>` +
    `<saml:Conditions${notBefore === null ? '' : ` NotBefore="${iso(notBefore)}"`} NotOnOrAfter="${iso(notOnOrAfter)}">` +
    audienceXml +
    `</saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="${newId()}">` +
    `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef></saml:AuthnContext>` +
    `</saml:AuthnStatement>` +
    `<saml:AttributeStatement>` +
    [...attrs].map(([n, v]) => attributeXml(n, v)).join('') +
    `</saml:AttributeStatement>` +
    `</saml:Assertion>`;
  if (opts.beforeSign) assertion = opts.beforeSign(assertion);

  let xml =
    `<samlp:Response xmlns:samlp="${NS_SAMLP}" ID="${esc(responseId)}"${irt} Version="2.0" IssueInstant="${iso(now)}"` +
    `${destination === null ? '' : ` Destination="${esc(destination)}"`}>` +
    `<saml:Issuer xmlns:saml="${NS_SAML}">${esc(issuer)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${esc(opts.statusCode ?? 'urn:oasis:names:tc:SAML:2.0:status:Success')}"/>` +
    (opts.statusMessage === undefined
      ? ''
      : `<samlp:StatusMessage>${esc(opts.statusMessage)}</samlp:StatusMessage>`) +
    `</samlp:Status>` +
    assertion +
    `</samlp:Response>`;

  const assertionXpath = `/*/*[local-name(.)='Assertion' and namespace-uri(.)='${NS_SAML}']`;
  if (sign === 'assertion' || sign === 'both') {
    xml = signEnveloped(xml, assertionXpath, `${assertionXpath}/*[local-name(.)='Issuer']`, key, alg);
  }
  if (sign === 'response' || sign === 'both') {
    xml = signEnveloped(xml, '/*', `/*/*[local-name(.)='Issuer']`, key, alg);
  }
  return xml;
}

/** Mints a Response like {@link mintResponseXml} and returns it base64-encoded (the `SAMLResponse` form field). */
export function mintResponse(opts: MintOptions): string {
  return Buffer.from(mintResponseXml(opts), 'utf8').toString('base64');
}

/** What {@link decodeRedirect} extracts from an HTTP-Redirect login URL. */
export interface DecodedAuthnRequest {
  /** AuthnRequest `ID`. */
  id: string;
  /** `AssertionConsumerServiceURL`, or null when absent. */
  acsUrl: string | null;
  /** `<saml:Issuer>` text, or null when absent. */
  issuer: string | null;
  /** `Destination`, or null when absent. */
  destination: string | null;
  /** Decoded `RelayState` query parameter, or null. */
  relayState: string | null;
  /** Decoded `SigAlg` query parameter, or null. */
  sigAlg: string | null;
  /** Decoded (still base64) `Signature` query parameter, or null. */
  signature: string | null;
  /** The inflated AuthnRequest XML. */
  xml: string;
}

/** Splits the query of `location` into raw (still percent-encoded) name/value pairs, in order. */
function rawQuery(location: string): Array<[string, string]> {
  const q = location.indexOf('?');
  if (q < 0) throw new Error('redirect URL has no query string');
  let query = location.slice(q + 1);
  const hash = query.indexOf('#');
  if (hash >= 0) query = query.slice(0, hash);
  return query
    .split('&')
    .filter((p) => p.length > 0)
    .map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
    });
}

function formDecode(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, ' '));
}

function rawParam(pairs: Array<[string, string]>, name: string): string | null {
  const hit = pairs.find(([k]) => k === name);
  return hit ? hit[1] : null;
}

/**
 * Takes the Location of an HTTP-Redirect login (`…?SAMLRequest=…&RelayState=…&SigAlg=…&Signature=…`),
 * inflates the request (`zlib.inflateRawSync`) and parses the AuthnRequest with @xmldom/xmldom.
 *
 * @throws if there is no SAMLRequest, it does not inflate, or the XML's root is not a
 *   `samlp:AuthnRequest` with an ID.
 */
export function decodeRedirect(location: string): DecodedAuthnRequest {
  const pairs = rawQuery(location);
  const get = (n: string): string | null => {
    const raw = rawParam(pairs, n);
    return raw === null ? null : formDecode(raw);
  };
  const samlRequest = get('SAMLRequest');
  if (samlRequest === null) throw new Error('redirect URL has no SAMLRequest');
  const xml = inflateRawSync(Buffer.from(samlRequest, 'base64')).toString('utf8');
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const root = doc.documentElement;
  if (!root || root.localName !== 'AuthnRequest' || root.namespaceURI !== NS_SAMLP) {
    throw new Error('SAMLRequest is not a samlp:AuthnRequest');
  }
  const id = root.getAttribute('ID');
  if (!id) throw new Error('AuthnRequest has no ID');
  const issuerEl = root.getElementsByTagNameNS(NS_SAML, 'Issuer')[0];
  return {
    id,
    acsUrl: root.getAttribute('AssertionConsumerServiceURL'),
    issuer: issuerEl?.textContent?.trim() ?? null,
    destination: root.getAttribute('Destination'),
    relayState: get('RelayState'),
    sigAlg: get('SigAlg'),
    signature: get('Signature'),
    xml,
  };
}

/**
 * Verifies the HTTP-Redirect binding signature of `location` against a PEM certificate.
 *
 * The signed octets are `SAMLRequest=…[&RelayState=…]&SigAlg=…` exactly as they appear in the
 * URL (no re-encoding), per SAML Bindings §3.4.4.1. Returns false when the URL is unsigned,
 * uses an unknown SigAlg, or the signature does not verify.
 */
export function verifyRedirectSignature(location: string, certPem: string): boolean {
  const pairs = rawQuery(location);
  const req = rawParam(pairs, 'SAMLRequest');
  const relay = rawParam(pairs, 'RelayState');
  const sigAlgRaw = rawParam(pairs, 'SigAlg');
  const sigRaw = rawParam(pairs, 'Signature');
  if (req === null || sigAlgRaw === null || sigRaw === null) return false;
  const hash = REDIRECT_SIG_ALGS[formDecode(sigAlgRaw)];
  if (!hash) return false;
  const signed =
    `SAMLRequest=${req}` + (relay === null ? '' : `&RelayState=${relay}`) + `&SigAlg=${sigAlgRaw}`;
  try {
    return createVerify(hash).update(signed, 'utf8').verify(certPem, formDecode(sigRaw), 'base64');
  } catch {
    return false;
  }
}

function certBody(pem: string): string {
  return pem
    .replace(/-----BEGIN CERTIFICATE-----/, '')
    .replace(/-----END CERTIFICATE-----[\s\S]*$/, '')
    .replace(/\s+/g, '');
}

/**
 * Minimal IdP metadata: an `md:EntityDescriptor` with one `md:IDPSSODescriptor` holding a
 * `KeyDescriptor use="signing"` per certificate, Auth0's NameID formats, and HTTP-Redirect +
 * HTTP-POST SingleSignOnService endpoints at `ssoUrl`.
 */
export function idpMetadataXml(opts: { entityId: string; ssoUrl: string; certs: string[] }): string {
  const keys = opts.certs
    .map(
      (c) =>
        `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="${NS_DS}"><ds:X509Data><ds:X509Certificate>${esc(certBody(c))}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
    )
    .join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<md:EntityDescriptor xmlns:md="${NS_MD}" entityID="${esc(opts.entityId)}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="${NS_SAMLP}">` +
    keys +
    `<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>` +
    `<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>` +
    `<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${esc(opts.ssoUrl)}"/>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${esc(opts.ssoUrl)}"/>` +
    `</md:IDPSSODescriptor>` +
    `</md:EntityDescriptor>`
  );
}
