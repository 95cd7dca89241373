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

/** Everything the structural scan of a document finds. */
export interface DocumentScan {
  /** Elements by `namespace|localName`. */
  elements: Map<string, Element[]>;
  /** A comment or processing instruction was present. */
  hasCommentOrPi: boolean;
  /** An ID value carried by more than one element, if any. */
  duplicateId: string | null;
}

/** One pass over the whole tree: element index, comments/PIs, duplicate IDs. */
export function scanDocument(doc: Document): DocumentScan {
  const elements = new Map<string, Element[]>();
  const ids = new Set<string>();
  let duplicateId: string | null = null;
  let hasCommentOrPi = false;
  const stack: Node[] = [doc];
  while (stack.length > 0) {
    const node = stack.pop()!;
    for (let n = node.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === COMMENT_NODE || n.nodeType === PROCESSING_INSTRUCTION_NODE) {
        hasCommentOrPi = true;
      } else if (n.nodeType === ELEMENT_NODE) {
        const el = n as Element;
        const key = `${el.namespaceURI ?? ''}|${el.localName}`;
        const list = elements.get(key);
        if (list) list.push(el);
        else elements.set(key, [el]);
        // xml-crypto resolves references through ID, Id and id: all three must be unique together.
        for (const attr of ['ID', 'Id', 'id']) {
          const v = el.getAttribute(attr);
          if (v !== null && v !== '') {
            if (ids.has(v)) duplicateId ??= v;
            ids.add(v);
          }
        }
        stack.push(el);
      }
    }
  }
  return { elements, hasCommentOrPi, duplicateId };
}

/** Elements of one kind from a scan. */
export function found(scan: DocumentScan, ns: string, localName: string): Element[] {
  return scan.elements.get(`${ns}|${localName}`) ?? [];
}

/** Serializes a node back to XML text. */
export function serialize(node: Node): string {
  return new XMLSerializer().serializeToString(node);
}
