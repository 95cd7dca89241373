/**
 * Which trusted certificate signed a signature, decided before node-saml verifies anything.
 *
 * node-saml verifies each signature with every trusted certificate in turn, and each attempt re-parses
 * the whole document, runs several `//*[…]` XPath lookups and canonicalizes and digests the signed
 * element before it even looks at the key: with a connection's 10 certificates, one forged response
 * costs ten full verifications. Here the SignatureValue is checked against the canonical SignedInfo
 * (a few hundred bytes) with each trusted key that fits the SignatureMethod — the certificate the
 * signature's KeyInfo names first — and node-saml gets only the certificate that verified. A response
 * no trusted key signed is refused after a handful of RSA verifications, whatever the number of
 * certificates. Nothing here trusts KeyInfo: it only chooses which trusted key to try first.
 */
import { X509Certificate, constants, verify, type KeyObject } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { SpError } from '../errors.js';
import { NS } from './constants.js';
import { children, textOf, type Document, type Element } from './xml.js';

/** SignatureMethod → hash, for the RSA PKCS#1 v1.5 algorithms we accept (SHA-1 only when opted in). */
const RSA_SIGNATURE_HASHES: ReadonlyMap<string, string> = new Map([
  ['http://www.w3.org/2000/09/xmldsig#rsa-sha1', 'sha1'],
  ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', 'sha256'],
  ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha512', 'sha512'],
]);

/**
 * True when `key` may verify a signature labelled `algorithm`. An `rsa-sha*` signature verifies only
 * with an RSA key: node's verifier, asked for "RSA-SHA256", happily checks an ECDSA signature with an
 * EC key or a PSS signature with an RSA-PSS key, so a label would not otherwise bind the key type.
 */
export function keyFitsSignatureAlgorithm(key: KeyObject, algorithm: string): boolean {
  return RSA_SIGNATURE_HASHES.has(algorithm) && key.asymmetricKeyType === 'rsa';
}

/** A certificate as shown to an admin: SHA-256 fingerprint (as stored for connections) and subject. */
export interface CertificateSummary {
  fingerprintSha256: string;
  subject: string;
}

/**
 * The certificate a signature's KeyInfo carries (the first `X509Data/X509Certificate`), parsed but NOT
 * verified: anyone can put any certificate there. Use it to say which key a response claims to be
 * signed with (e.g. "signed by an untrusted certificate" diagnostics), never to trust it. Null when
 * there is none or it does not parse.
 */
export function keyInfoCertificate(signature: Element): CertificateSummary | null {
  const cert = keyInfoX509(signature);
  return cert ? summarize(cert) : null;
}

function keyInfoCertElement(signature: Element): Element | null {
  const keyInfo = children(signature, NS.dsig, 'KeyInfo')[0];
  const data = keyInfo && children(keyInfo, NS.dsig, 'X509Data')[0];
  return (data && children(data, NS.dsig, 'X509Certificate')[0]) ?? null;
}

function keyInfoX509(signature: Element): X509Certificate | null {
  const certEl = keyInfoCertElement(signature);
  if (!certEl) return null;
  try {
    return new X509Certificate(Buffer.from(textOf(certEl).replace(/\s+/g, ''), 'base64'));
  } catch {
    return null;
  }
}

function summarize(cert: X509Certificate): CertificateSummary {
  return { fingerprintSha256: cert.fingerprint256, subject: cert.subject.split('\n').join(', ') };
}

/**
 * The canonical SignedInfo exactly as xml-crypto computes it when it verifies (its own
 * canonicalization code, reached through the method checkSignature uses).
 */
function canonicalSignedInfo(signature: Element, doc: Document): string {
  const sig = new SignedXml();
  sig.loadSignature(signature);
  const internal = sig as unknown as { getCanonSignedInfoXml(doc: unknown): string };
  return internal.getCanonSignedInfoXml(doc);
}

/**
 * A trusted certificate, parsed once: its public key as a `KeyObject` and its DER (base64) to match a
 * KeyInfo certificate without parsing it. Cached by PEM text, so a connection's certificates are
 * parsed once per process, not once per login.
 */
export interface TrustedKey {
  pem: string;
  x509: X509Certificate;
  key: KeyObject;
  /** The certificate's DER, base64 without whitespace (as a KeyInfo X509Certificate carries it). */
  derBase64: string;
}

const TRUSTED_CACHE_MAX = 1024;
const trustedCache = new Map<string, TrustedKey | null>();

/** The parsed form of a trusted certificate (cached), or null when it does not parse. */
export function trustedKey(pem: string): TrustedKey | null {
  const hit = trustedCache.get(pem);
  if (hit !== undefined) return hit;
  let parsed: TrustedKey | null = null;
  try {
    const x509 = new X509Certificate(pem);
    parsed = { pem, x509, key: x509.publicKey, derBase64: x509.raw.toString('base64') };
  } catch {
    // not parsable: it could not verify anything
  }
  if (trustedCache.size >= TRUSTED_CACHE_MAX) trustedCache.delete(trustedCache.keys().next().value!);
  trustedCache.set(pem, parsed);
  return parsed;
}

/** The parsed forms of the certificates that parse (see {@link trustedKey}). */
export function trustedKeys(pems: readonly string[]): TrustedKey[] {
  const out: TrustedKey[] = [];
  for (const pem of pems) {
    const t = trustedKey(pem);
    if (t) out.push(t);
  }
  return out;
}

/**
 * For each signature, the trusted certificate whose key verifies its SignatureValue over the canonical
 * SignedInfo; returns those certificates (PEM, without duplicates, at most one per signature) for
 * node-saml, which still verifies everything else (references, digests, placement). A signature no
 * trusted certificate fitting its SignatureMethod verifies is SAML_SIGNATURE_INVALID, the detail
 * naming the (unverified) KeyInfo certificate. Algorithms are assumed to have been checked already.
 * Used by the node-saml reference path only (validate-response.ts); logins use verify-signature.ts.
 */
export function selectVerificationCertificates(
  signatures: readonly Element[],
  trustedPems: readonly string[],
): string[] {
  const trusted = trustedKeys(trustedPems);
  const selected = new Set<string>();
  for (const signature of signatures) {
    const canonical = () => canonicalSignedInfo(signature, signature.ownerDocument!);
    selected.add(signerOf(signature, trusted, canonical).pem);
  }
  return [...selected];
}

/** The text of the first KeyInfo/X509Data/X509Certificate, whitespace removed; null when absent. */
function keyInfoDer(signature: Element): string | null {
  const certEl = keyInfoCertElement(signature);
  if (!certEl) return null;
  try {
    return textOf(certEl).replace(/\s+/g, '');
  } catch {
    return null;
  }
}

/**
 * The trusted certificate whose key verifies the signature's SignatureValue over `canonical()` (the
 * canonical SignedInfo bytes), trying the one KeyInfo carries first. Throws SAML_SIGNATURE_INVALID
 * naming the (unverified) KeyInfo certificate when none does. Nothing here trusts KeyInfo.
 */
export function signerOf(
  signature: Element,
  trusted: readonly TrustedKey[],
  canonical: () => string,
): TrustedKey {
  const signedInfo = children(signature, NS.dsig, 'SignedInfo')[0];
  const method = signedInfo && children(signedInfo, NS.dsig, 'SignatureMethod')[0];
  const algorithm = method?.getAttribute('Algorithm') ?? '';
  const valueEl = children(signature, NS.dsig, 'SignatureValue')[0];
  // Lower-case element names: audit details must not look like (or be mistaken for) raw SAML.
  const where = `signature of the ${((signature.parentNode as Element | null)?.localName ?? '?').toLowerCase()}`;
  const fail = (reason: string): never => {
    const claimed = keyInfoX509(signature);
    const keyInfo = claimed
      ? `; KeyInfo carries SHA-256 ${claimed.fingerprint256}, subject ${summarize(claimed).subject}`
      : '; KeyInfo carries no certificate';
    throw new SpError('SAML_SIGNATURE_INVALID', {
      detail: `${where} ${reason}${keyInfo}`,
      ...(claimed
        ? {
            received: `SHA-256 ${claimed.fingerprint256}, subject ${summarize(claimed).subject}`,
            unverified: true,
          }
        : {}),
    });
  };
  const hash = RSA_SIGNATURE_HASHES.get(algorithm);
  if (!hash || !signedInfo || !valueEl) return fail('is incomplete or uses an unsupported algorithm');

  const fitting = trusted.filter((t) => keyFitsSignatureAlgorithm(t.key, algorithm));
  if (fitting.length === 0) {
    return fail(`uses ${algorithm.split('#')[1] ?? algorithm}: no trusted certificate has an RSA key`);
  }
  // The certificate KeyInfo names, if it is one of ours, is tried first (usually the only try).
  // Compared as DER text: no certificate parse on the way to a login.
  const claimedDer = keyInfoDer(signature);
  const ordered =
    claimedDer === null
      ? fitting
      : [
          ...fitting.filter((t) => t.derBase64 === claimedDer),
          ...fitting.filter((t) => t.derBase64 !== claimedDer),
        ];
  let signedInfoBytes: Buffer;
  try {
    signedInfoBytes = Buffer.from(canonical(), 'utf8');
  } catch (err) {
    throw new SpError('SAML_SIGNATURE_INVALID', {
      cause: err,
      detail: `${where}: SignedInfo cannot be canonicalized`,
    });
  }
  const value = Buffer.from(textOf(valueEl).replace(/\s+/g, ''), 'base64');
  for (const candidate of ordered) {
    const key = { key: candidate.key, padding: constants.RSA_PKCS1_PADDING };
    if (verify(hash, signedInfoBytes, key, value)) return candidate;
  }
  return fail(`verifies with none of the ${fitting.length} trusted certificate(s)`);
}
