import { isUtf8 } from 'node:buffer';
import { SAML } from '@node-saml/node-saml';
// node-saml's own decryption (no exports map), so our pre-check decrypts exactly as it will.
import { decryptXml } from '@node-saml/node-saml/lib/xml.js';
import { SpError, type ErrorCode } from '../errors.js';
import {
  CM_BEARER,
  ENCRYPTION_ALGORITHMS,
  NS,
  SHA1_DIGEST_ALGORITHM,
  SHA1_SIGNATURE_ALGORITHM,
  STATUS_SUCCESS,
  STRONG_DIGEST_ALGORITHMS,
  STRONG_SIGNATURE_ALGORITHMS,
} from './constants.js';
import { nodeSamlOptions, type CheckName, type SamlContext, type SignaturesPresent } from './options.js';
import { selectVerificationCertificates, trustedKeys } from './signature-keys.js';
import { verifySignature } from './verify-signature.js';
import {
  checkXmlBounds,
  children,
  found,
  onlyChild,
  parseSamlXml,
  parseUntrustedXml,
  scanDocument,
  serialize,
  textOf,
  xmlTrim,
  type DocumentScan,
  type Element,
} from './xml.js';

/** What a fully validated response says. Everything here comes from signed content. */
export interface VerifiedAssertion {
  assertionId: string;
  issuer: string;
  nameId: string;
  nameIdFormat: string | null;
  sessionIndex: string | null;
  /** The request this answers (from the signed SubjectConfirmationData only); null = IdP-initiated. */
  inResponseTo: string | null;
  /** Attribute name → values. */
  attributes: Record<string, string[]>;
  /** Until when the assertion could still be accepted (replay records must live at least this long). */
  replayUntilMs: number;
}

const BASE64_WHITESPACE = /[\r\n\t ]/;
const BASE64_WHITESPACE_RUNS = /[\r\n\t ]+/g;

/** Decodes the SAMLResponse form field strictly: whitespace tolerated, anything else not base64 refused. */
export function decodeSamlResponse(field: unknown): { xml: string; base64: string } {
  if (typeof field !== 'string' || field.trim() === '') throw new SpError('SAML_RESPONSE_MISSING');
  // Line breaks (MIME-wrapped base64) and spaces are dropped; the rare field that has them is copied.
  const compact = BASE64_WHITESPACE.test(field) ? field.replace(BASE64_WHITESPACE_RUNS, '') : field;
  const bytes = Buffer.from(compact, 'base64');
  // Exactly the canonical base64 of the bytes: the decoder skips what is not base64 (and reads the
  // base64url alphabet), so anything else (a stray character, `=` before the end, a cut-off or padded
  // length, non-zero padding bits) encodes back differently. Cheaper than a pattern over the 10 KB.
  if (bytes.length === 0 || bytes.toString('base64') !== compact) {
    throw new SpError('SAML_RESPONSE_MALFORMED', { detail: 'SAMLResponse is not base64' });
  }
  const xml = bytes.toString('utf8');
  // A deflated (HTTP-Redirect style) or binary body decodes to bytes that are not UTF-8 XML.
  if (!isUtf8(bytes) || !xml.trimStart().startsWith('<')) {
    throw new SpError('SAML_RESPONSE_MALFORMED', { detail: 'SAMLResponse is not XML (deflated or binary?)' });
  }
  return { xml, base64: compact };
}

/**
 * The first `chars` characters of the field's base64 without its white space (fewer when the field is
 * shorter), dropping white space from only as much of the field as that takes: a window that doubles
 * while the white space leaves it short. The field may be MAX_SAML_RESPONSE_BYTES long.
 */
export function base64Prefix(field: string, chars: number): string {
  let window = chars;
  for (;;) {
    const compact = field.slice(0, window).replace(BASE64_WHITESPACE_RUNS, '');
    if (compact.length >= chars || window >= field.length) return compact.slice(0, chars);
    window *= 2;
  }
}

/** Fields longer than this are first held to the XML bounds on their first {@link EARLY_PREFIX} characters. */
const EARLY_CHECK_ABOVE = 64 * 1024;
/** 16 KB of base64: 12 KB of XML, where every bomb the bounds refuse shows itself (see refuseComplexPrefix). */
const EARLY_PREFIX = 16 * 1024;
const BASE64_ONLY = /^[A-Za-z0-9+/]*$/;

/**
 * A large field is held to the XML bounds ({@link checkXmlBounds}) on its first 12 KB before the whole
 * of it is decoded: a namespace, attribute or name bomb of a few hundred KB is refused for the cost of
 * 16 KB, not after copying and decoding all of it several times over. Only SAML_RESPONSE_TOO_COMPLEX is
 * taken from the prefix: the scan reads left to right, so the state at any point of a prefix is the
 * state at that point of the whole text, and every bound counts something that only grows as the text
 * goes on (a name, value or text cut short by the end of the prefix is shorter, never longer): a bound
 * the prefix exceeds, the whole exceeds, and the full check would refuse it the same way (a `<` the
 * prefix ends on is dropped: it may begin an end tag). What the end of the prefix cuts short (a tag, a
 * value) and any other finding is left to the full check, as is a bound only a longer text can exceed
 * (a text of more than MAX_TEXT_LENGTH). A prefix that is not plain base64 or not UTF-8 is not checked
 * (the full decode refuses it as malformed).
 *
 * The code can differ from the full check's only for a response that is refused either way: one with a
 * bomb in its first 12 KB and, further on, bad base64, a DOCTYPE or an XML 1.1 line end.
 */
function refuseComplexPrefix(field: unknown): void {
  if (typeof field !== 'string' || field.length <= EARLY_CHECK_ABOVE) return;
  const prefix = base64Prefix(field, EARLY_PREFIX);
  if (!BASE64_ONLY.test(prefix)) return;
  let xml: string;
  try {
    // stream: an incomplete UTF-8 sequence cut by the end of the prefix is held back, not replaced.
    xml = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.from(prefix, 'base64'), {
      stream: true,
    });
  } catch {
    return;
  }
  checkPrefixBounds(xml);
}

/**
 * {@link checkXmlBounds} on the first characters of a text: throws SAML_RESPONSE_TOO_COMPLEX when a
 * bound is exceeded within them, and nothing else (a tag the end cuts off is for the full check).
 */
export function checkPrefixBounds(xmlPrefix: string): void {
  try {
    // Without a `<` the prefix ends on: the scan counts an element at a `<` not followed by `/`, `!` or
    // `?`, and that `<` may begin an end tag or a CDATA section in the whole text (a phantom element,
    // one past MAX_ELEMENTS or MAX_DEPTH). A `<` with anything after it is read as in the whole text.
    checkXmlBounds(xmlPrefix.endsWith('<') ? xmlPrefix.slice(0, -1) : xmlPrefix);
  } catch (err) {
    if (err instanceof SpError && err.code === 'SAML_RESPONSE_TOO_COMPLEX') throw err;
  }
}

/** What the (unsigned) Response envelope says, read once during the structural checks. */
export interface Envelope {
  issuer: string | null;
  inResponseTo: string | null;
  /** Which elements carry a signature (each must verify). */
  signatures: SignaturesPresent;
  /** The assertion was encrypted: failures up to signature verification must all look alike. */
  encrypted: boolean;
  /** ID of the one assertion our own parse found (decrypted when encrypted). */
  assertionId: string | null;
  /** Every Signature element node-saml will verify (in the decrypted assertion too). */
  signatureElements: Element[];
  /** The plain assertion as our parse saw it (null when encrypted): for diagnosis only. */
  assertionElement: Element | null;
}

/** The envelope and the two elements the fast path reads (our own parse; the decrypted assertion). */
interface Checked extends Envelope {
  root: Element;
  /** The one assertion: the Response's child, or the root of the decrypted document. */
  assertion: Element;
}

function parseInstant(value: string | null, what: string): number | null {
  if (value === null) return null;
  // xs:dateTime in UTC as SAML requires; Date.parse alone would accept many other shapes.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value)) {
    throw new SpError('SAML_RESPONSE_MALFORMED', { detail: `${what} is not an xs:dateTime in UTC` });
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new SpError('SAML_RESPONSE_MALFORMED', { detail: `${what} is not a valid time` });
  return ms;
}

/**
 * Refuses a time window that does not contain `nowMs` (± skew). The error carries this server's time
 * (expected) and the bound (received), and how long the response was valid when the assertion says
 * when it was issued: what an admin needs to tell a slow clock from a short `lifetimeInSeconds`.
 */
function checkWindow(
  nowMs: number,
  skewMs: number,
  notBefore: number | null,
  notOnOrAfter: number | null,
  what: string,
  issuedAtMs: number | null = null,
) {
  const facts = (bound: number) => ({
    expected: new Date(nowMs).toISOString(),
    received: new Date(bound).toISOString(),
    ...(issuedAtMs !== null && notOnOrAfter !== null
      ? { lifetimeSeconds: Math.round((notOnOrAfter - issuedAtMs) / 1000) }
      : {}),
  });
  if (notBefore !== null && nowMs + skewMs < notBefore) {
    throw new SpError('SAML_NOT_YET_VALID', {
      detail: `${what} NotBefore ${new Date(notBefore).toISOString()}`,
      ...facts(notBefore),
    });
  }
  if (notOnOrAfter !== null && nowMs - skewMs >= notOnOrAfter) {
    throw new SpError('SAML_EXPIRED', {
      detail: `${what} NotOnOrAfter ${new Date(notOnOrAfter).toISOString()}`,
      ...facts(notOnOrAfter),
    });
  }
}

/**
 * Runs one named check. At the ACS it simply runs (a failure throws). In a test sign-in
 * (`ctx.collect`), a catalogued failure is recorded under the check's name and `undefined` returned,
 * so the next checks still run and every failure is reported.
 */
function attempt<T>(ctx: SamlContext, name: CheckName, fn: () => T): T | undefined {
  if (!ctx.collect) return fn();
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof SpError)) throw err;
    if (!ctx.collect.failures.has(name)) ctx.collect.failures.set(name, err);
    return undefined;
  }
}

/** The assertion's IssueInstant in ms, or null when absent or not a UTC xs:dateTime. */
function issueInstantOf(assertion: Element): number | null {
  try {
    return parseInstant(assertion.getAttribute('IssueInstant'), 'IssueInstant');
  } catch {
    return null;
  }
}

/**
 * Structural checks on the untrusted document, before any cryptography. They make the signed
 * element unambiguous, which is what XML Signature Wrapping attacks (Somorovsky et al. 2012) exploit:
 * exactly one Response (the root), exactly one Assertion (its child), unique IDs, signatures only on
 * those two elements and each referencing its own parent.
 */
async function checkStructure(xml: string, ctx: SamlContext): Promise<Checked> {
  const doc = parseSamlXml(xml);
  const root = doc.documentElement!;
  const scan = scanDocument(doc);
  if (scan.hasCommentOrPi) throw new SpError('SAML_XML_COMMENT_FORBIDDEN');
  if (root.namespaceURI !== NS.protocol || root.localName !== 'Response') {
    throw new SpError('SAML_NOT_A_RESPONSE', {
      detail: `root is ${root.namespaceURI ?? ''}:${root.localName}`,
    });
  }
  if (found(scan, NS.protocol, 'Response').length !== 1) {
    throw new SpError('SAML_ASSERTION_COUNT', { detail: 'nested Response element' });
  }
  if (scan.duplicateId !== null)
    throw new SpError('SAML_DUPLICATE_ID', { detail: `duplicate ID ${scan.duplicateId}` });

  const status = onlyChild(root, NS.protocol, 'Status', 'SAML_RESPONSE_MALFORMED');
  const code = status && onlyChild(status, NS.protocol, 'StatusCode', 'SAML_RESPONSE_MALFORMED');
  const statusValue = code?.getAttribute('Value') ?? null;
  attempt(ctx, 'status', () => {
    if (statusValue !== STATUS_SUCCESS) {
      const nested = code && children(code, NS.protocol, 'StatusCode')[0]?.getAttribute('Value');
      const messageEl = status && children(status, NS.protocol, 'StatusMessage')[0];
      const statusMessage = messageEl ? xmlTrim(messageEl.textContent ?? '').slice(0, 300) : '';
      const received = [statusValue ?? 'no status', nested, statusMessage && `"${statusMessage}"`]
        .filter(Boolean)
        .join(' ');
      throw new SpError('SAML_STATUS_NOT_SUCCESS', {
        detail: `status ${statusValue ?? 'missing'} ${nested ?? ''}`.trim(),
        expected: STATUS_SUCCESS,
        received,
        unverified: true,
      });
    }
  });

  const assertions = found(scan, NS.assertion, 'Assertion');
  const encrypted = found(scan, NS.assertion, 'EncryptedAssertion');
  if (assertions.length + encrypted.length !== 1) {
    throw new SpError('SAML_ASSERTION_COUNT', {
      detail: `${assertions.length} assertions, ${encrypted.length} encrypted`,
    });
  }
  const assertion = assertions[0] ?? null;
  const container = assertion ?? encrypted[0]!;
  if (container.parentNode !== root) {
    throw new SpError('SAML_ASSERTION_COUNT', { detail: 'assertion is not a child of the Response' });
  }

  const destination = root.getAttribute('Destination');
  attempt(ctx, 'destination', () => {
    if (destination !== null && destination !== ctx.acsUrl) {
      throw new SpError('SAML_DESTINATION_MISMATCH', {
        detail: `Destination ${destination}`,
        expected: ctx.acsUrl,
        received: destination,
        unverified: true,
      });
    }
  });

  const outerSignatures = found(scan, NS.dsig, 'Signature');
  checkSignatures(outerSignatures, assertion ? [root, assertion] : [root], ctx);
  const responseSigned = children(root, NS.dsig, 'Signature').length > 0;
  const checked = assertion
    ? {
        signed: checkPlainAssertion(assertion, responseSigned),
        id: assertion.getAttribute('ID'),
        signatures: [],
        element: assertion,
      }
    : await checkEncryptedAssertion(encrypted[0]!, scan, responseSigned, ctx);
  const issuerEl = onlyChild(root, NS.assertion, 'Issuer', 'SAML_ISSUER_MISMATCH');
  return {
    issuer: issuerEl ? xmlTrim(textOf(issuerEl)) : null,
    inResponseTo: root.getAttribute('InResponseTo') || null,
    signatures: { response: responseSigned, assertion: checked.signed },
    encrypted: assertion === null,
    assertionId: checked.id,
    signatureElements: [...outerSignatures, ...checked.signatures],
    assertionElement: assertion,
    root,
    assertion: checked.element,
  };
}

/**
 * Signatures may sit only on the Response or the Assertion, each with one SignedInfo whose single
 * Reference points at its own parent (CVE-2025-29775 / CVE-2025-54419 idea: verify one element,
 * read another), using allowed algorithms. Only SignedInfo algorithms are judged here: an
 * EncryptedKey legitimately carries an OAEP DigestMethod in the same namespace.
 */
function checkSignatures(signatures: Element[], allowedParents: Element[], ctx: SamlContext): void {
  for (const sig of signatures) {
    const parent = sig.parentNode as Element | null;
    if (!parent || !allowedParents.includes(parent)) {
      throw new SpError('SAML_SIGNATURE_INVALID', {
        detail: `Signature inside <${parent?.localName ?? '?'}>`,
      });
    }
    const signedInfo = onlyChild(sig, NS.dsig, 'SignedInfo', 'SAML_SIGNATURE_INVALID');
    if (!signedInfo) throw new SpError('SAML_SIGNATURE_INVALID', { detail: 'Signature without SignedInfo' });
    const methods = children(signedInfo, NS.dsig, 'SignatureMethod');
    if (methods.length !== 1)
      throw new SpError('SAML_SIGNATURE_INVALID', { detail: 'SignatureMethod count' });
    checkAlgorithm(
      methods[0]!.getAttribute('Algorithm'),
      STRONG_SIGNATURE_ALGORITHMS,
      SHA1_SIGNATURE_ALGORITHM,
      ctx,
    );
    const refs = children(signedInfo, NS.dsig, 'Reference');
    const parentId = parent.getAttribute('ID');
    if (refs.length !== 1 || !parentId || refs[0]!.getAttribute('URI') !== `#${parentId}`) {
      throw new SpError('SAML_SIGNATURE_INVALID', {
        detail: 'Signature Reference does not point at its parent',
      });
    }
    const digests = children(refs[0]!, NS.dsig, 'DigestMethod');
    if (digests.length !== 1) throw new SpError('SAML_SIGNATURE_INVALID', { detail: 'DigestMethod count' });
    checkAlgorithm(
      digests[0]!.getAttribute('Algorithm'),
      STRONG_DIGEST_ALGORITHMS,
      SHA1_DIGEST_ALGORITHM,
      ctx,
    );
  }
}

/** A plain assertion must be covered by a signature (its own or the Response's) and have one Conditions. */
function checkPlainAssertion(assertion: Element, responseSigned: boolean): boolean {
  const assertionSigned = children(assertion, NS.dsig, 'Signature').length > 0;
  if (!responseSigned && !assertionSigned) throw new SpError('SAML_SIGNATURE_MISSING');
  // A bearer assertion must say until when it may be used (SAML profiles 4.1.4.2); node-saml would
  // stumble over a missing NotOnOrAfter with a generic error, so name the problem here.
  const subject = children(assertion, NS.assertion, 'Subject')[0];
  for (const sc of subject ? children(subject, NS.assertion, 'SubjectConfirmation') : []) {
    for (const data of children(sc, NS.assertion, 'SubjectConfirmationData')) {
      if (!data.getAttribute('NotOnOrAfter')) {
        throw new SpError('SAML_SUBJECT_CONFIRMATION_INVALID', {
          detail: 'SubjectConfirmationData without NotOnOrAfter',
        });
      }
    }
  }
  if (children(assertion, NS.assertion, 'Conditions').length !== 1) {
    throw new SpError('SAML_AUDIENCE_MISMATCH', { detail: 'assertion needs exactly one Conditions element' });
  }
  return assertionSigned;
}

/**
 * An encrypted assertion is decrypted with the SP key and held to the same rules as a plain one:
 * no comments, unique IDs across both documents, one Assertion, signatures only on it. Key transport
 * RSA-1.5 (Bleichenbacher) and 3DES are refused.
 */
async function checkEncryptedAssertion(
  container: Element,
  outer: DocumentScan,
  responseSigned: boolean,
  ctx: SamlContext,
): Promise<{ signed: boolean; id: string | null; signatures: Element[]; element: Element }> {
  for (const method of container.getElementsByTagNameNS(NS.xmlenc, 'EncryptionMethod')) {
    const alg = method.getAttribute('Algorithm');
    if (alg === null || !ENCRYPTION_ALGORITHMS.has(alg)) {
      throw new SpError('SAML_ALGORITHM_UNSUPPORTED', { detail: `encryption ${alg ?? 'missing Algorithm'}` });
    }
  }
  // Every failure from here until the signature has verified answers the same, with the reason kept in
  // the private detail: distinct answers for "bad padding", "not XML" and "XML but wrong" would let an
  // attacker decrypt a captured assertion byte by byte (Jager & Somorovsky, CCS 2011).
  return uniformDecryptionFailures(async () => {
    ctx.onDecryption?.();
    const decrypted = await decryptXml(serialize(container), ctx.spPrivateKey);
    const inner = parseSamlXml(decrypted);
    const assertion = inner.documentElement!;
    const scan = scanDocument(inner);
    if (scan.hasCommentOrPi) throw new SpError('SAML_XML_COMMENT_FORBIDDEN');
    if (assertion.namespaceURI !== NS.assertion || assertion.localName !== 'Assertion') {
      throw new SpError('SAML_ENCRYPTED_ASSERTION_INVALID', {
        detail: 'decrypted content is not an Assertion',
      });
    }
    if (
      found(scan, NS.assertion, 'Assertion').length !== 1 ||
      found(scan, NS.protocol, 'Response').length !== 0
    ) {
      throw new SpError('SAML_ASSERTION_COUNT', { detail: 'nested elements inside the encrypted assertion' });
    }
    const clash = [...outer.ids].find((id) => scan.ids.has(id));
    if (scan.duplicateId !== null || clash !== undefined) {
      throw new SpError('SAML_DUPLICATE_ID', { detail: `duplicate ID ${scan.duplicateId ?? clash ?? ''}` });
    }
    const signatures = found(scan, NS.dsig, 'Signature');
    checkSignatures(signatures, [assertion], ctx);
    return {
      signed: checkPlainAssertion(assertion, responseSigned),
      id: assertion.getAttribute('ID'),
      signatures,
      element: assertion,
    };
  });
}

/** Runs `fn`; any failure becomes SAML_ENCRYPTED_ASSERTION_INVALID, the real reason kept as detail. */
async function uniformDecryptionFailures<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const reason =
      err instanceof SpError
        ? `${err.code}: ${err.detail ?? err.message}`
        : err instanceof Error
          ? err.message
          : String(err);
    throw new SpError('SAML_ENCRYPTED_ASSERTION_INVALID', { cause: err, detail: reason });
  }
}

function checkAlgorithm(
  alg: string | null,
  strong: ReadonlySet<string>,
  sha1: string,
  ctx: SamlContext,
): void {
  attempt(ctx, 'algorithms', () => judgeAlgorithm(alg, strong, sha1, ctx));
}

function judgeAlgorithm(
  alg: string | null,
  strong: ReadonlySet<string>,
  sha1: string,
  ctx: SamlContext,
): void {
  if (alg !== null && strong.has(alg)) return;
  if (alg === sha1) {
    if (ctx.allowSha1) return;
    throw new SpError('SAML_WEAK_ALGORITHM', { detail: alg, received: alg, unverified: true });
  }
  throw new SpError('SAML_ALGORITHM_UNSUPPORTED', {
    detail: alg ?? 'missing Algorithm',
    received: alg ?? 'no Algorithm',
    unverified: true,
  });
}

/**
 * node-saml throws bare Errors; this is the one place their messages are read, to keep the
 * original as `cause` under a catalogued code. Anything unrecognised is a generic rejection.
 */
function translateNodeSamlError(err: unknown): SpError {
  if (err instanceof SpError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const table: [RegExp, ErrorCode][] = [
    [/multiple assertions/i, 'SAML_ASSERTION_COUNT'],
    // Signature first: node-saml says "Invalid signature from encrypted assertion".
    [
      /signature|signed|ID cannot refer|ref URI|transforms|Cannot obtain assertion/i,
      'SAML_SIGNATURE_INVALID',
    ],
    [/decrypt|EncryptedAssertion|encrypted/i, 'SAML_ENCRYPTED_ASSERTION_INVALID'],
    [/audience|AudienceRestriction/i, 'SAML_AUDIENCE_MISMATCH'],
    [/not yet valid/i, 'SAML_NOT_YET_VALID'],
    [/expired/i, 'SAML_EXPIRED'],
    [/SAML provider returned/i, 'SAML_STATUS_NOT_SUCCESS'],
    [/Error parsing (NotOnOrAfter|NotBefore|IssueInstant)/, 'SAML_RESPONSE_MALFORMED'],
  ];
  const code = table.find(([re]) => re.test(message))?.[1] ?? 'SAML_RESPONSE_INVALID';
  return new SpError(code, { cause: err, detail: message });
}

// Invisible at either end: Unicode spaces (NBSP, U+3000, U+2028…), format characters (U+FEFF,
// U+200B, bidi controls…) and other default-ignorable code points (variation selectors, fillers).
const INVISIBLE_AT_EDGE =
  /^[\p{White_Space}\p{Cf}\p{Default_Ignorable_Code_Point}]|[\p{White_Space}\p{Cf}\p{Default_Ignorable_Code_Point}]$/u;
const CONTROL = /\p{Cc}/u;

/**
 * The NameID is the user's identity (users are keyed by connection and NameID) and is compared exactly
 * as signed, XML whitespace trimmed only. One that still starts or ends with an invisible character, or
 * holds a control character anywhere, is refused: `admin\u00a0` or `\ufeffadmin` would otherwise be a
 * second account that looks like `admin` in every list, log and audit line (a look-alike identity),
 * and `trim()` elsewhere would merge it with `admin`.
 */
function checkNameId(nameId: string): void {
  if (INVISIBLE_AT_EDGE.test(nameId)) {
    throw new SpError('SAML_NAMEID_INVALID', { detail: 'NameID starts or ends with an invisible character' });
  }
  if (CONTROL.test(nameId)) {
    throw new SpError('SAML_NAMEID_INVALID', { detail: 'NameID contains a control character' });
  }
}

/** The assertion's Issuer: present, the one this connection trusts (when known), the Response's too. */
function checkIssuer(assertion: Element, envelope: Envelope, ctx: SamlContext): string {
  const issuerEl = onlyChild(assertion, NS.assertion, 'Issuer', 'SAML_ISSUER_MISMATCH');
  const issuer = issuerEl ? xmlTrim(textOf(issuerEl)) : '';
  if (!issuer) throw new SpError('SAML_ISSUER_MISMATCH', { detail: 'assertion has no Issuer' });
  if (ctx.idpEntityId !== null && issuer !== ctx.idpEntityId) {
    throw new SpError('SAML_ISSUER_MISMATCH', {
      detail: `Issuer ${issuer}, expected ${ctx.idpEntityId}`,
      expected: ctx.idpEntityId,
      received: issuer,
    });
  }
  if (envelope.issuer !== null && envelope.issuer !== issuer) {
    throw new SpError('SAML_ISSUER_MISMATCH', { detail: 'Response and Assertion issuers differ' });
  }
  return issuer;
}

interface Confirmation {
  inResponseTo: string | null;
  notOnOrAfter: number;
}

function bearerConfirmations(subject: Element): Element[] {
  const bearers = children(subject, NS.assertion, 'SubjectConfirmation').filter(
    (sc) => sc.getAttribute('Method') === CM_BEARER,
  );
  if (bearers.length === 0)
    throw new SpError('SAML_SUBJECT_CONFIRMATION_INVALID', { detail: 'no bearer SubjectConfirmation' });
  return bearers;
}

function confirmationData(sc: Element): Element {
  const data = onlyChild(sc, NS.assertion, 'SubjectConfirmationData', 'SAML_SUBJECT_CONFIRMATION_INVALID');
  if (!data) throw new SpError('SAML_SUBJECT_CONFIRMATION_INVALID', { detail: 'no SubjectConfirmationData' });
  return data;
}

function checkRecipient(data: Element, ctx: SamlContext): void {
  const recipient = data.getAttribute('Recipient');
  if (recipient !== ctx.acsUrl)
    throw new SpError('SAML_RECIPIENT_MISMATCH', {
      detail: `Recipient ${recipient ?? 'missing'}`,
      expected: ctx.acsUrl,
      received: recipient ?? '(none)',
    });
}

function checkConfirmationTimes(
  data: Element,
  ctx: SamlContext,
  nowMs: number,
  issuedAt: number | null,
): Confirmation {
  const notOnOrAfter = parseInstant(
    data.getAttribute('NotOnOrAfter'),
    'SubjectConfirmationData NotOnOrAfter',
  );
  if (notOnOrAfter === null) {
    throw new SpError('SAML_SUBJECT_CONFIRMATION_INVALID', {
      detail: 'SubjectConfirmationData without NotOnOrAfter',
    });
  }
  const notBefore = parseInstant(data.getAttribute('NotBefore'), 'SubjectConfirmationData NotBefore');
  checkWindow(nowMs, ctx.clockSkewMs, notBefore, notOnOrAfter, 'SubjectConfirmationData', issuedAt);
  return { inResponseTo: data.getAttribute('InResponseTo') || null, notOnOrAfter };
}

/** At the ACS: the first bearer confirmation whose data names our ACS and is current, else the first error. */
function checkBearer(
  subject: Element,
  ctx: SamlContext,
  nowMs: number,
  issuedAt: number | null,
): Confirmation {
  let firstError: SpError | null = null;
  for (const sc of bearerConfirmations(subject)) {
    try {
      const data = confirmationData(sc);
      checkRecipient(data, ctx);
      return checkConfirmationTimes(data, ctx, nowMs, issuedAt);
    } catch (err) {
      if (!(err instanceof SpError)) throw err;
      firstError ??= err;
    }
  }
  throw firstError!;
}

/**
 * In a test sign-in: the recipient and the times of the bearer confirmation judged apart, so that a
 * wrong callback URL does not hide a clock problem. The confirmation naming our ACS is preferred.
 */
function evaluateBearer(
  subject: Element,
  ctx: SamlContext,
  nowMs: number,
  issuedAt: number | null,
): Confirmation | null {
  const datas = attempt(ctx, 'recipient', () => bearerConfirmations(subject).map(confirmationData)) ?? [];
  const ours = datas.find((d) => d.getAttribute('Recipient') === ctx.acsUrl);
  if (!ours && datas[0]) attempt(ctx, 'recipient', () => checkRecipient(datas[0]!, ctx));
  const data = ours ?? datas[0];
  if (!data) return null;
  // A confirmation whose times failed (that failure is recorded) still names the request it answers:
  // the InResponseTo check judges that signed value, instead of failing as if there were none.
  return (
    attempt(ctx, 'times', () => checkConfirmationTimes(data, ctx, nowMs, issuedAt)) ?? {
      inResponseTo: data.getAttribute('InResponseTo') || null,
      // No time of its own for the replay entry: the Conditions' (or none) decides.
      notOnOrAfter: 0,
    }
  );
}

/** Every AudienceRestriction must include us (SAML core 2.5.1.4); none at all is refused. */
function checkAudience(conditions: Element, ctx: SamlContext): void {
  const restrictions = children(conditions, NS.assertion, 'AudienceRestriction');
  if (
    restrictions.length === 0 ||
    !restrictions.every((r) =>
      children(r, NS.assertion, 'Audience').some((a) => xmlTrim(textOf(a)) === ctx.spEntityId),
    )
  ) {
    const audiences = restrictions.flatMap((r) =>
      children(r, NS.assertion, 'Audience').map((a) => xmlTrim(textOf(a))),
    );
    throw new SpError('SAML_AUDIENCE_MISMATCH', {
      detail: `expected audience ${ctx.spEntityId}`,
      expected: ctx.spEntityId,
      received: audiences.length > 0 ? audiences.join(', ') : '(no audience)',
    });
  }
}

/**
 * Checks on the assertion node-saml verified (its XML comes from the signed bytes, never from the
 * surrounding unsigned document): Issuer, subject, bearer confirmation, Recipient, times, audience.
 * Exported for its unit test only (not part of the package API).
 */
export function checkVerifiedAssertion(
  assertionXml: string,
  envelope: Envelope,
  ctx: SamlContext,
  nowMs: number,
): VerifiedAssertion {
  return checkAssertion(parseUntrustedXml(assertionXml).documentElement!, envelope, ctx, nowMs);
}

/** {@link checkVerifiedAssertion} on an element: the signed assertion itself (fast path). */
function checkAssertion(
  assertion: Element,
  envelope: Envelope,
  ctx: SamlContext,
  nowMs: number,
): VerifiedAssertion {
  if (assertion.namespaceURI !== NS.assertion || assertion.localName !== 'Assertion') {
    throw new SpError('SAML_SIGNATURE_INVALID', { detail: 'verified content is not an Assertion' });
  }
  const skew = ctx.clockSkewMs;
  const issuedAt = issueInstantOf(assertion);
  const assertionId = assertion.getAttribute('ID');
  if (!assertionId) throw new SpError('SAML_RESPONSE_MALFORMED', { detail: 'assertion without ID' });
  // Our structural checks and node-saml parse the document separately (different xmldom versions).
  // The assertion node-saml verified must be the one our checks saw: IDs are unique (checked), so a
  // different ID means the two parsers disagreed about the document — a parser-differential attack.
  if (assertionId !== envelope.assertionId) {
    throw new SpError('SAML_SIGNATURE_INVALID', {
      detail: 'verified assertion is not the assertion that was checked',
    });
  }

  const issuer =
    attempt(ctx, 'issuer', () => checkIssuer(assertion, envelope, ctx)) ??
    xmlTrim(children(assertion, NS.assertion, 'Issuer')[0]?.textContent ?? '').slice(0, 256);

  const subject = attempt(ctx, 'nameId', () =>
    onlyChild(assertion, NS.assertion, 'Subject', 'SAML_NAMEID_MISSING'),
  );
  const nameIdEl = attempt(
    ctx,
    'nameId',
    () => subject && onlyChild(subject, NS.assertion, 'NameID', 'SAML_NAMEID_MISSING'),
  );
  const nameId = nameIdEl ? xmlTrim(textOf(nameIdEl)) : '';
  attempt(ctx, 'nameId', () => {
    if (!nameIdEl || !nameId) throw new SpError('SAML_NAMEID_MISSING');
    checkNameId(nameId);
  });

  // Web Browser SSO profile: at least one bearer confirmation whose data names our ACS and is current.
  const confirmed = subject
    ? ctx.collect
      ? evaluateBearer(subject, ctx, nowMs, issuedAt)
      : checkBearer(subject, ctx, nowMs, issuedAt)
    : null;

  const conditions = onlyChild(assertion, NS.assertion, 'Conditions', 'SAML_AUDIENCE_MISMATCH');
  if (!conditions) throw new SpError('SAML_AUDIENCE_MISMATCH', { detail: 'no Conditions' });
  const condNotOnOrAfter = parseInstant(conditions.getAttribute('NotOnOrAfter'), 'Conditions NotOnOrAfter');
  attempt(ctx, 'times', () =>
    checkWindow(
      nowMs,
      skew,
      parseInstant(conditions.getAttribute('NotBefore'), 'Conditions NotBefore'),
      condNotOnOrAfter,
      'Conditions',
      issuedAt,
    ),
  );
  attempt(ctx, 'audience', () => checkAudience(conditions, ctx));

  // The Response element is unsigned when only the Assertion is signed (Auth0's default), so its
  // InResponseTo is attacker-controlled: it may only confirm the signed SubjectConfirmationData value.
  // Otherwise an unsolicited assertion could be dressed up as an answer to the attacker's own request,
  // bypassing a disabled IdP-initiated flow.
  const signedInResponseTo = confirmed?.inResponseTo ?? null;
  attempt(ctx, 'inResponseTo', () => {
    const responseInResponseTo = envelope.inResponseTo;
    if (responseInResponseTo !== null && signedInResponseTo === null) {
      throw new SpError('SAML_IN_RESPONSE_TO_MISMATCH', {
        detail: 'Response InResponseTo without a signed SubjectConfirmationData InResponseTo',
      });
    }
    if (signedInResponseTo && responseInResponseTo && signedInResponseTo !== responseInResponseTo) {
      throw new SpError('SAML_IN_RESPONSE_TO_MISMATCH', {
        detail: 'Response and SubjectConfirmationData InResponseTo differ',
      });
    }
  });
  const attributes: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const statement of children(assertion, NS.assertion, 'AttributeStatement')) {
    for (const attr of children(statement, NS.assertion, 'Attribute')) {
      const name = attr.getAttribute('Name');
      if (!name) continue;
      const values = children(attr, NS.assertion, 'AttributeValue').map((v) => textOf(v).trim());
      attributes[name] = [...(attributes[name] ?? []), ...values];
    }
  }
  const authn = children(assertion, NS.assertion, 'AuthnStatement')[0];

  return {
    assertionId,
    issuer,
    nameId,
    nameIdFormat: nameIdEl?.getAttribute('Format') || null,
    sessionIndex: authn?.getAttribute('SessionIndex') || null,
    inResponseTo: signedInResponseTo,
    attributes,
    replayUntilMs: Math.max(confirmed?.notOnOrAfter ?? 0, condNotOnOrAfter ?? 0) + skew,
  };
}

/**
 * node-saml checks the audience and the Conditions times itself, after the signature verified, and
 * says only that they failed. For the admin's diagnosis, the same check is run on the assertion as our
 * own parse saw it (the element node-saml verified: IDs are unique) to learn the values; the decision
 * stays node-saml's code.
 */
function withFacts(error: SpError, envelope: Envelope, ctx: SamlContext): SpError {
  const diagnosable = ['SAML_AUDIENCE_MISMATCH', 'SAML_EXPIRED', 'SAML_NOT_YET_VALID'];
  if (!diagnosable.includes(error.code) || !envelope.assertionElement) return error;
  try {
    checkVerifiedAssertion(serialize(envelope.assertionElement), envelope, ctx, Date.now());
  } catch (err) {
    if (err instanceof SpError && err.code === error.code) {
      return new SpError(error.code, {
        cause: error,
        detail: error.detail ?? err.detail ?? '',
        ...(err.expected !== undefined ? { expected: err.expected } : {}),
        ...(err.received !== undefined ? { received: err.received } : {}),
        ...(err.lifetimeSeconds !== undefined ? { lifetimeSeconds: err.lifetimeSeconds } : {}),
      });
    }
  }
  return error;
}

/** Element children with this local name, in any namespace (how xml2js with stripPrefix sees them). */
function byLocalName(parent: Element, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).localName === localName) out.push(n as Element);
  }
  return out;
}

/** node-saml's date check (Date.parse): an unparsable time is a rejection, not an absent one. */
function stockInstant(value: string | null, what: string): void {
  if (Number.isNaN(Date.parse(value ?? ''))) {
    throw new SpError('SAML_RESPONSE_MALFORMED', { detail: `${what} is not a valid time` });
  }
}

/**
 * The rules node-saml's processValidlySignedAssertionAsync applies to the signed assertion that our
 * own checks ({@link checkAssertion}) do not already imply. node-saml reads the assertion with xml2js,
 * prefixes stripped, so it finds elements by local name in any namespace; here too. Each rule is at
 * least as strict as node-saml's. At a login (not a test sign-in, where node-saml ran
 * without them) the Conditions times and the audience as node-saml compares it (untrimmed, the first
 * Audience of each restriction non-empty) are checked too.
 */
function checkStockAssertionRules(assertion: Element, ctx: SamlContext, nowMs: number): void {
  // The maximum-age computation parses IssueInstant (and NotOnOrAfter) whenever a confirmation or the
  // Conditions carry any attribute.
  stockInstant(assertion.getAttribute('IssueInstant'), 'IssueInstant');
  // node-saml looks for the first confirmation whose data carries attributes and whose times are
  // current (in a test sign-in, where it ignores times, the first with attributes); parsing each
  // time on the way, an unparsable one refuses the response.
  const subject = byLocalName(assertion, 'Subject')[0];
  for (const sc of subject ? byLocalName(subject, 'SubjectConfirmation') : []) {
    const data = byLocalName(sc, 'SubjectConfirmationData')[0];
    if (!data || data.attributes.length === 0) continue;
    const notBefore = data.getAttribute('NotBefore');
    if (notBefore) stockInstant(notBefore, 'SubjectConfirmationData NotBefore');
    stockInstant(data.getAttribute('NotOnOrAfter'), 'SubjectConfirmationData NotOnOrAfter');
    if (ctx.collect) break;
    const skew = ctx.clockSkewMs;
    const current =
      !(notBefore && nowMs + skew < Date.parse(notBefore)) &&
      !(nowMs - skew >= Date.parse(data.getAttribute('NotOnOrAfter') ?? ''));
    if (current) break;
  }
  const conditionsList = byLocalName(assertion, 'Conditions');
  if (conditionsList.length !== 1) {
    throw new SpError('SAML_AUDIENCE_MISMATCH', { detail: 'assertion needs exactly one Conditions element' });
  }
  const conditions = conditionsList[0]!;
  if (conditions.attributes.length > 0) {
    if (conditions.getAttribute('NotBefore'))
      stockInstant(conditions.getAttribute('NotBefore'), 'Conditions NotBefore');
    stockInstant(conditions.getAttribute('NotOnOrAfter'), 'Conditions NotOnOrAfter');
  }
  for (const statement of byLocalName(assertion, 'AttributeStatement')) {
    for (const attr of byLocalName(statement, 'Attribute')) {
      if (attr.attributes.length === 0 && byLocalName(attr, 'AttributeValue').length > 0) {
        throw new SpError('SAML_RESPONSE_MALFORMED', { detail: 'Attribute without a Name' });
      }
    }
  }
  if (ctx.collect) return;

  // Our own checks first: their errors carry the facts (expected, received, lifetime) for diagnosis.
  checkWindow(
    nowMs,
    ctx.clockSkewMs,
    parseInstant(conditions.getAttribute('NotBefore'), 'Conditions NotBefore'),
    parseInstant(conditions.getAttribute('NotOnOrAfter'), 'Conditions NotOnOrAfter'),
    'Conditions',
    issueInstantOf(assertion),
  );
  if (conditions.namespaceURI === NS.assertion) checkAudience(conditions, ctx);
  const restrictions = byLocalName(conditions, 'AudienceRestriction');
  const exactly = (a: Element): string | null => {
    let text = '';
    for (let n = a.firstChild; n; n = n.nextSibling) {
      if (n.nodeType !== 3 && n.nodeType !== 4) return null;
      text += n.nodeValue ?? '';
    }
    return text;
  };
  const fits = (r: Element) => {
    const audiences = byLocalName(r, 'Audience');
    return (
      audiences.length > 0 &&
      xmlTrim(exactly(audiences[0]!) ?? '') !== '' &&
      audiences.some((a) => exactly(a) === ctx.spEntityId)
    );
  };
  if (restrictions.length === 0 || !restrictions.every(fits)) {
    throw new SpError('SAML_AUDIENCE_MISMATCH', { detail: `expected audience ${ctx.spEntityId}` });
  }
}

/**
 * Verifies every signature the structural checks found, on our own DOM (verify-signature.ts), and
 * returns the assertion to read, taken from the signed element itself: the assertion whose own
 * signature verified, else the single Assertion child of the verified Response (for an encrypted one,
 * what its signed EncryptedAssertion decrypted to). A signature that is present must verify, as
 * node-saml requires with want{Assertions,AuthnResponse}Signed set from what is present.
 */
function verifyOnOurDom(checked: Checked, ctx: SamlContext): Element {
  // node-saml counts the Response's assertions by local name, in any namespace.
  const containers =
    byLocalName(checked.root, 'Assertion').length + byLocalName(checked.root, 'EncryptedAssertion').length;
  if (containers !== 1) throw new SpError('SAML_ASSERTION_COUNT', { detail: `${containers} assertions` });
  const trusted = trustedKeys(ctx.idpCertificates);
  const signed = new Set<Element>();
  for (const signature of checked.signatureElements) {
    signed.add(verifySignature(signature, trusted, ctx.onSignatureCheck).signed);
  }

  if (signed.has(checked.assertion)) return checked.assertion;
  if (signed.has(checked.root)) {
    if (!checked.encrypted) {
      const inside = children(checked.root, NS.assertion, 'Assertion');
      if (inside.length === 1 && inside[0] === checked.assertion) return inside[0];
    } else if (children(checked.root, NS.assertion, 'EncryptedAssertion').length === 1) {
      // The decrypted document is what the EncryptedAssertion child of the signed Response decrypts to.
      return checked.assertion;
    }
  }
  throw new SpError('SAML_SIGNATURE_INVALID', { detail: 'no verified signature covers the assertion' });
}

/**
 * Validates a base64 SAMLResponse against one connection. Returns what the signed assertion says, or
 * throws a catalogued {@link SpError}. InResponseTo binding and replay are the caller's (they need
 * storage); everything else about the message is checked here.
 *
 * One parse: the structural checks, the signature verification and the reading of the assertion all
 * work on the same DOM (node-saml is used for decryption only).
 */
export async function validateResponse(samlResponse: unknown, ctx: SamlContext): Promise<VerifiedAssertion> {
  refuseComplexPrefix(samlResponse);
  const { xml } = decodeSamlResponse(samlResponse);
  const checked = await checkStructure(xml, ctx);
  const nowMs = Date.now();
  const read = () => {
    const assertion = verifyOnOurDom(checked, ctx);
    checkStockAssertionRules(assertion, ctx, nowMs);
    return assertion;
  };
  // Failures up to the verified signature look alike for an encrypted assertion (padding oracle).
  const assertion = checked.encrypted
    ? await uniformDecryptionFailures(() => Promise.resolve().then(read))
    : read();
  return checkAssertion(assertion, checked, ctx, nowMs);
}

/**
 * The reference path: the same structural checks, then node-saml's validatePostResponseAsync verifies
 * the signatures and the assertion, then our checks run on the assertion XML node-saml returns. Not
 * used to sign anyone in: it is what the differential test and `npm run fuzz` compare
 * {@link validateResponse} against (the fast path must never accept what this rejects).
 */
export async function validateResponseWithNodeSaml(
  samlResponse: unknown,
  ctx: SamlContext,
): Promise<VerifiedAssertion> {
  const { xml, base64 } = decodeSamlResponse(samlResponse);
  const envelope = await checkStructure(xml, ctx);
  const verify = async () => {
    // Only the trusted certificate that signed each signature goes to node-saml, which would otherwise
    // run its whole verification once per certificate of the connection (signature-keys.ts).
    const idpCertificates = selectVerificationCertificates(envelope.signatureElements, ctx.idpCertificates);
    const options = nodeSamlOptions({ ...ctx, idpCertificates }, { signatures: envelope.signatures });
    // A test sign-in (never a login) reports the audience and the times itself, each as its own
    // check; node-saml would stop at the first of them and hide the others.
    const saml = new SAML(ctx.collect ? { ...options, audience: false, acceptedClockSkewMs: -1 } : options);
    try {
      const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: base64 });
      if (!profile) throw new Error('Missing SAML assertion');
      return profile.getAssertionXml?.() ?? '';
    } catch (err) {
      throw withFacts(translateNodeSamlError(err), envelope, ctx);
    }
  };
  const assertionXml = envelope.encrypted ? await uniformDecryptionFailures(verify) : await verify();
  return checkVerifiedAssertion(assertionXml, envelope, ctx, Date.now());
}

/** What a test sign-in learns from a response: every failed check, or the one that stopped the rest. */
export interface Evaluation {
  /** Failed checks, by name (first failure of each). */
  failures: Map<CheckName, SpError>;
  /** A failure after which nothing else could be evaluated (unreadable message, signature). */
  fatal: { name: CheckName; error: SpError } | null;
  /** The verified assertion, when the signature verified. */
  assertion: VerifiedAssertion | null;
}

/** The check a catalogued failure belongs to; anything not listed is about the message itself. */
export const CHECK_OF_CODE: Partial<Record<ErrorCode, CheckName>> = {
  SAML_STATUS_NOT_SUCCESS: 'status',
  SAML_DESTINATION_MISMATCH: 'destination',
  SAML_WEAK_ALGORITHM: 'algorithms',
  SAML_ALGORITHM_UNSUPPORTED: 'algorithms',
  SAML_SIGNATURE_MISSING: 'signature',
  SAML_SIGNATURE_INVALID: 'signature',
  SAML_ENCRYPTED_ASSERTION_INVALID: 'signature',
  SAML_ISSUER_MISMATCH: 'issuer',
  SAML_AUDIENCE_MISMATCH: 'audience',
  SAML_RECIPIENT_MISMATCH: 'recipient',
  SAML_SUBJECT_CONFIRMATION_INVALID: 'recipient',
  SAML_NOT_YET_VALID: 'times',
  SAML_EXPIRED: 'times',
  SAML_IN_RESPONSE_TO_MISMATCH: 'inResponseTo',
  SAML_NAMEID_MISSING: 'nameId',
  SAML_NAMEID_INVALID: 'nameId',
};

/**
 * Evaluates a response for a test sign-in: every check runs and reports, except that nothing after
 * an unreadable message or a signature that does not verify is evaluated (unsigned content is never
 * judged as if it were the IdP's). Never use the result to sign anyone in.
 */
export async function evaluateResponse(samlResponse: unknown, ctx: SamlContext): Promise<Evaluation> {
  return evaluateWith(validateResponse, samlResponse, ctx);
}

/** {@link evaluateResponse} through the node-saml reference path (the differential test only). */
export async function evaluateResponseWithNodeSaml(
  samlResponse: unknown,
  ctx: SamlContext,
): Promise<Evaluation> {
  return evaluateWith(validateResponseWithNodeSaml, samlResponse, ctx);
}

async function evaluateWith(
  validate: (samlResponse: unknown, ctx: SamlContext) => Promise<VerifiedAssertion>,
  samlResponse: unknown,
  ctx: SamlContext,
): Promise<Evaluation> {
  const failures = new Map<CheckName, SpError>();
  try {
    const assertion = await validate(samlResponse, { ...ctx, collect: { failures } });
    return { failures, fatal: null, assertion };
  } catch (err) {
    const error = err instanceof SpError ? err : new SpError('SAML_RESPONSE_INVALID', { cause: err });
    return {
      failures,
      fatal: { name: CHECK_OF_CODE[error.code] ?? 'response', error },
      assertion: null,
    };
  }
}
