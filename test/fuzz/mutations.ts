/**
 * The ACS fuzzer's parts, shared by the fixed-seed run in `npm test` (test/fuzz/acs.fuzz.test.ts)
 * and the long run (`npm run fuzz`, bench/fuzz.ts).
 *
 * Inputs are valid responses minted by the test IdP (assertion-, response- and doubly-signed); a
 * case applies one to three mutations — byte flips in the base64 and in the XML, inserted markup and
 * entities, node deletion / duplication / move, attribute edits, namespace prefix and URI changes,
 * encoding declarations and re-encodings, whitespace — and validates the result.
 *
 * Invariant ({@link checkCase}): a case either throws an SpError with a 4xx status, or it is
 * accepted and then (a) what it says is exactly what the unmutated response says, and (b) the signed
 * element is still in the document, canonically byte-identical to the original. Anything else —
 * another error type, a 5xx code, an accepted change — is a failure.
 */
import { readFileSync } from 'node:fs';
import { DOMParser, XMLSerializer, type Document, type Element } from '@xmldom/xmldom';
import fc from 'fast-check';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { isSpError } from '../../src/errors.js';
import type { SamlContext } from '../../src/saml/options.js';
import { validateResponse, type VerifiedAssertion } from '../../src/saml/validate-response.js';
import { idpKey, mintResponseXml, TEST_TENANT_ISSUER } from '../support/idp.js';

export const FUZZ_SEED = 20261122;

const NS_DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const NS_SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const NS_SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';

/** The validation context the fuzzer targets (one account of a deployment at localhost:3000). */
export function fuzzContext(slug = 'fuzz'): SamlContext {
  const base = `http://localhost:3000/sso/${slug}`;
  return {
    spEntityId: `${base}/metadata`,
    acsUrl: `${base}/acs`,
    ssoUrl: 'https://test-tenant.auth0.com/samlp/TestClientId123',
    idpCertificates: [idpKey.cert],
    idpEntityId: TEST_TENANT_ISSUER,
    spPrivateKey: readFileSync(new URL('../../certs/sp-dev.key', import.meta.url), 'utf8'),
    spCertificate: readFileSync(new URL('../../certs/sp-dev.crt', import.meta.url), 'utf8'),
    clockSkewMs: 60_000,
    allowSha1: false,
  };
}

/** A valid response and what validating it yields. */
export interface FuzzBase {
  name: string;
  xml: string;
  /** ID of the element whose signature the oracle follows (the assertion, or the Response). */
  signedId: string;
  /** Canonical form of that element without its Signature. */
  signedCanon: string;
  baseline: VerifiedAssertion;
}

/** Mints the bases for `ctx` and validates each once (they must all be accepted). */
export async function makeBases(ctx: SamlContext): Promise<FuzzBase[]> {
  const common = { acsUrl: ctx.acsUrl, audience: ctx.spEntityId, issuer: TEST_TENANT_ISSUER };
  const specs = [
    { name: 'assertion-signed', sign: 'assertion' as const, extra: {} },
    { name: 'response-signed', sign: 'response' as const, extra: {} },
    { name: 'both-signed', sign: 'both' as const, extra: { groups: ['staff', 'admins'] } },
    {
      name: 'assertion-signed, SP-initiated',
      sign: 'assertion' as const,
      extra: { inResponseTo: '_req0123456789abcdef', email: 'jane+fuzz@example.com' },
    },
  ];
  const bases: FuzzBase[] = [];
  for (const spec of specs) {
    const xml = mintResponseXml({ ...common, ...spec.extra, sign: spec.sign, lifetimeSeconds: 4 * 3600 });
    const doc = parse(xml)!;
    const signed = spec.sign === 'response' ? doc.documentElement! : firstNs(doc, NS_SAML, 'Assertion')!;
    const signedId = signed.getAttribute('ID')!;
    const baseline = await validateResponse(b64(xml), ctx);
    bases.push({ name: spec.name, xml, signedId, signedCanon: canonicalWithoutSignature(signed), baseline });
  }
  return bases;
}

// ---------------------------------------------------------------------------------------------
// Mutations

const BASE64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const SNIPPETS = [
  '<',
  '>',
  '&',
  '"',
  "'",
  '=',
  '/',
  ' ',
  '\n',
  '\r\n',
  '\t',
  '\r',
  '\u00a0',
  '\uFEFF',
  '\u0000',
  'é',
  '😀',
  '<!---->',
  '<!--x-->',
  '<?x y?>',
  '<![CDATA[x]]>',
  '<![CDATA[]]>',
  '&amp;',
  '&lt;',
  '&gt;',
  '&quot;',
  '&#x41;',
  '&#65;',
  '&#0;',
  '&#13;',
  '&#xD;',
  '&#x10FFFF;',
  '&e;',
  '&#x;',
  ']]>',
  '<x/>',
  '</x>',
  '<saml:NameID>auth0|admin</saml:NameID>',
  '<!DOCTYPE x>',
  '<!ENTITY e "v">',
  'xmlns="urn:evil"',
  ' xmlns:saml="urn:evil"',
  ' ID="_dup"',
];
const ATTR_VALUES = [
  '',
  ' ',
  '_dup',
  '#',
  'urn:evil',
  'https://evil.example/acs',
  'http://localhost:3000/sso/other/acs',
  'auth0|admin',
  '2000-01-01T00:00:00Z',
  '2999-01-01T00:00:00Z',
  '2026-01-01T00:00:00+01:00',
  'urn:oasis:names:tc:SAML:2.0:status:Responder',
  'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key',
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  'http://www.w3.org/2000/09/xmldsig#hmac-sha1',
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments',
  '&',
  '<',
  '"',
  'x'.repeat(300),
];
const ATTR_NAMES = [
  'ID',
  'Id',
  'id',
  'x:ID',
  'Destination',
  'InResponseTo',
  'Recipient',
  'NotOnOrAfter',
  'NotBefore',
  'Method',
  'URI',
  'Algorithm',
  'xml:space',
  'xmlns:saml',
  'xmlns:ds',
  'xmlns',
];
const TEXTS = ['', ' ', 'auth0|admin', 'admin@victim.example', 'urn:evil', 'AAAA', '\n', 'x'.repeat(200)];
const PREFIXES = ['saml', 'samlp', 'ds', 'saml2', 'p', 'xml', 'xmlns'];
const NS_URIS = [NS_SAML, NS_SAMLP, NS_DSIG, 'urn:oasis:names:tc:SAML:1.0:assertion', 'urn:evil', ''];
const DECLS = [
  '<?xml version="1.0"?>',
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<?xml version="1.0" encoding="UTF-16"?>',
  '<?xml version="1.0" encoding="ISO-8859-1"?>',
  '<?xml version="1.1"?>',
  '<?xml version="1.0" standalone="yes"?>',
  '\uFEFF',
  ' \n',
];

export type Mutation =
  | { kind: 'b64-flip'; at: number; to: string }
  | { kind: 'b64-cut'; at: number }
  | { kind: 'byte-flip'; at: number; to: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete-range'; at: number; len: number }
  | { kind: 'charref'; at: number }
  | { kind: 'node-delete'; el: number }
  | { kind: 'node-duplicate'; el: number }
  | { kind: 'node-move'; el: number; to: number; append: boolean }
  | { kind: 'attr-set'; el: number; attr: number; value: string }
  | { kind: 'attr-remove'; el: number; attr: number }
  | { kind: 'attr-add'; el: number; name: string; value: string }
  | { kind: 'text-set'; el: number; text: string }
  | { kind: 'ns-rename-prefix'; from: string; to: string }
  | { kind: 'ns-uri'; el: number; uri: string }
  | { kind: 'ns-decl'; el: number; prefix: string; uri: string }
  | { kind: 'decl'; text: string }
  | { kind: 'recode'; encoding: 'latin1' | 'utf16le' | 'ascii' }
  | { kind: 'reserialize' };

const idx = fc.nat({ max: 1_000_000 });
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('b64-flip' as const),
    at: idx,
    to: fc.oneof(fc.constantFrom(...BASE64_CHARS), fc.constantFrom('-', '_', '=', '!', ' ', '%')),
  }),
  fc.record({ kind: fc.constant('b64-cut' as const), at: idx }),
  fc.record({ kind: fc.constant('byte-flip' as const), at: idx, to: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: idx, text: fc.constantFrom(...SNIPPETS) }),
  fc.record({ kind: fc.constant('delete-range' as const), at: idx, len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('charref' as const), at: idx }),
  fc.record({ kind: fc.constant('node-delete' as const), el: idx }),
  fc.record({ kind: fc.constant('node-duplicate' as const), el: idx }),
  fc.record({ kind: fc.constant('node-move' as const), el: idx, to: idx, append: fc.boolean() }),
  fc.record({
    kind: fc.constant('attr-set' as const),
    el: idx,
    attr: idx,
    value: fc.oneof(fc.constantFrom(...ATTR_VALUES), fc.string({ maxLength: 12 })),
  }),
  fc.record({ kind: fc.constant('attr-remove' as const), el: idx, attr: idx }),
  fc.record({
    kind: fc.constant('attr-add' as const),
    el: idx,
    name: fc.constantFrom(...ATTR_NAMES),
    value: fc.constantFrom(...ATTR_VALUES),
  }),
  fc.record({
    kind: fc.constant('text-set' as const),
    el: idx,
    text: fc.oneof(fc.constantFrom(...TEXTS), fc.string({ maxLength: 12 })),
  }),
  fc.record({
    kind: fc.constant('ns-rename-prefix' as const),
    from: fc.constantFrom('saml', 'samlp', 'ds'),
    to: fc.constantFrom(...PREFIXES),
  }),
  fc.record({ kind: fc.constant('ns-uri' as const), el: idx, uri: fc.constantFrom(...NS_URIS) }),
  fc.record({
    kind: fc.constant('ns-decl' as const),
    el: idx,
    prefix: fc.constantFrom(...PREFIXES, ''),
    uri: fc.constantFrom(...NS_URIS),
  }),
  fc.record({ kind: fc.constant('decl' as const), text: fc.constantFrom(...DECLS) }),
  fc.record({
    kind: fc.constant('recode' as const),
    encoding: fc.constantFrom('latin1' as const, 'utf16le' as const, 'ascii' as const),
  }),
  fc.record({ kind: fc.constant('reserialize' as const) }),
);

/** A case: which base, and one to three mutations. */
export interface FuzzCase {
  base: number;
  mutations: Mutation[];
}
export const caseArb: fc.Arbitrary<FuzzCase> = fc.record({
  base: fc.nat({ max: 3 }),
  mutations: fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
});

export function b64(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

function parse(xml: string): Document | null {
  try {
    const doc = new DOMParser({
      onError: (level, msg) => {
        throw new Error(`${level}: ${msg}`);
      },
    }).parseFromString(xml, 'text/xml');
    return doc.documentElement ? doc : null;
  } catch {
    return null;
  }
}

function elements(doc: Document): Element[] {
  return Array.from(doc.getElementsByTagName('*'));
}

function firstNs(doc: Document, ns: string, local: string): Element | null {
  return doc.getElementsByTagNameNS(ns, local)[0] ?? null;
}

/** Applies a DOM mutation to `xml`; an unparsable input (a previous mutation broke it) is left as it is. */
function domEdit(xml: string, fn: (doc: Document, els: Element[]) => void): string {
  const doc = parse(xml);
  if (!doc) return xml;
  const els = elements(doc);
  if (els.length === 0) return xml;
  try {
    fn(doc, els);
  } catch {
    return xml; // an impossible DOM operation (e.g. moving a node into itself)
  }
  return new XMLSerializer().serializeToString(doc);
}

/** The start-tag offsets of `xml`, for string-level edits addressed by element index. */
function startTags(xml: string): number[] {
  const out: number[] = [];
  const re = /<[A-Za-z_]/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) out.push(m.index);
  return out;
}

/** Applies the mutations; returns the SAMLResponse form value. */
export function applyMutations(xml: string, mutations: readonly Mutation[]): string {
  let text = xml;
  let bytes: Buffer | null = null; // set once the document stops being a JS string (byte edits, re-encodings)
  let field: string | null = null; // set once the base64 itself is edited
  const toField = () => field ?? (bytes ?? Buffer.from(text, 'utf8')).toString('base64');
  for (const m of mutations) {
    if (m.kind === 'b64-flip' || m.kind === 'b64-cut') {
      const f = toField();
      const at = m.at % f.length;
      field = m.kind === 'b64-flip' ? f.slice(0, at) + m.to + f.slice(at + 1) : f.slice(0, at);
      continue;
    }
    if (field !== null) continue; // XML-level edits after a base64 edit have nothing to act on
    if (m.kind === 'byte-flip' || m.kind === 'recode') {
      const b: Buffer = bytes ?? Buffer.from(text, 'utf8');
      if (m.kind === 'byte-flip') {
        const copy: Buffer = Buffer.from(b);
        copy[m.at % copy.length] = m.to;
        bytes = copy;
      } else {
        bytes = Buffer.from(b.toString('utf8'), m.encoding);
      }
      continue;
    }
    if (bytes !== null) continue; // string/DOM edits act on the UTF-8 text only
    text = applyTextMutation(text, m);
  }
  return toField();
}

function applyTextMutation(xml: string, m: Mutation): string {
  switch (m.kind) {
    case 'insert': {
      const at = m.at % (xml.length + 1);
      return xml.slice(0, at) + m.text + xml.slice(at);
    }
    case 'delete-range': {
      const at = m.at % xml.length;
      return xml.slice(0, at) + xml.slice(at + m.len);
    }
    case 'charref': {
      // Replace the n-th letter that sits in character data with a numeric character reference:
      // canonically equivalent, so a signed value stays valid.
      const spots: number[] = [];
      let inTag = false;
      for (let i = 0; i < xml.length; i++) {
        const c = xml[i]!;
        if (c === '<') inTag = true;
        else if (c === '>') inTag = false;
        else if (!inTag && /[A-Za-z0-9@|.]/.test(c)) spots.push(i);
      }
      if (spots.length === 0) return xml;
      const at = spots[m.at % spots.length]!;
      return `${xml.slice(0, at)}&#x${xml.charCodeAt(at).toString(16)};${xml.slice(at + 1)}`;
    }
    case 'node-delete':
      return domEdit(xml, (_doc, els) => {
        const el = els[m.el % els.length]!;
        el.parentNode!.removeChild(el);
      });
    case 'node-duplicate':
      return domEdit(xml, (_doc, els) => {
        const el = els[m.el % els.length]!;
        if (!el.parentNode || el.parentNode.nodeType === 9) return;
        el.parentNode.insertBefore(el.cloneNode(true), el.nextSibling);
      });
    case 'node-move':
      return domEdit(xml, (_doc, els) => {
        const el = els[m.el % els.length]!;
        const to = els[m.to % els.length]!;
        if (el === to || el.parentNode?.nodeType === 9) return;
        if (m.append) to.appendChild(el);
        else if (to.parentNode && to.parentNode.nodeType !== 9) to.parentNode.insertBefore(el, to);
      });
    case 'attr-set':
      return domEdit(xml, (_doc, els) => {
        const el = els[m.el % els.length]!;
        if (el.attributes.length === 0) return;
        const attr = el.attributes.item(m.attr % el.attributes.length)!;
        attr.value = m.value;
      });
    case 'attr-remove':
      return domEdit(xml, (_doc, els) => {
        const el = els[m.el % els.length]!;
        if (el.attributes.length === 0) return;
        el.removeAttributeNode(el.attributes.item(m.attr % el.attributes.length)!);
      });
    case 'attr-add': {
      // String level, so that prefixed names and namespace declarations go in verbatim.
      const tags = startTags(xml);
      if (tags.length === 0) return xml;
      const at = tags[m.el % tags.length]!;
      const nameEnd = xml.slice(at + 1).search(/[\s/>]/) + at + 1;
      const value = m.value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
      const extraNs = m.name === 'x:ID' ? ' xmlns:x="urn:x"' : '';
      return `${xml.slice(0, nameEnd)} ${m.name}="${value}"${extraNs}${xml.slice(nameEnd)}`;
    }
    case 'text-set':
      return domEdit(xml, (doc, els) => {
        const el = els[m.el % els.length]!;
        while (el.firstChild) el.removeChild(el.firstChild);
        el.appendChild(doc.createTextNode(m.text));
      });
    case 'ns-rename-prefix':
      return xml
        .replace(new RegExp(`(</?)${m.from}:`, 'g'), `$1${m.to}:`)
        .replace(new RegExp(`xmlns:${m.from}=`, 'g'), `xmlns:${m.to}=`);
    case 'ns-uri':
      return domEdit(xml, (doc, els) => {
        const el = els[m.el % els.length]!;
        const copy = doc.createElementNS(m.uri || null, m.uri ? el.tagName : (el.localName ?? el.tagName));
        for (const a of Array.from(el.attributes)) copy.setAttributeNode(a.cloneNode(true) as typeof a);
        while (el.firstChild) copy.appendChild(el.firstChild);
        el.parentNode!.replaceChild(copy, el);
      });
    case 'ns-decl': {
      const tags = startTags(xml);
      if (tags.length === 0) return xml;
      const at = tags[m.el % tags.length]!;
      const nameEnd = xml.slice(at + 1).search(/[\s/>]/) + at + 1;
      const decl = m.prefix ? `xmlns:${m.prefix}="${m.uri}"` : `xmlns="${m.uri}"`;
      return `${xml.slice(0, nameEnd)} ${decl}${xml.slice(nameEnd)}`;
    }
    case 'decl':
      return m.text + xml;
    case 'reserialize':
      return domEdit(xml, () => undefined);
    default:
      return xml;
  }
}

// ---------------------------------------------------------------------------------------------
// Oracle

const c14n = new ExclusiveCanonicalization();

/** Exclusive canonical form of `el` without its direct ds:Signature children (enveloped transform). */
function canonicalWithoutSignature(el: Element): string {
  const copy = el.cloneNode(true) as Element;
  for (let n = copy.firstChild; n;) {
    const next = n.nextSibling;
    if (
      n.nodeType === 1 &&
      (n as Element).namespaceURI === NS_DSIG &&
      (n as Element).localName === 'Signature'
    ) {
      copy.removeChild(n);
    }
    n = next;
  }
  return c14n.process(copy, {});
}

/** What a validated response says, for comparison. */
function said(v: VerifiedAssertion): string {
  return JSON.stringify({
    assertionId: v.assertionId,
    issuer: v.issuer,
    nameId: v.nameId,
    nameIdFormat: v.nameIdFormat,
    sessionIndex: v.sessionIndex,
    inResponseTo: v.inResponseTo,
    attributes: Object.entries(v.attributes).sort(([a], [b]) => a.localeCompare(b)),
  });
}

export type CaseOutcome = { accepted: true } | { accepted: false; code: string };

/** Thrown by {@link checkCase} when the invariant does not hold. */
export class InvariantViolation extends Error {
  constructor(
    message: string,
    readonly samlResponse: string,
  ) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

/** Runs one case against validateResponse and checks the invariant (throws InvariantViolation). */
export async function checkCase(
  ctx: SamlContext,
  bases: readonly FuzzBase[],
  c: FuzzCase,
): Promise<CaseOutcome> {
  const base = bases[c.base % bases.length]!;
  const samlResponse = applyMutations(base.xml, c.mutations);
  let result: VerifiedAssertion;
  try {
    result = await validateResponse(samlResponse, ctx);
  } catch (err) {
    if (!isSpError(err)) {
      throw new InvariantViolation(
        `not an SpError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
        samlResponse,
      );
    }
    if (err.status < 400 || err.status >= 500) {
      throw new InvariantViolation(`SpError ${err.code} with status ${err.status}`, samlResponse);
    }
    return { accepted: false, code: err.code };
  }
  // Accepted: it must say exactly what the original says…
  if (said(result) !== said(base.baseline)) {
    throw new InvariantViolation(`accepted with different content: ${said(result)}`, samlResponse);
  }
  // …and the signed element must be there, canonically unchanged.
  const xml = Buffer.from(samlResponse.replace(/\s+/g, ''), 'base64').toString('utf8');
  const doc = parse(xml.replace(/^\uFEFF/, ''));
  const signed = doc ? elements(doc).filter((e) => e.getAttribute('ID') === base.signedId) : [];
  if (signed.length !== 1) {
    throw new InvariantViolation(
      `accepted, but the signed element occurs ${signed.length} times`,
      samlResponse,
    );
  }
  if (canonicalWithoutSignature(signed[0]!) !== base.signedCanon) {
    throw new InvariantViolation('accepted, but the signed element changed', samlResponse);
  }
  return { accepted: true };
}
