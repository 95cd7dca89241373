/**
 * XML signature verification on the DOM our structural checks already parsed (validate-response.ts):
 * no second parse, no XPath, no deep clone, one RSA verification with a `KeyObject` parsed once per
 * trusted certificate (signature-keys.ts), one exclusive canonicalisation and one hash of the signed
 * element.
 *
 * Only the one shape a SAML IdP produces is admitted, and everything else is refused before any
 * cryptography:
 *
 *   <ds:Signature>                                   the only ds:Signature child of its parent
 *     <ds:SignedInfo>
 *       <ds:CanonicalizationMethod Algorithm="exc-c14n"/>            (no InclusiveNamespaces)
 *       <ds:SignatureMethod Algorithm="rsa-sha256|rsa-sha512|rsa-sha1"/>
 *       <ds:Reference URI="#{the parent's ID}">                   exactly one Reference
 *         <ds:Transforms>
 *           <ds:Transform Algorithm="enveloped-signature"/>
 *           <ds:Transform Algorithm="exc-c14n"> [<ec:InclusiveNamespaces PrefixList="…"/>] </ds:Transform>
 *         </ds:Transforms>
 *         <ds:DigestMethod Algorithm="sha256|sha512|sha1"/>
 *         <ds:DigestValue>base64</ds:DigestValue>
 *       </ds:Reference>
 *     </ds:SignedInfo>
 *     <ds:SignatureValue>base64</ds:SignatureValue>
 *     [<ds:KeyInfo>…</ds:KeyInfo>]                   ignored, except to try its certificate first
 *   </ds:Signature>
 *
 * (exc-c14n may be its #WithComments variant: comments are refused anywhere, so both give the same
 * bytes.) Which algorithms are acceptable (SHA-1 or not) is decided by the structural checks before
 * this runs; here an algorithm only has to be one we can compute.
 *
 * The canonical forms are xml-crypto's own (its exported `ExclusiveCanonicalization`, the code
 * node-saml's verification runs), walked on our DOM with the Signature skipped instead of removed
 * from a copy. The result names the element whose digest verified: everything read afterwards must be
 * read from that element (or its descendants), never from another parse.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ExclusiveCanonicalization } from 'xml-crypto';
// xml-crypto's own ancestor-namespace collection (what it passes with an InclusiveNamespaces PrefixList).
import { findAncestorNsForElement } from 'xml-crypto/lib/utils.js';
import { SpError } from '../errors.js';
import { NS } from './constants.js';
import { signerOf, type TrustedKey } from './signature-keys.js';
import type { Element, Node } from './xml.js';

const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const EXC_C14N_WITH_COMMENTS = 'http://www.w3.org/2001/10/xml-exc-c14n#WithComments';
const ENVELOPED_SIGNATURE = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const EXCLUSIVE: ReadonlySet<string> = new Set([EXC_C14N, EXC_C14N_WITH_COMMENTS]);

/** DigestMethod → node:crypto hash. */
const DIGEST_HASHES: ReadonlyMap<string, string> = new Map([
  ['http://www.w3.org/2000/09/xmldsig#sha1', 'sha1'],
  ['http://www.w3.org/2001/04/xmlenc#sha256', 'sha256'],
  ['http://www.w3.org/2001/04/xmlenc#sha512', 'sha512'],
]);

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const PROCESSING_INSTRUCTION_NODE = 7;
const COMMENT_NODE = 8;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DEFAULT_NS_FOR_PREFIX = { ds: NS.dsig };

/** What a verified signature vouches for. */
export interface VerifiedSignature {
  /** The element whose digest verified (the Signature's parent): read signed values from it only. */
  signed: Element;
  /** The trusted certificate whose key verified the SignatureValue. */
  signer: TrustedKey;
}

function invalid(detail: string, cause?: unknown): never {
  throw new SpError('SAML_SIGNATURE_INVALID', { detail, ...(cause !== undefined ? { cause } : {}) });
}

/** Element children; any non-whitespace text (or other node) among them is a shape error. */
function elementChildren(el: Element, what: string): Element[] {
  const out: Element[] = [];
  for (let n: Node | null = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === ELEMENT_NODE) out.push(n as Element);
    else if (n.nodeType !== TEXT_NODE || !/^[ \t\r\n]*$/.test(n.nodeValue ?? '')) {
      invalid(`unexpected content in ${what}`);
    }
  }
  return out;
}

/** Exactly these ds: children, in this order (names ending in ? are optional and last). */
function shape(el: Element, what: string, names: readonly string[]): Element[] {
  const kids = elementChildren(el, what);
  const required = names.filter((n) => !n.endsWith('?')).length;
  if (kids.length < required || kids.length > names.length) invalid(`${what} has an unexpected shape`);
  kids.forEach((kid, i) => {
    if (kid.namespaceURI !== NS.dsig || kid.localName !== names[i]!.replace('?', '')) {
      invalid(`${what} has an unexpected shape`);
    }
  });
  return kids;
}

/** The text of an element with only text children (no CDATA, no elements), XML whitespace removed. */
function base64Text(el: Element, what: string): Buffer {
  let text = '';
  for (let n: Node | null = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== TEXT_NODE) invalid(`${what} is not plain text`);
    text += n.nodeValue ?? '';
  }
  const compact = text.replace(/[ \t\r\n]+/g, '');
  if (compact === '' || !STRICT_BASE64.test(compact)) invalid(`${what} is not base64`);
  return Buffer.from(compact, 'base64');
}

/**
 * xml-crypto's exclusive canonicalisation, walking the original DOM: the enveloped Signature is
 * skipped (what the enveloped-signature transform does to a copy), and a comment or processing
 * instruction anywhere in the signed content is refused (a comment would be dropped from the digested
 * form yet split the text a reader sees: CVE-2017-11427 family).
 */
class SignedContentCanonicalization extends ExclusiveCanonicalization {
  constructor(private readonly skip: Node | null) {
    super();
  }

  override processInner(
    node: Node,
    prefixesInScope: unknown,
    defaultNs: unknown,
    defaultNsForPrefix: unknown,
    inclusiveNamespacesPrefixList: string[],
  ): string {
    if (node === this.skip) return '';
    if (node.nodeType === COMMENT_NODE || node.nodeType === PROCESSING_INSTRUCTION_NODE) {
      invalid('signed content contains a comment or processing instruction');
    }
    return super.processInner(
      node,
      prefixesInScope,
      defaultNs,
      defaultNsForPrefix,
      inclusiveNamespacesPrefixList,
    );
  }
}

/** Exclusive canonical form of `el` (SignedInfo: nothing skipped, no prefix list). */
function canonicalize(el: Element, skip: Node | null): string {
  return new SignedContentCanonicalization(skip).processInner(el, [], '', DEFAULT_NS_FOR_PREFIX, []);
}

/**
 * The digested form of the signed element: enveloped-signature then exc-c14n. With an
 * InclusiveNamespaces PrefixList, exactly as xml-crypto does it (its process() declares the listed
 * ancestor namespaces on the element, so it runs on a copy; rare, and not Auth0's shape).
 */
function canonicalSigned(parent: Element, signature: Element, prefixList: string[]): string {
  if (prefixList.length === 0) return canonicalize(parent, signature);
  const index = Array.prototype.indexOf.call(parent.childNodes, signature);
  const copy = parent.cloneNode(true) as Element;
  copy.removeChild(copy.childNodes[index]!);
  return new SignedContentCanonicalization(null).process(copy, {
    inclusiveNamespacesPrefixList: prefixList,
    ancestorNamespaces: findAncestorNsForElement(parent),
    defaultNs: '',
    defaultNsForPrefix: DEFAULT_NS_FOR_PREFIX,
  });
}

interface SignatureShape {
  signedInfo: Element;
  algorithm: string;
  signatureValue: Element;
  digestHash: string;
  digestValue: Buffer;
  prefixList: string[];
}

/**
 * Every structural rule, before any cryptography (a refused shape costs a few child walks). The
 * Reference must point at the Signature's own parent; IDs are unique in the document (checked by
 * scanDocument), so the parent is the one element the URI names.
 */
function readShape(signature: Element, parent: Element): SignatureShape {
  let ownSignatures = 0;
  for (let n: Node | null = parent.firstChild; n; n = n.nextSibling) {
    const el = n as Element;
    if (n.nodeType === ELEMENT_NODE && el.namespaceURI === NS.dsig && el.localName === 'Signature')
      ownSignatures++;
    // xml-crypto would look for a prefix list in such a child of the element it canonicalises.
    if (n.nodeType === ELEMENT_NODE && el.localName === 'CanonicalizationMethod') {
      invalid('signed element has a CanonicalizationMethod child');
    }
  }
  if (ownSignatures !== 1) invalid('more than one Signature on one element');

  const [signedInfo, signatureValue] = shape(signature, 'Signature', [
    'SignedInfo',
    'SignatureValue',
    'KeyInfo?',
  ]);
  const [c14nMethod, signatureMethod, reference] = shape(signedInfo!, 'SignedInfo', [
    'CanonicalizationMethod',
    'SignatureMethod',
    'Reference',
  ]);
  if (
    !EXCLUSIVE.has(c14nMethod!.getAttribute('Algorithm') ?? '') ||
    elementChildren(c14nMethod!, 'CanonicalizationMethod').length > 0
  ) {
    invalid('SignedInfo is not canonicalized with plain exclusive c14n');
  }
  if (elementChildren(signatureMethod!, 'SignatureMethod').length > 0)
    invalid('SignatureMethod has children');

  const id = parent.getAttribute('ID');
  if (!id || /['"]/.test(id) || reference!.getAttribute('URI') !== `#${id}`) {
    invalid('Signature Reference does not point at its parent');
  }
  const [transforms, digestMethod, digestValue] = shape(reference!, 'Reference', [
    'Transforms',
    'DigestMethod',
    'DigestValue',
  ]);
  const [enveloped, exclusive] = shape(transforms!, 'Transforms', ['Transform', 'Transform']);
  if (
    enveloped!.getAttribute('Algorithm') !== ENVELOPED_SIGNATURE ||
    elementChildren(enveloped!, 'Transform').length > 0 ||
    !EXCLUSIVE.has(exclusive!.getAttribute('Algorithm') ?? '')
  ) {
    invalid('Reference transforms are not enveloped-signature then exclusive c14n');
  }
  const inclusive = elementChildren(exclusive!, 'Transform');
  let prefixList: string[] = [];
  if (inclusive.length > 0) {
    const only = inclusive[0]!;
    if (
      inclusive.length !== 1 ||
      only.namespaceURI !== EXC_C14N ||
      only.localName !== 'InclusiveNamespaces' ||
      elementChildren(only, 'InclusiveNamespaces').length > 0
    ) {
      invalid('unexpected content in the exclusive c14n transform');
    }
    prefixList = (only.getAttribute('PrefixList') ?? '').split(' ').filter((p) => p.length > 0);
  }
  // node-saml refuses more than two Transform elements anywhere in a Signature (KeyInfo included).
  if (signature.getElementsByTagNameNS(NS.dsig, 'Transform').length !== 2) invalid('too many transforms');

  const digestHash = DIGEST_HASHES.get(digestMethod!.getAttribute('Algorithm') ?? '');
  if (!digestHash || elementChildren(digestMethod!, 'DigestMethod').length > 0)
    invalid('unsupported DigestMethod');
  return {
    signedInfo: signedInfo!,
    algorithm: signatureMethod!.getAttribute('Algorithm') ?? '',
    signatureValue: signatureValue!,
    digestHash,
    digestValue: base64Text(digestValue!, 'DigestValue'),
    prefixList,
  };
}

/**
 * Verifies one enveloped signature against the trusted keys: shape, then the SignatureValue over the
 * canonical SignedInfo (a few hundred bytes; a key nobody trusts fails here, before the signed
 * element is canonicalised), then the digest of the parent element. Throws SAML_SIGNATURE_INVALID.
 */
export function verifySignature(
  signature: Element,
  trusted: readonly TrustedKey[],
  /** Told when the cheap checks of the shape have passed and the cryptographic work begins (metrics). */
  onCheck?: () => void,
): VerifiedSignature {
  const parent = signature.parentNode as Element | null;
  if (!parent || parent.nodeType !== ELEMENT_NODE) invalid('Signature without a parent element');
  const s = readShape(signature, parent);
  base64Text(s.signatureValue, 'SignatureValue');
  onCheck?.();

  const signer = signerOf(signature, trusted, () => canonicalize(s.signedInfo, null));

  let canonical: string;
  try {
    canonical = canonicalSigned(parent, signature, s.prefixList);
  } catch (err) {
    if (err instanceof SpError) throw err;
    invalid('signed element cannot be canonicalized', err);
  }
  const digest = createHash(s.digestHash).update(canonical, 'utf8').digest();
  if (digest.length !== s.digestValue.length || !timingSafeEqual(digest, s.digestValue)) {
    invalid(`digest of the ${(parent.localName ?? '?').toLowerCase()} does not match its signature`);
  }
  return { signed: parent, signer };
}
