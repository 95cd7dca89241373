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
 * Parses untrusted XML. Any parser warning or error is a rejection (`code`), and DOCTYPE/ENTITY
 * declarations are refused before parsing: they enable XXE and entity-expansion attacks.
 */
export function parseUntrustedXml(
  xml: string,
  codes: { malformed: ErrorCode; doctype: ErrorCode } = {
    malformed: 'SAML_RESPONSE_MALFORMED',
    doctype: 'SAML_DOCTYPE_FORBIDDEN',
  },
): Document {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new SpError(codes.doctype);
  // xmldom applies XML 1.1 line-end handling to every document it parses: a raw NEL, LINE SEPARATOR or
  // PARAGRAPH SEPARATOR becomes a line feed. node-saml re-parses the canonical form of the signed
  // assertion, where a character reference (`&#x2028;`) has become the raw character, so a NameID
  // signed as `admin<U+2028>` would be read as `admin\n` and, XML-trimmed, log in as `admin`. These
  // three characters are refused in every form, so that what we read is what was signed.
  const lineEnd = XML11_LINE_END.exec(xml);
  if (lineEnd) {
    throw new SpError(codes.malformed, { detail: `NEL/LINE SEPARATOR/PARAGRAPH SEPARATOR (${lineEnd[0]})` });
  }
  let doc: Document;
  try {
    doc = new DOMParser({
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

/**
 * Bounds on the shape of a SAML message. An Auth0 response has about 40 elements and depth 6;
 * the bounds leave room for ~900 attribute values. They exist because node-saml and xml-crypto
 * evaluate `//*[…]` XPath lookups whose cost grows with the square of the element count: 40,000
 * empty elements in the unsigned envelope (220 KB) would hold the event loop for minutes.
 */
export const MAX_ELEMENTS = 1000;
export const MAX_DEPTH = 32;

// xml-crypto resolves signature references through ID, Id and id (in any namespace), so all of
// them must be unique together.
const ID_NAMES = new Set(['ID', 'Id', 'id']);

/** One pass over the whole tree: element index, comments/PIs, duplicate IDs, size and depth bounds. */
export function scanDocument(doc: Document): DocumentScan {
  const elements = new Map<string, Element[]>();
  const ids = new Set<string>();
  let duplicateId: string | null = null;
  let hasCommentOrPi = false;
  let count = 0;
  const stack: [Node, number][] = [[doc, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    for (let n = node.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === COMMENT_NODE) {
        hasCommentOrPi = true;
      } else if (n.nodeType === PROCESSING_INSTRUCTION_NODE) {
        // xmldom reports the XML declaration as a PI named "xml"; only there is it legitimate.
        if (!(node === doc && n.nodeName === 'xml')) hasCommentOrPi = true;
      } else if (n.nodeType === ELEMENT_NODE) {
        if (++count > MAX_ELEMENTS || depth + 1 > MAX_DEPTH) {
          throw new SpError('SAML_RESPONSE_TOO_COMPLEX', {
            detail: count > MAX_ELEMENTS ? `more than ${MAX_ELEMENTS} elements` : `deeper than ${MAX_DEPTH}`,
          });
        }
        const el = n as Element;
        const key = `${el.namespaceURI ?? ''}|${el.localName}`;
        const list = elements.get(key);
        if (list) list.push(el);
        else elements.set(key, [el]);
        for (let i = 0; i < el.attributes.length; i++) {
          const attr = el.attributes.item(i);
          if (!attr || !ID_NAMES.has(attr.localName ?? attr.name) || attr.value === '') continue;
          if (ids.has(attr.value)) duplicateId ??= attr.value;
          ids.add(attr.value);
        }
        stack.push([el, depth + 1]);
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
