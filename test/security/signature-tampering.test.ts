/**
 * Tampering with the XML Signature itself: removed, re-pointed, duplicated, moved, broken, or its
 * algorithms swapped. Cases test/security/acs-rules.test.ts already has (unsigned minted response,
 * signed by the attacker or a rotated key, attacker certificate in KeyInfo, NameID edited in an
 * assertion-signed response, a second signed assertion) are not repeated here.
 *
 * References: Somorovsky et al. 2012 (signature exclusion, reference games); passport-saml#281 (one
 * of two signatures invalid); McIntosh & Austel, "XML signature element wrapping attacks" (2005);
 * the HMAC key-confusion class (a public key used as an HMAC secret).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Document, Element } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import type { ErrorCode } from '../../src/errors.js';
import { createAccountWithIdp, postAcs, startSp, type TestSp } from '../support/harness.js';
import { attackerKey, idpKey } from '../support/idp.js';
import {
  b64,
  childrenOf,
  edit,
  EMAIL_CLAIM,
  expectLoggedIn,
  expectRejected,
  mintXmlFor,
  NS,
  one,
  all,
  setText,
  userNameIds,
  VICTIM,
} from './support.js';

type Signed = 'assertion' | 'response';

const HMAC_SHA1 = 'http://www.w3.org/2000/09/xmldsig#hmac-sha1';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';

/** The element that carries the signature in each mode. */
function signedElement(doc: Document, sign: Signed): Element {
  return sign === 'assertion' ? one(doc, NS.assertion, 'Assertion') : doc.documentElement!;
}
function signatureOf(doc: Document, sign: Signed): Element {
  return childrenOf(signedElement(doc, sign), NS.dsig, 'Signature')[0]!;
}
function emailValue(doc: Document): Element {
  const attr = all(doc, NS.assertion, 'Attribute').find((a) => a.getAttribute('Name') === EMAIL_CLAIM)!;
  return childrenOf(attr, NS.assertion, 'AttributeValue')[0]!;
}

interface Case {
  name: string;
  sign: Signed;
  code: ErrorCode;
  attack: (doc: Document, sign: Signed) => void;
}

const both = (name: string, code: ErrorCode, attack: (doc: Document, sign: Signed) => void): Case[] =>
  (['assertion', 'response'] as const).map((sign) => ({ name, sign, code, attack }));

const CASES: Case[] = [
  // Signature exclusion: the genuine signature is simply taken out after signing.
  ...both('signature element removed after signing', 'SAML_SIGNATURE_MISSING', (doc, sign) => {
    const sig = signatureOf(doc, sign);
    sig.parentNode!.removeChild(sig);
  }),
  ...both('SignatureValue emptied', 'SAML_SIGNATURE_INVALID', (doc) => {
    setText(one(doc, NS.dsig, 'SignatureValue'), '');
  }),
  // Digest mismatch: signed content edited after signing.
  {
    name: 'NameID edited after signing',
    sign: 'response',
    code: 'SAML_SIGNATURE_INVALID',
    attack: (doc) => setText(one(doc, NS.assertion, 'NameID'), VICTIM.nameId),
  },
  ...both('e-mail attribute edited after signing', 'SAML_SIGNATURE_INVALID', (doc) => {
    setText(emailValue(doc), VICTIM.email);
  }),
  ...both('group attribute added after signing', 'SAML_SIGNATURE_INVALID', (doc) => {
    const statement = one(doc, NS.assertion, 'AttributeStatement');
    const attr = doc.createElementNS(NS.assertion, 'saml:Attribute');
    attr.setAttribute('Name', 'http://schemas.xmlsoap.org/claims/Group');
    const value = doc.createElementNS(NS.assertion, 'saml:AttributeValue');
    value.appendChild(doc.createTextNode('admins'));
    attr.appendChild(value);
    statement.appendChild(attr);
  }),
  ...both('Audience edited after signing', 'SAML_SIGNATURE_INVALID', (doc) => {
    setText(one(doc, NS.assertion, 'Audience'), 'urn:other-app');
  }),
  // A signed assertion beside an unsigned one (either order).
  ...both('an unsigned forged assertion before the signed one', 'SAML_ASSERTION_COUNT', (doc) => {
    const signed = one(doc, NS.assertion, 'Assertion');
    const forged = signed.cloneNode(true) as Element;
    for (const s of childrenOf(forged, NS.dsig, 'Signature')) forged.removeChild(s);
    forged.setAttribute('ID', '_forged');
    setText(one(forged, NS.assertion, 'NameID'), VICTIM.nameId);
    doc.documentElement!.insertBefore(forged, signed);
  }),
  ...both('an unsigned forged assertion after the signed one', 'SAML_ASSERTION_COUNT', (doc) => {
    const signed = one(doc, NS.assertion, 'Assertion');
    const forged = signed.cloneNode(true) as Element;
    for (const s of childrenOf(forged, NS.dsig, 'Signature')) forged.removeChild(s);
    forged.setAttribute('ID', '_forged');
    setText(one(forged, NS.assertion, 'NameID'), VICTIM.nameId);
    doc.documentElement!.appendChild(forged);
  }),
  // Reference games: the Signature does not cover the element it sits in.
  {
    name: 'Reference re-pointed from the Assertion to the Response',
    sign: 'assertion',
    code: 'SAML_SIGNATURE_INVALID',
    attack: (doc) =>
      one(doc, NS.dsig, 'Reference').setAttribute('URI', `#${doc.documentElement!.getAttribute('ID')}`),
  },
  {
    name: 'Reference re-pointed from the Response to the Assertion',
    sign: 'response',
    code: 'SAML_SIGNATURE_INVALID',
    attack: (doc) =>
      one(doc, NS.dsig, 'Reference').setAttribute(
        'URI',
        `#${one(doc, NS.assertion, 'Assertion').getAttribute('ID')}`,
      ),
  },
  ...both('Reference URI="" (the whole document)', 'SAML_SIGNATURE_INVALID', (doc) => {
    one(doc, NS.dsig, 'Reference').setAttribute('URI', '');
  }),
  ...both('a second Reference in SignedInfo', 'SAML_SIGNATURE_INVALID', (doc) => {
    const ref = one(doc, NS.dsig, 'Reference');
    const extra = ref.cloneNode(true) as Element;
    extra.setAttribute('URI', '#_forged');
    ref.parentNode!.appendChild(extra);
  }),
  {
    name: 'the assertion Signature moved up to the Response (still pointing at the assertion)',
    sign: 'assertion',
    code: 'SAML_SIGNATURE_INVALID',
    attack: (doc) => {
      const sig = signatureOf(doc, 'assertion');
      const root = doc.documentElement!;
      root.insertBefore(sig, one(doc, NS.protocol, 'Status'));
    },
  },
  ...both('the Signature moved into the Subject', 'SAML_SIGNATURE_INVALID', (doc, sign) => {
    one(doc, NS.assertion, 'Subject').appendChild(signatureOf(doc, sign));
  }),
  ...both('a copy of the genuine Signature beside it', 'SAML_SIGNATURE_INVALID', (doc, sign) => {
    const sig = signatureOf(doc, sign);
    sig.parentNode!.insertBefore(sig.cloneNode(true), sig.nextSibling);
  }),
  ...both('an extra XPath Transform in the Reference', 'SAML_SIGNATURE_INVALID', (doc) => {
    const transform = doc.createElementNS(NS.dsig, 'Transform');
    transform.setAttribute('Algorithm', 'http://www.w3.org/TR/1999/REC-xpath-19991116');
    one(doc, NS.dsig, 'Transforms').appendChild(transform);
  }),
  // Duplicate IDs: xml-crypto resolves references through ID, Id and id (any namespace).
  ...both('the Response and the Assertion share one ID', 'SAML_DUPLICATE_ID', (doc) => {
    doc.documentElement!.setAttribute('ID', one(doc, NS.assertion, 'Assertion').getAttribute('ID')!);
  }),
  ...both('another element repeats the signed ID as Id', 'SAML_DUPLICATE_ID', (doc, sign) => {
    one(doc, NS.protocol, 'Status').setAttribute('Id', signedElement(doc, sign).getAttribute('ID')!);
  }),
  // BUG (src/saml/xml.ts scanDocument, minor): IDs are read by qualified name (getAttribute('ID')),
  // while xml-crypto resolves references by local name in ANY namespace (@*[local-name()='ID']). The
  // duplicate slips past our scan and is only stopped inside xml-crypto, as SAML_SIGNATURE_INVALID.
  ...both('another element repeats the signed ID as a namespaced x:ID', 'SAML_DUPLICATE_ID', (doc, sign) => {
    one(doc, NS.protocol, 'Status').setAttributeNS(
      'urn:x',
      'x:ID',
      signedElement(doc, sign).getAttribute('ID')!,
    );
  }),
  // Algorithm substitution.
  ...both('rsa-md5 SignatureMethod', 'SAML_ALGORITHM_UNSUPPORTED', (doc) => {
    one(doc, NS.dsig, 'SignatureMethod').setAttribute(
      'Algorithm',
      'http://www.w3.org/2001/04/xmldsig-more#rsa-md5',
    );
  }),
];

describe('signature tampering', () => {
  let t: TestSp;
  beforeAll(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
  });
  afterAll(async () => {
    expect(await userNameIds(t, 'acme')).not.toContain(VICTIM.nameId);
    await t.close();
  });

  for (const { sign, code, attack, name } of CASES) {
    it(`${sign}-signed: ${name} → ${code}`, async () => {
      const xml = edit(mintXmlFor(t, 'acme', { sign }), (doc) => attack(doc, sign));
      await expectRejected(t, await postAcs(t, 'acme', b64(xml)), code);
    });
  }

  it('HMAC-SHA1 signature keyed with the IdP public certificate (key confusion) → SAML_ALGORITHM_UNSUPPORTED', async () => {
    // The attacker edits the assertion freely and "signs" it with HMAC, using the public certificate
    // as the shared secret: a verifier that feeds whatever key it trusts into the algorithm the
    // message names would accept it.
    const unsigned = mintXmlFor(t, 'acme', { sign: 'none', nameId: VICTIM.nameId, email: VICTIM.email });
    const sig = new SignedXml({
      privateKey: idpKey.cert,
      signatureAlgorithm: HMAC_SHA1,
      canonicalizationAlgorithm: EXC_C14N,
    });
    sig.enableHMAC();
    sig.addReference({
      xpath: `/*/*[local-name(.)='Assertion']`,
      digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
      transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', EXC_C14N],
    });
    sig.computeSignature(unsigned, {
      location: { reference: `/*/*[local-name(.)='Assertion']/*[local-name(.)='Issuer']`, action: 'after' },
    });
    const forged = sig.getSignedXml();
    expect(forged).toContain(HMAC_SHA1);
    await expectRejected(t, await postAcs(t, 'acme', b64(forged)), 'SAML_ALGORITHM_UNSUPPORTED');
  });

  it('a valid IdP signature on a third element (samlp:Extensions, self-referencing) → SAML_SIGNATURE_INVALID', async () => {
    // Signatures belong on the Response or the Assertion only: a genuine signature over some other
    // element must not count for anything, nor be left for a later code path to trust.
    const withExtensions = mintXmlFor(t, 'acme').replace(
      '<samlp:Status>',
      `<samlp:Extensions ID="_ext"><x:Data xmlns:x="urn:x">hello</x:Data></samlp:Extensions><samlp:Status>`,
    );
    const sig = new SignedXml({
      privateKey: idpKey.privateKey,
      publicCert: idpKey.cert,
      signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
      canonicalizationAlgorithm: EXC_C14N,
    });
    sig.addReference({
      xpath: `//*[@ID='_ext']`,
      digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
      transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', EXC_C14N],
    });
    sig.computeSignature(withExtensions, {
      location: { reference: `//*[@ID='_ext']/*[local-name(.)='Data']`, action: 'after' },
    });
    const xml = sig.getSignedXml();
    expect(xml.match(/<Signature /g)).toHaveLength(2);
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  it('response-signed by the attacker key with the attacker certificate in KeyInfo → SAML_SIGNATURE_INVALID', async () => {
    const xml = mintXmlFor(t, 'acme', { sign: 'response', key: attackerKey, nameId: VICTIM.nameId });
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  // BUG (src/saml/validate-response.ts + node-saml getVerifiedXml): a Response signature that does
  // not verify is silently ignored whenever the assertion signature verifies, so a tampered, signed
  // message logs in. Harmless today only because the envelope is treated as unsigned anyway.
  it('both signed, the Response signature broken (envelope edited) → SAML_SIGNATURE_INVALID, even though the assertion signature holds', async () => {
    // XML-DSig core validation fails when any present signature fails (cf. passport-saml#281).
    const xml = edit(mintXmlFor(t, 'acme', { sign: 'both' }), (doc) => {
      doc.documentElement!.removeAttribute('Destination');
    });
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  it('both signed, the Response SignatureValue corrupted → SAML_SIGNATURE_INVALID', async () => {
    const xml = edit(mintXmlFor(t, 'acme', { sign: 'both' }), (doc) => {
      const value = childrenOf(doc.documentElement!, NS.dsig, 'Signature')[0]!;
      const sv = childrenOf(value, NS.dsig, 'SignatureValue')[0]!;
      setText(sv, `AAAA${sv.textContent!.slice(4)}`);
    });
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  it('the untouched both-signed input logs in (the two cases above differ only by the edit)', async () => {
    await expectLoggedIn(t, await postAcs(t, 'acme', b64(mintXmlFor(t, 'acme', { sign: 'both' }))));
  });
});
