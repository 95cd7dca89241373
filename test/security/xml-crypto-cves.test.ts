/**
 * The xml-crypto and node-saml signature bypasses of 2025, each idea reproduced against our ACS with
 * documents minted here. The attacker holds a genuine response for their own account
 * (auth0|attacker) and wants to be auth0|admin / admin@victim.example. Where an exploit needs a
 * digest or signature over forged content, the attacker computes it with their own key — exactly
 * what a real attacker can do.
 *
 * - CVE-2025-29774 (GHSA-9p8x-f768-wp2g, "SAMLStorm", xml-crypto ≤ 6.0.0): a Signature with several
 *   SignedInfo elements; the SignatureValue was checked against one, the references taken from another.
 * - CVE-2025-29775 (GHSA-x3m8-899r-f7c3, xml-crypto ≤ 6.0.0): a comment inside DigestValue; the
 *   canonical SignedInfo (comments dropped) still matched the SignatureValue while the digest was read
 *   from the comment.
 * - CVE-2025-54419 (GHSA-4mxg-3p6v-xgq3, node-saml < 5.1.0): node-saml verified the signature but then
 *   loaded the assertion from the unsigned document, not from the signed bytes — the signature checks
 *   one assertion, the data comes from another.
 * - CVE-2025-54369 (GHSA-m837-g268-mmv7, node-saml < 5.1.0): the same root cause (verified bytes and
 *   consumed DOM differ), published with shapes that hide the signed content where it is verified
 *   but not read (StatusDetail, decoy Signature elements carrying the genuine SignatureValue, which
 *   the pre-6.1 enveloped-signature transform stripped from the digest) — "remove any character from
 *   the username".
 */
import type { Document, Element } from '@xmldom/xmldom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import { createAccountWithIdp, postAcs, startSp, type TestSp } from '../support/harness.js';
import { attackerKey, idpKey } from '../support/idp.js';
import {
  b64,
  childrenOf,
  edit,
  expectRejected,
  mintXmlFor,
  NS,
  one,
  parseXml,
  serialize,
  setText,
  signEnveloped,
  userNameIds,
  VICTIM,
} from './support.js';

type Signed = 'assertion' | 'response';
const STATUS_RESPONDER = 'urn:oasis:names:tc:SAML:2.0:status:Responder';

let t: TestSp;

/**
 * A genuine response (the attacker's own, signed by the IdP) and the forged response the attacker
 * wants accepted (victim identity, same IDs and instants, signed with the attacker's key so that its
 * SignedInfo carries the right digest of the forged content).
 */
function genuineAndForged(sign: Signed): { genuine: Document; forged: Document } {
  const common = {
    sign,
    now: new Date(),
    assertionId: `_a${Date.now()}${Math.random().toString(16).slice(2)}`,
    responseId: '_r1',
  };
  const genuine = parseXml(mintXmlFor(t, 'acme', common));
  const forged = parseXml(
    mintXmlFor(t, 'acme', { ...common, nameId: VICTIM.nameId, email: VICTIM.email, key: attackerKey }),
  );
  return { genuine, forged };
}

function signatureIn(doc: Document, sign: Signed): Element {
  const el = sign === 'assertion' ? one(doc, NS.assertion, 'Assertion') : doc.documentElement!;
  return childrenOf(el, NS.dsig, 'Signature')[0]!;
}

/** Replaces the forged signature's SignatureValue and KeyInfo with the genuine ones. */
function graftGenuineSignatureValue(forged: Document, genuine: Document, sign: Signed): Element {
  const fSig = signatureIn(forged, sign);
  const gSig = signatureIn(genuine, sign);
  for (const name of ['SignatureValue', 'KeyInfo']) {
    const f = childrenOf(fSig, NS.dsig, name)[0]!;
    fSig.replaceChild(forged.importNode(childrenOf(gSig, NS.dsig, name)[0]!, true), f);
  }
  return fSig;
}

const MODES = ['assertion', 'response'] as const;

describe('xml-crypto and node-saml signature bypasses (2025)', () => {
  beforeAll(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
  });
  afterAll(async () => {
    expect(await userNameIds(t, 'acme')).not.toContain(VICTIM.nameId);
    await t.close();
  });

  describe('CVE-2025-29774: several SignedInfo elements in one Signature', () => {
    for (const { sign, order } of MODES.flatMap((sign) => [
      { sign, order: 'genuine SignedInfo first' as const },
      { sign, order: 'forged SignedInfo first' as const },
    ])) {
      it(`${sign}-signed, ${order} → SAML_SIGNATURE_INVALID`, async () => {
        const { genuine, forged } = genuineAndForged(sign);
        const sig = graftGenuineSignatureValue(forged, genuine, sign);
        const forgedInfo = childrenOf(sig, NS.dsig, 'SignedInfo')[0]!;
        const genuineInfo = forged.importNode(
          childrenOf(signatureIn(genuine, sign), NS.dsig, 'SignedInfo')[0]!,
          true,
        );
        sig.insertBefore(
          genuineInfo,
          order === 'genuine SignedInfo first' ? forgedInfo : forgedInfo.nextSibling,
        );
        expect(childrenOf(sig, NS.dsig, 'SignedInfo')).toHaveLength(2);
        await expectRejected(t, await postAcs(t, 'acme', b64(serialize(forged))), 'SAML_SIGNATURE_INVALID');
      });
    }
  });

  describe('CVE-2025-29775: the forged digest hidden in a comment inside DigestValue', () => {
    it.each(MODES)('%s-signed → SAML_XML_COMMENT_FORBIDDEN', async (sign) => {
      const { genuine, forged } = genuineAndForged(sign);
      const forgedDigest = one(signatureIn(forged, sign), NS.dsig, 'DigestValue').textContent!;
      const sig = graftGenuineSignatureValue(forged, genuine, sign);
      // The genuine SignedInfo (its SignatureValue verifies), with the forged digest as a comment
      // before the genuine one: <DigestValue><!--forged-->genuine</DigestValue>.
      const genuineInfo = forged.importNode(
        childrenOf(signatureIn(genuine, sign), NS.dsig, 'SignedInfo')[0]!,
        true,
      );
      const digest = one(genuineInfo, NS.dsig, 'DigestValue');
      digest.insertBefore(forged.createComment(forgedDigest), digest.firstChild);
      sig.replaceChild(genuineInfo, childrenOf(sig, NS.dsig, 'SignedInfo')[0]!);
      const xml = serialize(forged);
      expect(xml).toMatch(/<DigestValue><!--[^<]+-->[^<]+<\/DigestValue>/);
      await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_XML_COMMENT_FORBIDDEN');
    });
  });

  describe('CVE-2025-54419: the signature checks one assertion, the data comes from another', () => {
    const cases: Array<{ name: string; sameId: boolean; code: ErrorCode }> = [
      {
        name: 'forged assertion with a byte copy of the genuine Signature and the same ID',
        sameId: true,
        code: 'SAML_DUPLICATE_ID',
      },
      { name: 'forged assertion with its own ID', sameId: false, code: 'SAML_ASSERTION_COUNT' },
    ];
    for (const { sameId, code, name } of cases) {
      it(`genuine signed assertion hidden in samlp:Extensions, ${name} → ${code}`, async () => {
        const xml = edit(mintXmlFor(t, 'acme'), (doc) => {
          const root = doc.documentElement!;
          const genuine = one(doc, NS.assertion, 'Assertion');
          const forged = genuine.cloneNode(true) as Element;
          setText(one(forged, NS.assertion, 'NameID'), VICTIM.nameId);
          if (!sameId) forged.setAttribute('ID', '_forged');
          const extensions = doc.createElementNS(NS.protocol, 'samlp:Extensions');
          root.insertBefore(extensions, one(doc, NS.protocol, 'Status'));
          extensions.appendChild(genuine);
          root.appendChild(forged);
        });
        await expectRejected(t, await postAcs(t, 'acme', b64(xml)), code);
      });
    }

    it('response-signed: a forged assertion added beside the signed Response content → SAML_ASSERTION_COUNT', async () => {
      const xml = edit(mintXmlFor(t, 'acme', { sign: 'response' }), (doc) => {
        const forged = one(doc, NS.assertion, 'Assertion').cloneNode(true) as Element;
        setText(one(forged, NS.assertion, 'NameID'), VICTIM.nameId);
        forged.setAttribute('ID', '_forged');
        doc.documentElement!.insertBefore(forged, one(doc, NS.assertion, 'Assertion'));
      });
      await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_ASSERTION_COUNT');
    });
  });

  describe('CVE-2025-54369: verified bytes and consumed document differ', () => {
    it('a decoy Signature with the genuine SignatureValue inside the NameID → SAML_SIGNATURE_INVALID', async () => {
      // The attacker registered as admin@victim.example.evil.example; a transform that drops every
      // Signature carrying the genuine SignatureValue digests the same text, while a DOM reader that
      // stops at the first text node sees admin@victim.example.
      const registered = `${VICTIM.email}.evil.example`;
      const xml = edit(mintXmlFor(t, 'acme', { nameId: registered }), (doc) => {
        const nameId = one(doc, NS.assertion, 'NameID');
        const decoy = signatureIn(doc, 'assertion').cloneNode(true);
        setText(nameId, VICTIM.email);
        nameId.appendChild(decoy);
        nameId.appendChild(doc.createTextNode('.evil.example'));
      });
      await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_SIGNATURE_INVALID');
    });

    for (const { sameId, code, name } of [
      { name: 'forged assertion in its usual place', sameId: false, code: 'SAML_ASSERTION_COUNT' as const },
      {
        name: 'forged assertion with a copy of the genuine Signature and the same ID',
        sameId: true,
        code: 'SAML_DUPLICATE_ID' as const,
      },
    ]) {
      it(`genuine signed assertion wrapped in samlp:StatusDetail, ${name} → ${code}`, async () => {
        const xml = edit(mintXmlFor(t, 'acme'), (doc) => {
          const genuine = one(doc, NS.assertion, 'Assertion');
          const forged = genuine.cloneNode(true) as Element;
          setText(one(forged, NS.assertion, 'NameID'), VICTIM.nameId);
          if (!sameId) {
            forged.setAttribute('ID', '_forged');
            for (const s of childrenOf(forged, NS.dsig, 'Signature')) forged.removeChild(s);
          }
          const detail = doc.createElementNS(NS.protocol, 'samlp:StatusDetail');
          one(doc, NS.protocol, 'Status').appendChild(detail);
          detail.appendChild(genuine);
          doc.documentElement!.appendChild(forged);
        });
        await expectRejected(t, await postAcs(t, 'acme', b64(xml)), code);
      });
    }

    /** A genuinely signed error Response (no assertion) with a decoy Signature carrying a forged assertion. */
    function signedErrorWithDecoy(statusAfterSigning: string | null): string {
      const unsigned = edit(mintXmlFor(t, 'acme', { sign: 'none', statusCode: STATUS_RESPONDER }), (doc) => {
        const a = one(doc, NS.assertion, 'Assertion');
        a.parentNode!.removeChild(a);
      });
      const forgedAssertion = one(
        parseXml(mintXmlFor(t, 'acme', { sign: 'none', nameId: VICTIM.nameId })),
        NS.assertion,
        'Assertion',
      );
      return edit(signEnveloped(unsigned, 'response', idpKey), (doc) => {
        const root = doc.documentElement!;
        const genuineSig = childrenOf(root, NS.dsig, 'Signature')[0]!;
        const decoy = genuineSig.cloneNode(true) as Element;
        const object = doc.createElementNS(NS.dsig, 'Object');
        object.appendChild(doc.importNode(forgedAssertion, true));
        decoy.appendChild(object);
        root.appendChild(decoy);
        if (statusAfterSigning) one(doc, NS.protocol, 'StatusCode').setAttribute('Value', statusAfterSigning);
      });
    }

    it('signed error Response + decoy Signature holding a forged assertion → SAML_STATUS_NOT_SUCCESS', async () => {
      await expectRejected(
        t,
        await postAcs(t, 'acme', b64(signedErrorWithDecoy(null))),
        'SAML_STATUS_NOT_SUCCESS',
      );
    });

    it('the same with the Status flipped to Success → SAML_ASSERTION_COUNT (the assertion is not a child of the Response)', async () => {
      const xml = signedErrorWithDecoy('urn:oasis:names:tc:SAML:2.0:status:Success');
      await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_ASSERTION_COUNT');
    });
  });
});
