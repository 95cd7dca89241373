/**
 * The fast verifier (src/saml/verify-signature.ts) on its own, without the structural checks in front
 * of it: each of its rules is shown refusing an input that a signer holding the trusted key could
 * have produced (`resign` plays the IdP signing whatever SignedInfo it is given), so that every rule
 * is load-bearing on its own and not only behind validate-response.ts.
 */
import { createHash, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { isSpError } from '../../src/errors.js';
import { trustedKeys } from '../../src/saml/signature-keys.js';
import { verifySignature } from '../../src/saml/verify-signature.js';
import { parseUntrustedXml, type Document, type Element } from '../../src/saml/xml.js';
import { attackerKey, idpKey, mintResponseXml, type IdpKey } from '../support/idp.js';

const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const acsUrl = 'http://localhost:3000/sso/acme/acs';
const audience = 'http://localhost:3000/sso/acme/metadata';
const trusted = trustedKeys([idpKey.cert]);

const first = (root: Document | Element, ns: string, name: string) =>
  root.getElementsByTagNameNS(ns, name)[0]!;
function setText(el: Element, text: string): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  el.appendChild(el.ownerDocument!.createTextNode(text));
}

/** A freshly minted, assertion-signed response, parsed; its assertion and the assertion's Signature. */
function minted(): { doc: Document; assertion: Element; signature: Element } {
  const doc = parseUntrustedXml(mintResponseXml({ acsUrl, audience }));
  const assertion = first(doc, SAML, 'Assertion');
  return { doc, assertion, signature: first(assertion, DSIG, 'Signature') };
}

/** The exclusive canonical form of `el` without its direct Signature children, hashed (SHA-256, base64). */
function digestOf(el: Element): string {
  const copy = el.cloneNode(true) as Element;
  for (const s of Array.from(copy.childNodes)) {
    if ((s as Element).localName === 'Signature') copy.removeChild(s);
  }
  return createHash('sha256').update(new ExclusiveCanonicalization().process(copy, {})).digest('base64');
}

/** Plays the holder of `key`: signs the (possibly altered) SignedInfo as it stands. */
function resign(signature: Element, key: IdpKey = idpKey): void {
  const signedInfo = first(signature, DSIG, 'SignedInfo');
  const canonical = new ExclusiveCanonicalization().process(signedInfo, {});
  setText(
    first(signature, DSIG, 'SignatureValue'),
    sign('sha256', Buffer.from(canonical), key.privateKey).toString('base64'),
  );
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSpError(err, 'SAML_SIGNATURE_INVALID')) return err.detail ?? '';
    throw err;
  }
  throw new Error('accepted');
}

describe('verifySignature', () => {
  it('verifies a minted signature and names its parent as the signed element', () => {
    const { assertion, signature } = minted();
    const verified = verifySignature(signature, trusted);
    expect(verified.signed).toBe(assertion);
    expect(verified.signer.pem).toBe(idpKey.cert);
  });

  it('tells onCheck only when the cryptographic check begins: once for a good or a forged signature, never for a bad shape', () => {
    let checks = 0;
    const onCheck = () => checks++;
    verifySignature(minted().signature, trusted, onCheck);
    expect(checks).toBe(1);
    const forged = minted().signature;
    resign(forged, attackerKey);
    expect(refusal(() => verifySignature(forged, trusted, onCheck))).toContain('none of the 1 trusted');
    expect(checks).toBe(2);
    const misshapen = minted().signature;
    const reference = first(misshapen, DSIG, 'Reference');
    reference.parentNode!.appendChild(reference.cloneNode(true));
    expect(refusal(() => verifySignature(misshapen, trusted, onCheck))).toContain('shape');
    expect(checks).toBe(2);
  });

  it('digest compare: content changed after signing (the NameID) is refused', () => {
    const { assertion, signature } = minted();
    setText(first(assertion, SAML, 'NameID'), 'auth0|admin');
    expect(refusal(() => verifySignature(signature, trusted))).toContain('digest');
  });

  it('digest compare: a digest of another element (the Response) is refused', () => {
    const { doc, signature } = minted();
    setText(first(signature, DSIG, 'DigestValue'), digestOf(doc.documentElement!));
    resign(signature);
    expect(refusal(() => verifySignature(signature, trusted))).toContain('digest');
  });

  it('key choice: a signature by a key nobody trusts is refused, whatever KeyInfo says', () => {
    const { signature } = minted();
    resign(signature, attackerKey);
    expect(refusal(() => verifySignature(signature, trusted))).toContain('none of the 1 trusted');
  });

  it('reference URI: a Reference to anything but the parent is refused, even when the key signed it', () => {
    const { doc, signature } = minted();
    first(signature, DSIG, 'Reference').setAttribute('URI', `#${doc.documentElement!.getAttribute('ID')!}`);
    resign(signature);
    expect(refusal(() => verifySignature(signature, trusted))).toContain('Reference');
  });

  it('one Reference: a second Reference is refused, even when the key signed it', () => {
    const { signature } = minted();
    const reference = first(signature, DSIG, 'Reference');
    reference.parentNode!.appendChild(reference.cloneNode(true));
    resign(signature);
    expect(refusal(() => verifySignature(signature, trusted))).toContain('shape');
  });

  it('transforms allow-list: a transform other than enveloped + exc-c14n is refused, even when signed', () => {
    const { signature } = minted();
    first(signature, DSIG, 'Transforms')
      .getElementsByTagNameNS(DSIG, 'Transform')[1]!
      .setAttribute('Algorithm', 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315');
    resign(signature);
    expect(refusal(() => verifySignature(signature, trusted))).toContain('transforms');
  });

  it('signed content: a comment inside the NameID (same canonical bytes) is refused', () => {
    const { assertion, signature } = minted();
    const nameId = first(assertion, SAML, 'NameID');
    const text = nameId.textContent!;
    setText(nameId, text.slice(0, 5));
    nameId.appendChild(nameId.ownerDocument!.createComment(''));
    nameId.appendChild(nameId.ownerDocument!.createTextNode(text.slice(5)));
    expect(refusal(() => verifySignature(signature, trusted))).toContain('comment');
  });

  it('one Signature per element: a second one on the same parent is refused', () => {
    const { assertion, signature } = minted();
    assertion.insertBefore(signature.cloneNode(true), signature);
    expect(refusal(() => verifySignature(signature, trusted))).toContain('more than one Signature');
  });
});
