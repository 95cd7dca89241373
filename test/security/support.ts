/**
 * Shared helpers of the attack suite: DOM surgery on minted responses (XML Signature Wrapping and
 * friends), and the two outcome assertions every attack test ends with.
 *
 * Everything here works on XML minted by test/support/idp.ts at test time; no signed blob is pasted.
 */
import { DOMParser, XMLSerializer, type Document, type Element, type Node } from '@xmldom/xmldom';
import request from 'supertest';
import { SignedXml } from 'xml-crypto';
import { expect } from 'vitest';
import { errorCatalog, type ErrorCode } from '../../src/errors.js';
import { ADMIN_TOKEN, cookiesFrom, me, type postAcs, type TestSp } from '../support/harness.js';
import { mintResponseXml, TEST_TENANT_ISSUER, type IdpKey, type MintOptions } from '../support/idp.js';

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
} as const;

export const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
export const EMAIL_CLAIM = `${CLAIMS}/emailaddress`;

/** The victim an attacker wants to become, and the user whose genuine assertion they hold. */
export const VICTIM = { nameId: 'auth0|admin', email: 'admin@victim.example' } as const;
export const ATTACKER = { nameId: 'auth0|attacker', email: 'attacker@evil.example' } as const;

export type AcsResponse = Awaited<ReturnType<typeof postAcs>>;

export function b64(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

/** Parses trusted (test-minted) XML; any parser complaint is a test bug. */
export function parseXml(xml: string): Document {
  return new DOMParser({
    onError: (level, message) => {
      throw new Error(`test XML does not parse (${level}): ${message}`);
    },
  }).parseFromString(xml, 'text/xml');
}

export function serialize(node: Node): string {
  return new XMLSerializer().serializeToString(node);
}

/** Elements with this namespace and local name, in document order. */
export function all(root: Document | Element, ns: string, localName: string): Element[] {
  return Array.from(root.getElementsByTagNameNS(ns, localName));
}

/** The one element with this namespace and local name (throws when there is not exactly one). */
export function one(root: Document | Element, ns: string, localName: string): Element {
  const found = all(root, ns, localName);
  if (found.length !== 1) throw new Error(`expected one ${localName}, found ${found.length}`);
  return found[0]!;
}

/** Direct element children of `parent` with this namespace and local name. */
export function childrenOf(parent: Element, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === localName) {
      out.push(n as Element);
    }
  }
  return out;
}

export function setText(el: Element, text: string): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  el.appendChild(el.ownerDocument!.createTextNode(text));
}

/**
 * SAML Raider's "match and replace" step: turns a copy of an assertion (or of a whole Response) into
 * the attacker's — NameID and e-mail become the victim's.
 */
export function makeEvil(el: Element): void {
  for (const nameId of all(el, NS.assertion, 'NameID')) setText(nameId, VICTIM.nameId);
  for (const attr of all(el, NS.assertion, 'Attribute')) {
    const name = attr.getAttribute('Name') ?? '';
    for (const value of childrenOf(attr, NS.assertion, 'AttributeValue')) {
      if (name.endsWith('/nameidentifier')) setText(value, VICTIM.nameId);
      if (name.endsWith('/emailaddress') || name.endsWith('/upn')) setText(value, VICTIM.email);
    }
  }
}

/** Applies `edit` to the parsed document and serializes it again. */
export function edit(xml: string, fn: (doc: Document) => void): string {
  const doc = parseXml(xml);
  fn(doc);
  return serialize(doc);
}

/** The first ds:Signature in document order (what SAML Raider's getElementsByTagNameNS(...).item(0) picks). */
function firstSignature(scope: Document | Element): Element | null {
  return all(scope, NS.dsig, 'Signature')[0] ?? null;
}

/**
 * The eight XML Signature Wrapping attacks of Somorovsky et al., "On Breaking SAML: Be Whoever You
 * Want to Be" (USENIX Security 2012), exactly as SAML Raider (CompassSecurity/SAMLRaider,
 * helpers/XSWHelpers.java) builds them. One adaptation: where SAML Raider looks for the Signature
 * inside the assertion and the input is response-signed (the assertion carries none), the first
 * Signature of the document — the Response's — is used, and "remove the copied signature" is a
 * no-op on a copy that has none.
 */
export const XSW = {
  /** Evil Response (new ID) is the root; a copy of the original signed Response sits INSIDE its Signature. */
  XSW1(doc: Document): void {
    const response = doc.documentElement!;
    const original = response.cloneNode(true) as Element;
    makeEvil(response);
    const copiedSig = firstSignature(original);
    copiedSig?.parentNode?.removeChild(copiedSig);
    firstSignature(response)!.appendChild(original);
    response.setAttribute('ID', '_evil_response_ID');
  },
  /** Like XSW1, but the original Response copy is a sibling right BEFORE the Signature (detached). */
  XSW2(doc: Document): void {
    const response = doc.documentElement!;
    const original = response.cloneNode(true) as Element;
    makeEvil(response);
    const copiedSig = firstSignature(original);
    copiedSig?.parentNode?.removeChild(copiedSig);
    const sig = firstSignature(response)!;
    sig.parentNode!.insertBefore(original, sig);
    response.setAttribute('ID', '_evil_response_ID');
  },
  /** An unsigned evil copy of the Assertion (new ID) inserted BEFORE the original signed one. */
  XSW3(doc: Document): void {
    const assertion = one(doc, NS.assertion, 'Assertion');
    const evil = assertion.cloneNode(true) as Element;
    makeEvil(evil);
    const copiedSig = childrenOf(evil, NS.dsig, 'Signature')[0];
    if (copiedSig) evil.removeChild(copiedSig);
    evil.setAttribute('ID', '_evil_assertion_ID');
    doc.documentElement!.insertBefore(evil, assertion);
  },
  /** The evil copy (new ID) becomes the Response's assertion and the original signed one moves INSIDE it. */
  XSW4(doc: Document): void {
    const assertion = one(doc, NS.assertion, 'Assertion');
    const evil = assertion.cloneNode(true) as Element;
    makeEvil(evil);
    const copiedSig = childrenOf(evil, NS.dsig, 'Signature')[0];
    if (copiedSig) evil.removeChild(copiedSig);
    evil.setAttribute('ID', '_evil_assertion_ID');
    doc.documentElement!.appendChild(evil);
    evil.appendChild(assertion);
  },
  /**
   * The original assertion is edited in place (new ID, keeps the Signature, which now points at
   * nothing in it); an untouched copy without signature is appended at the END of the Response.
   */
  XSW5(doc: Document): void {
    const evil = one(doc, NS.assertion, 'Assertion');
    const original = evil.cloneNode(true) as Element;
    makeEvil(evil);
    const copiedSig = childrenOf(original, NS.dsig, 'Signature')[0];
    if (copiedSig) original.removeChild(copiedSig);
    doc.documentElement!.appendChild(original);
    evil.setAttribute('ID', '_evil_assertion_ID');
  },
  /** Like XSW5, but the untouched copy goes INSIDE the original Signature. */
  XSW6(doc: Document): void {
    const evil = one(doc, NS.assertion, 'Assertion');
    const originalSig = firstSignature(evil) ?? firstSignature(doc)!;
    const original = evil.cloneNode(true) as Element;
    makeEvil(evil);
    const copiedSig = childrenOf(original, NS.dsig, 'Signature')[0];
    if (copiedSig) original.removeChild(copiedSig);
    originalSig.appendChild(original);
    evil.setAttribute('ID', '_evil_assertion_ID');
  },
  /** An "Extensions" element (no namespace) before the assertion, holding an evil unsigned copy with the SAME ID. */
  XSW7(doc: Document): void {
    const assertion = one(doc, NS.assertion, 'Assertion');
    const extensions = doc.createElement('Extensions');
    doc.documentElement!.insertBefore(extensions, assertion);
    const evil = assertion.cloneNode(true) as Element;
    makeEvil(evil);
    const copiedSig = childrenOf(evil, NS.dsig, 'Signature')[0];
    if (copiedSig) evil.removeChild(copiedSig);
    extensions.appendChild(evil);
  },
  /**
   * The assertion is edited in place (same ID, keeps its Signature); an "Object" element (no
   * namespace) appended to the original Signature holds the untouched copy without signature.
   */
  XSW8(doc: Document): void {
    const evil = one(doc, NS.assertion, 'Assertion');
    const originalSig = firstSignature(evil) ?? firstSignature(doc)!;
    const original = evil.cloneNode(true) as Element;
    makeEvil(evil);
    const copiedSig = childrenOf(original, NS.dsig, 'Signature')[0];
    if (copiedSig) original.removeChild(copiedSig);
    const object = doc.createElement('Object');
    originalSig.appendChild(object);
    object.appendChild(original);
  },
} as const satisfies Record<string, (doc: Document) => void>;

export type XswName = keyof typeof XSW;

/** Mints the XML of a response for `slug` (right audience and recipient unless overridden). */
export function mintXmlFor(t: TestSp, slug: string, opts: Partial<MintOptions> = {}): string {
  const u = t.urls(slug);
  return mintResponseXml({
    acsUrl: u.acsUrl,
    audience: u.audience,
    issuer: TEST_TENANT_ISSUER,
    nameId: ATTACKER.nameId,
    email: ATTACKER.email,
    ...opts,
  });
}

/**
 * Asserts a rejection: exactly the catalogued status of `code` (always 4xx, never 5xx), exactly that
 * error code, no redirect, and no session for the cookies the response set (plus `browserCookies`).
 */
export async function expectRejected(
  t: TestSp,
  res: AcsResponse,
  code: ErrorCode,
  browserCookies: string[] = [],
): Promise<void> {
  const body = JSON.stringify(res.body);
  expect(res.status, body).toBeGreaterThanOrEqual(400);
  expect(res.status, body).toBeLessThan(500);
  expect(res.body?.error?.code, body).toBe(code);
  expect(res.status, body).toBe(errorCatalog[code].status);
  expect(res.headers.location).toBeUndefined();
  await me(t, [...browserCookies, ...cookiesFrom(res)]).expect(401);
}

/** Asserts a login (303) and returns the /api/me body. */
export async function expectLoggedIn(
  t: TestSp,
  res: AcsResponse,
  browserCookies: string[] = [],
): Promise<{ email: string; nameId: string; account: string; role: string }> {
  expect(res.status, JSON.stringify(res.body)).toBe(303);
  const who = await me(t, [...browserCookies, ...cookiesFrom(res)]).expect(200);
  return who.body as { email: string; nameId: string; account: string; role: string };
}

/** The NameIDs of the users provisioned in an account. */
export async function userNameIds(t: TestSp, slug: string): Promise<string[]> {
  const res = await request(t.app)
    .get(`/api/accounts/${slug}/users`)
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .expect(200);
  return (res.body.users as Array<{ nameId: string }>).map((u) => u.nameId);
}

const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

/**
 * Signs the Response (`'response'`) or its Assertion with an enveloped RSA-SHA256 signature placed
 * after the Issuer, like test/support/idp.ts does — for documents the minting options cannot shape.
 */
export function signEnveloped(xml: string, target: 'response' | 'assertion', key: IdpKey): string {
  const path = target === 'response' ? '/*' : `/*/*[local-name(.)='Assertion']`;
  const sig = new SignedXml({
    privateKey: key.privateKey,
    publicCert: key.cert,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: EXC_C14N,
  });
  sig.addReference({
    xpath: path,
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    transforms: [ENVELOPED, EXC_C14N],
  });
  sig.computeSignature(xml, {
    location: { reference: `${path}/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return sig.getSignedXml();
}
