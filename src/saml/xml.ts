import { createRequire } from 'node:module';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import type { Document, Element, Node } from '@xmldom/xmldom';
import { SpError, type ErrorCode } from '../errors.js';

export type { Document, Element, Node };

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;
const PROCESSING_INSTRUCTION_NODE = 7;
const COMMENT_NODE = 8;
const DOCUMENT_TYPE_NODE = 10;

const XML11_LINE_END = /[\u0085\u2028\u2029]|&#(?:x0*(?:85|2028|2029)|0*(?:133|8232|8233));/i;

/**
 * xmldom 0.9 builds a fresh RegExp (a several-KB Unicode source, joined from its parts) for every end
 * tag it reads: `grammar.reg('^', QName_group, S_OPT, '$')`, about 5 % of a login's CPU. The
 * expressions it builds carry neither the g nor the y flag, so one RegExp per list of parts is safe
 * to share: the same parts (by identity) give back the same RegExp. The cache holds the few
 * combinations xmldom's own code asks for (its parts are grammar constants, never document text);
 * past {@link MAX_CACHED_PARTS} parts it stops growing, should a later xmldom pass other parts.
 */
const MAX_CACHED_PARTS = 256;
function memoizeXmldomGrammar(): void {
  // xmldom's internal file: only where it belongs to the very xmldom this module parses with, and
  // never at the cost of starting (a later xmldom without that file, a bundle): then nothing changes.
  let grammar: { reg?: (...parts: (RegExp | string)[]) => RegExp };
  try {
    const require = createRequire(import.meta.url);
    if ((require('@xmldom/xmldom') as { DOMParser?: unknown }).DOMParser !== DOMParser) return;
    grammar = require('@xmldom/xmldom/lib/grammar.js') as typeof grammar;
  } catch {
    return;
  }
  const build = grammar.reg;
  if (typeof build !== 'function') return;
  type Level = { regexp?: RegExp; next: Map<RegExp | string, Level> };
  const root: Level = { next: new Map() };
  let cached = 0;
  grammar.reg = function (this: unknown, ...parts: (RegExp | string)[]): RegExp {
    let level = root;
    for (const part of parts) {
      let found = level.next.get(part);
      if (!found) {
        if (cached >= MAX_CACHED_PARTS) return build.apply(this, parts);
        cached += 1;
        level.next.set(part, (found = { next: new Map() }));
      }
      level = found;
    }
    return (level.regexp ??= build.apply(this, parts));
  };
}
memoizeXmldomGrammar();

type ParseCodes = { malformed: ErrorCode; doctype: ErrorCode };
const SAML_CODES: ParseCodes = { malformed: 'SAML_RESPONSE_MALFORMED', doctype: 'SAML_DOCTYPE_FORBIDDEN' };

/**
 * Parses untrusted XML. Any parser warning or error is a rejection (`code`), and DOCTYPE/ENTITY
 * declarations are refused before parsing: they enable XXE and entity-expansion attacks.
 */
export function parseUntrustedXml(xml: string, codes: ParseCodes = SAML_CODES): Document {
  refuseBeforeParsing(xml, codes);
  return domParse(xml, codes);
}

/**
 * Parses a SAML message posted by anyone: like {@link parseUntrustedXml}, and the raw text is held to
 * the bounds below ({@link checkXmlBounds}) before xmldom sees it.
 */
export function parseSamlXml(xml: string): Document {
  refuseBeforeParsing(xml, SAML_CODES);
  checkXmlBounds(xml);
  return domParse(xml, SAML_CODES);
}

function refuseBeforeParsing(xml: string, codes: ParseCodes): void {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new SpError(codes.doctype);
  // xmldom applies XML 1.1 line-end handling to every document it parses: a raw NEL, LINE SEPARATOR or
  // PARAGRAPH SEPARATOR becomes a line feed. node-saml re-parses the canonical form of the signed
  // assertion, where a character reference (`&#x2028;`) has become the raw character, so a NameID
  // signed as `admin<U+2028>` would be read as `admin\n` and, XML-trimmed, log in as `admin`. These
  // three characters are refused in every form, so that what we read is what was signed.
  const lineEnd = XML11_LINE_END.exec(xml);
  if (lineEnd) {
    const found = lineEnd[0].startsWith('&')
      ? lineEnd[0]
      : `U+${lineEnd[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    throw new SpError(codes.malformed, { detail: `XML 1.1 line end ${found}` });
  }
}

function domParse(xml: string, codes: ParseCodes): Document {
  let doc: Document;
  try {
    doc = new DOMParser({
      // No line and column on every node (about 6 % of a parse): nothing reads them, and the messages
      // below never carried them.
      locator: false,
      onError: (level, message) => {
        throw new Error(`${level}: ${message}`);
      },
    }).parseFromString(xml, 'text/xml');
  } catch (err) {
    throw new SpError(codes.malformed, {
      cause: err,
      detail: err instanceof Error ? err.message : String(err),
    });
  }
  if (!doc.documentElement) throw new SpError(codes.malformed, { detail: 'no document element' });
  for (let n = doc.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === DOCUMENT_TYPE_NODE) throw new SpError(codes.doctype);
  }
  return doc;
}

/*
 * Bounds on everything the parser accepts in a SAML message, enforced before any signature work.
 *
 * Threat: CPU exhaustion by one unauthenticated post. The signature stack is superlinear in the
 * document's shape, not only its size: node-saml and xml-crypto evaluate `//*[…]` XPath lookups whose
 * cost grows with the square of the element count (40,000 empty elements, 220 KB: minutes), and
 * xml-crypto de-duplicates the namespace declarations of a signed element's ancestors pairwise, once per
 * trusted certificate (12,000 `xmlns:pN` on the unsigned Response, 240 KB: ~1.2 s per certificate, 8 s
 * with 10). xmldom's own parse of such bodies is not cheap either (12,000 declarations on one element:
 * ~130 ms; 5,000 nested scopes: ~220 ms), so the raw text is checked first, in one linear pass
 * ({@link checkXmlBounds}); the DOM is checked again by {@link scanDocument} in case the two readings of
 * the text ever differ. With these bounds any body under MAX_SAML_RESPONSE_BYTES is refused in a few
 * milliseconds, and the cost of an accepted one is bounded by its size.
 *
 * A real Auth0 response has about 40 elements, depth 6, at most 6 attributes on an element, 2-3
 * namespace declarations in scope (Auth0 declares xs and xsi on every AttributeValue), names under 100
 * characters, attribute values that are IDs, URIs and times, and texts of a few KB at most (a
 * certificate in KeyInfo, a signature value; a group list is one AttributeValue per group). Only an
 * EncryptedAssertion's CipherValue is large (the whole assertion, base64): its text is bounded by the
 * body size alone, and the decrypted assertion is held to the same bounds.
 */

/** Elements in the document; leaves room for ~900 attribute values. */
export const MAX_ELEMENTS = 1000;
/** Nesting depth (the root is depth 1). */
export const MAX_DEPTH = 32;
/** Attributes on one element, namespace declarations included. */
export const MAX_ATTRIBUTES_PER_ELEMENT = 32;
/** Attributes in the whole document, namespace declarations included. */
export const MAX_ATTRIBUTES = 4 * MAX_ELEMENTS;
/**
 * Namespace declarations on an element and its ancestors together: what canonicalization and
 * xml-crypto's pairwise de-duplication iterate over for each element.
 */
export const MAX_NAMESPACES_IN_SCOPE = 64;
/** Characters in an element or attribute name (a QName, prefix included). */
export const MAX_NAME_LENGTH = 256;
/** Characters in one attribute value (IDs, URIs, times, algorithm names). */
export const MAX_ATTRIBUTE_VALUE_LENGTH = 8 * 1024;
/** Characters of text in one element (CDATA included), except a CipherValue. */
export const MAX_TEXT_LENGTH = 64 * 1024;
/** Entity and character references (`&…;`) in the document: each costs the parser far more than a character. */
export const MAX_REFERENCES = 8 * 1024;

function tooComplex(detail: string): never {
  throw new SpError('SAML_RESPONSE_TOO_COMPLEX', { detail });
}

function malformed(detail: string): never {
  throw new SpError('SAML_RESPONSE_MALFORMED', { detail });
}

const isXmlSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

/** Characters that end a name in the scan: XML whitespace and / > = < " ' */
function isNameEnd(c: number): boolean {
  return isXmlSpace(c) || c === 0x2f || c === 0x3e || c === 0x3d || c === 0x3c || c === 0x22 || c === 0x27;
}

/**
 * One linear pass over the raw text of a SAML message, before it is parsed: element count and depth,
 * attributes per element and in total, namespace declarations in scope, name, attribute value and text
 * lengths, and references (see the bounds above): SAML_RESPONSE_TOO_COMPLEX, the detail naming the
 * bound. Comments and processing instructions (other than the XML declaration) are refused here as
 * they are after parsing (SAML_XML_COMMENT_FORBIDDEN), and markup the scan cannot read is
 * SAML_RESPONSE_MALFORMED: whatever passes has the shape xmldom will build. DOCTYPE is refused before.
 */
export function checkXmlBounds(xml: string): void {
  const length = xml.length;
  /** Open elements: namespace declarations each added to the scope, and whether it is a CipherValue. */
  const open: { namespaces: number; cipherValue: boolean }[] = [];
  let inScope = 0;
  let elements = 0;
  let attributes = 0;
  let references = 0;
  let text = 0;
  // Counts `&` in character data and attribute values. The ranges asked about only move forward, so one
  // cursor walks the document once (indexOf from each range start would rescan to the next `&`).
  let nextAmpersand = xml.indexOf('&');
  const countReferences = (from: number, to: number) => {
    while (nextAmpersand !== -1 && nextAmpersand < to) {
      if (nextAmpersand >= from) references++;
      nextAmpersand = xml.indexOf('&', nextAmpersand + 1);
    }
  };
  const checkText = () => {
    if (text > MAX_TEXT_LENGTH && !open.at(-1)?.cipherValue) {
      tooComplex(`text longer than ${MAX_TEXT_LENGTH} characters`);
    }
    if (references > MAX_REFERENCES) tooComplex(`more than ${MAX_REFERENCES} entity or character references`);
  };
  const readName = (from: number): number => {
    let end = from;
    while (end < length && !isNameEnd(xml.charCodeAt(end))) end++;
    if (end === from) malformed(`markup without a name at ${from}`);
    if (end - from > MAX_NAME_LENGTH) tooComplex(`name longer than ${MAX_NAME_LENGTH} characters`);
    return end;
  };
  const skipSpace = (from: number): number => {
    let at = from;
    while (at < length && isXmlSpace(xml.charCodeAt(at))) at++;
    return at;
  };

  let i = 0;
  while (i < length) {
    const lt = xml.indexOf('<', i);
    const stop = lt === -1 ? length : lt;
    text += stop - i;
    countReferences(i, stop);
    checkText();
    if (lt === -1) break;

    if (xml.startsWith('<![CDATA[', lt)) {
      const end = xml.indexOf(']]>', lt + 9);
      if (end === -1) malformed('unterminated CDATA section');
      text += end - (lt + 9);
      checkText();
      i = end + 3;
      continue;
    }
    if (xml.startsWith('<!--', lt)) throw new SpError('SAML_XML_COMMENT_FORBIDDEN');
    if (xml.startsWith('<?', lt)) {
      const end = xml.indexOf('?>', lt + 2);
      if (end === -1) malformed('unterminated processing instruction');
      const target = xml.slice(lt + 2, readName(lt + 2));
      // Only the XML declaration, before the root element, is legitimate.
      if (target !== 'xml' || elements > 0) throw new SpError('SAML_XML_COMMENT_FORBIDDEN');
      i = end + 2;
      continue;
    }
    if (xml.startsWith('<!', lt)) malformed('markup declaration');
    text = 0;

    if (xml.charCodeAt(lt + 1) === 0x2f) {
      // end tag
      const end = xml.indexOf('>', lt + 2);
      if (end === -1) malformed('unterminated end tag');
      const closed = open.pop();
      if (!closed) malformed('end tag without a start tag');
      inScope -= closed.namespaces;
      i = end + 1;
      continue;
    }

    // start tag: name, attributes (name = "value" | 'value'), then > or />
    if (++elements > MAX_ELEMENTS) tooComplex(`more than ${MAX_ELEMENTS} elements`);
    if (open.length + 1 > MAX_DEPTH) tooComplex(`deeper than ${MAX_DEPTH}`);
    const nameEnd = readName(lt + 1);
    const qname = xml.slice(lt + 1, nameEnd);
    let own = 0;
    let namespaces = 0;
    let at = nameEnd;
    let selfClosing: boolean;
    for (;;) {
      at = skipSpace(at);
      if (at >= length) malformed('unterminated start tag');
      const c = xml.charCodeAt(at);
      if (c === 0x3e) {
        selfClosing = false;
        at += 1;
        break;
      }
      if (c === 0x2f && xml.charCodeAt(at + 1) === 0x3e) {
        selfClosing = true;
        at += 2;
        break;
      }
      const attrEnd = readName(at);
      const name = xml.slice(at, attrEnd);
      at = skipSpace(attrEnd);
      if (xml.charCodeAt(at) !== 0x3d) malformed(`attribute ${name} without a value`);
      at = skipSpace(at + 1);
      const quote = xml[at];
      if (quote !== '"' && quote !== "'") malformed(`attribute ${name} value not quoted`);
      const close = xml.indexOf(quote, at + 1);
      if (close === -1) malformed('unterminated attribute value');
      if (close - at - 1 > MAX_ATTRIBUTE_VALUE_LENGTH) {
        tooComplex(`attribute value longer than ${MAX_ATTRIBUTE_VALUE_LENGTH} characters`);
      }
      countReferences(at + 1, close);
      if (++own > MAX_ATTRIBUTES_PER_ELEMENT) {
        tooComplex(`more than ${MAX_ATTRIBUTES_PER_ELEMENT} attributes on one element`);
      }
      if (++attributes > MAX_ATTRIBUTES) tooComplex(`more than ${MAX_ATTRIBUTES} attributes`);
      if (name === 'xmlns' || name.startsWith('xmlns:')) {
        namespaces++;
        if (inScope + namespaces > MAX_NAMESPACES_IN_SCOPE) {
          tooComplex(`more than ${MAX_NAMESPACES_IN_SCOPE} namespace declarations in scope`);
        }
      }
      at = close + 1;
    }
    checkText();
    if (!selfClosing) {
      open.push({ namespaces, cipherValue: qname === 'CipherValue' || qname.endsWith(':CipherValue') });
      inScope += namespaces;
    }
    i = at;
  }
}

/** Child elements of `parent` with the given namespace and local name. */
export function children(parent: Node, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (
      n.nodeType === ELEMENT_NODE &&
      (n as Element).namespaceURI === ns &&
      (n as Element).localName === localName
    ) {
      out.push(n as Element);
    }
  }
  return out;
}

/** The single child element, or null when absent; more than one is `code`. */
export function onlyChild(parent: Node, ns: string, localName: string, code: ErrorCode): Element | null {
  const found = children(parent, ns, localName);
  if (found.length > 1) throw new SpError(code, { detail: `more than one ${localName}` });
  return found[0] ?? null;
}

/**
 * The text of an element: every text and CDATA child concatenated. An element with any other child
 * (comment, element) has no trustworthy text: with comments, a parser that reads only the first text
 * node sees `admin@victim.com` where the signature covered `admin@victim.com.evil.com`
 * (CVE-2017-11427 family).
 */
export function textOf(el: Element): string {
  let text = '';
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === TEXT_NODE || n.nodeType === CDATA_SECTION_NODE) text += n.nodeValue ?? '';
    else throw new SpError('SAML_RESPONSE_MALFORMED', { detail: `unexpected child in <${el.localName}>` });
  }
  return text;
}

/**
 * Strips XML whitespace (space, tab, CR, LF: the S production of XML 1.0) from both ends, and nothing
 * else. String.prototype.trim() also strips NBSP, U+3000, U+FEFF and friends, which would make
 * `admin\u00a0` and `admin` one identity; what the IdP signed is compared as signed. A loop, not a
 * regular expression: `/\s+$/` backtracks quadratically on long runs of spaces.
 */
export function xmlTrim(value: string): string {
  const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
  let start = 0;
  let end = value.length;
  while (start < end && isSpace(value.charCodeAt(start))) start++;
  while (end > start && isSpace(value.charCodeAt(end - 1))) end--;
  return value.slice(start, end);
}

/** Everything the structural scan of a document finds. */
export interface DocumentScan {
  /** Elements by `namespace|localName`. */
  elements: Map<string, Element[]>;
  /** A comment or processing instruction (other than the XML declaration) was present. */
  hasCommentOrPi: boolean;
  /** An ID value carried by more than one element, if any. */
  duplicateId: string | null;
  /** Every ID value in the document. */
  ids: Set<string>;
}

// xml-crypto resolves signature references through ID, Id and id (in any namespace), so all of
// them must be unique together.
const ID_NAMES = new Set(['ID', 'Id', 'id']);
const NS_XMLENC = 'http://www.w3.org/2001/04/xmlenc#';

/**
 * One pass over the whole tree: element index, comments/PIs, duplicate IDs, and every bound of
 * {@link checkXmlBounds} again on the DOM (SAML_RESPONSE_TOO_COMPLEX): the raw-text scan runs first
 * because xmldom's parse is itself slow on hostile shapes, this one because it reads what xmldom
 * actually built, which is what node-saml and xml-crypto will work on.
 */
export function scanDocument(doc: Document): DocumentScan {
  const elements = new Map<string, Element[]>();
  const ids = new Set<string>();
  let duplicateId: string | null = null;
  let hasCommentOrPi = false;
  let count = 0;
  let attributeCount = 0;
  /** node, its depth, namespace declarations in scope at it */
  const stack: [Node, number, number][] = [[doc, 0, 0]];
  while (stack.length > 0) {
    const [node, depth, inScope] = stack.pop()!;
    let text = 0;
    const textLimit =
      (node as Element).localName === 'CipherValue' && (node as Element).namespaceURI === NS_XMLENC
        ? Infinity
        : MAX_TEXT_LENGTH;
    for (let n = node.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === TEXT_NODE || n.nodeType === CDATA_SECTION_NODE) {
        text += n.nodeValue?.length ?? 0;
        if (text > textLimit) tooComplex(`text longer than ${MAX_TEXT_LENGTH} characters`);
        continue;
      }
      text = 0;
      if (n.nodeType === COMMENT_NODE) {
        hasCommentOrPi = true;
      } else if (n.nodeType === PROCESSING_INSTRUCTION_NODE) {
        // xmldom reports the XML declaration as a PI named "xml"; only there is it legitimate.
        if (!(node === doc && n.nodeName === 'xml')) hasCommentOrPi = true;
      } else if (n.nodeType === ELEMENT_NODE) {
        if (++count > MAX_ELEMENTS) tooComplex(`more than ${MAX_ELEMENTS} elements`);
        if (depth + 1 > MAX_DEPTH) tooComplex(`deeper than ${MAX_DEPTH}`);
        const el = n as Element;
        if (el.nodeName.length > MAX_NAME_LENGTH)
          tooComplex(`name longer than ${MAX_NAME_LENGTH} characters`);
        const key = `${el.namespaceURI ?? ''}|${el.localName}`;
        const list = elements.get(key);
        if (list) list.push(el);
        else elements.set(key, [el]);
        const attrs = el.attributes.length;
        if (attrs > MAX_ATTRIBUTES_PER_ELEMENT) {
          tooComplex(`more than ${MAX_ATTRIBUTES_PER_ELEMENT} attributes on one element`);
        }
        attributeCount += attrs;
        if (attributeCount > MAX_ATTRIBUTES) tooComplex(`more than ${MAX_ATTRIBUTES} attributes`);
        let scope = inScope;
        for (let i = 0; i < attrs; i++) {
          const attr = el.attributes.item(i);
          if (!attr) continue;
          if (attr.name.length > MAX_NAME_LENGTH)
            tooComplex(`name longer than ${MAX_NAME_LENGTH} characters`);
          if (attr.value.length > MAX_ATTRIBUTE_VALUE_LENGTH) {
            tooComplex(`attribute value longer than ${MAX_ATTRIBUTE_VALUE_LENGTH} characters`);
          }
          if (attr.name === 'xmlns' || attr.prefix === 'xmlns') {
            if (++scope > MAX_NAMESPACES_IN_SCOPE) {
              tooComplex(`more than ${MAX_NAMESPACES_IN_SCOPE} namespace declarations in scope`);
            }
          }
          if (!ID_NAMES.has(attr.localName ?? attr.name) || attr.value === '') continue;
          if (ids.has(attr.value)) duplicateId ??= attr.value;
          ids.add(attr.value);
        }
        stack.push([el, depth + 1, scope]);
      }
    }
  }
  return { elements, hasCommentOrPi, duplicateId, ids };
}

/** Elements of one kind from a scan. */
export function found(scan: DocumentScan, ns: string, localName: string): Element[] {
  return scan.elements.get(`${ns}|${localName}`) ?? [];
}

/** Serializes a node back to XML text. */
export function serialize(node: Node): string {
  return new XMLSerializer().serializeToString(node);
}
