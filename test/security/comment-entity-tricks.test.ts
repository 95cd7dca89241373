/**
 * Comment and entity tricks in NameID and attributes: the CVE-2017-11427 family (Kelby Ludwig, Duo
 * Labs, "Duo Finds SAML Vulnerabilities Affecting Multiple Implementations", 2018 — python-saml
 * CVE-2017-11427, ruby-saml CVE-2017-11428, saml2-js CVE-2017-11429, OmniAuth-SAML CVE-2017-11430,
 * Shibboleth CVE-2018-0489, SAMLBase CVE-2018-5387, Duo Network Gateway CVE-2018-7340).
 *
 * The attacker registers at the IdP as admin@victim.example.evil.example and, AFTER the IdP signed,
 * splits the value with a comment: exclusive canonicalization drops comments, so the signature still
 * verifies, and a reader that stops at the first text node sees admin@victim.example. That must never
 * log in as admin@victim.example. (acs-rules.test.ts covers comments the IdP itself signed.)
 */
import type { Document, Element, Node } from '@xmldom/xmldom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountWithIdp, postAcs, startSp, type TestSp } from '../support/harness.js';
import {
  all,
  b64,
  childrenOf,
  edit,
  EMAIL_CLAIM,
  expectLoggedIn,
  expectRejected,
  mintXmlFor,
  NS,
  one,
  userNameIds,
  VICTIM,
} from './support.js';

const REGISTERED = `${VICTIM.email}.evil.example`;

/** Splits `el`'s text "admin@victim.example" | ".evil.example" with `node` in between. */
function split(doc: Document, el: Element, node: (doc: Document) => Node): void {
  expect(el.textContent).toBe(REGISTERED);
  while (el.firstChild) el.removeChild(el.firstChild);
  el.appendChild(doc.createTextNode(VICTIM.email));
  el.appendChild(node(doc));
  el.appendChild(doc.createTextNode('.evil.example'));
}
const emailValues = (doc: Document): Element[] =>
  all(doc, NS.assertion, 'Attribute')
    .filter((a) => a.getAttribute('Name') === EMAIL_CLAIM || a.getAttribute('Name')!.endsWith('/upn'))
    .flatMap((a) => childrenOf(a, NS.assertion, 'AttributeValue'));

describe('comment and entity tricks (CVE-2017-11427 family)', () => {
  let t: TestSp;
  const mint = (sign: 'assertion' | 'response' = 'assertion') =>
    mintXmlFor(t, 'acme', { sign, nameId: REGISTERED, email: REGISTERED });

  beforeAll(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
  });
  afterAll(async () => {
    const users = await userNameIds(t, 'acme');
    expect(users).not.toContain(VICTIM.email);
    expect(users).not.toContain(VICTIM.nameId);
    await t.close();
  });

  it.each(['assertion', 'response'] as const)(
    '%s-signed: <!----> inserted into the NameID after signing → SAML_XML_COMMENT_FORBIDDEN',
    async (sign) => {
      const xml = edit(mint(sign), (doc) =>
        split(doc, one(doc, NS.assertion, 'NameID'), (d) => d.createComment('')),
      );
      expect(xml).toContain(`${VICTIM.email}<!---->.evil.example</saml:NameID>`);
      await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_XML_COMMENT_FORBIDDEN');
    },
  );

  it('<!----> inserted into the e-mail and upn attributes after signing → SAML_XML_COMMENT_FORBIDDEN', async () => {
    const xml = edit(mint(), (doc) => {
      for (const v of emailValues(doc)) split(doc, v, (d) => d.createComment(''));
    });
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_XML_COMMENT_FORBIDDEN');
  });

  it('a comment carrying text (<!--x-->) in NameID and attributes at once → SAML_XML_COMMENT_FORBIDDEN', async () => {
    const xml = edit(mint(), (doc) => {
      for (const el of [one(doc, NS.assertion, 'NameID'), ...emailValues(doc)]) {
        split(doc, el, (d) => d.createComment('.evil.example'));
      }
    });
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_XML_COMMENT_FORBIDDEN');
  });

  it('a processing instruction splitting the NameID → SAML_XML_COMMENT_FORBIDDEN', async () => {
    const xml = edit(mint(), (doc) =>
      split(doc, one(doc, NS.assertion, 'NameID'), (d) => d.createProcessingInstruction('x', 'y')),
    );
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_XML_COMMENT_FORBIDDEN');
  });

  it('a comment outside any signed element (the Response envelope) → SAML_XML_COMMENT_FORBIDDEN', async () => {
    const xml = edit(mint(), (doc) => {
      doc.documentElement!.insertBefore(doc.createComment(' hello '), one(doc, NS.protocol, 'Status'));
    });
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_XML_COMMENT_FORBIDDEN');
  });

  it('an escaped comment (&lt;!----&gt;) is text, changes the signed value → SAML_SIGNATURE_INVALID', async () => {
    const xml = edit(mint(), (doc) =>
      split(doc, one(doc, NS.assertion, 'NameID'), (d) => d.createTextNode('<!---->')),
    );
    expect(xml).toContain('&lt;!----&gt;');
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  it('an internal entity expanding to the victim inside the NameID → SAML_DOCTYPE_FORBIDDEN', async () => {
    const signed = mint();
    const xml = `<!DOCTYPE samlp:Response [<!ENTITY v "${VICTIM.email}">]>${signed.replace(
      `>${REGISTERED}</saml:NameID>`,
      `>&v;</saml:NameID>`,
    )}`;
    expect(xml).toContain('>&v;</saml:NameID>');
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_DOCTYPE_FORBIDDEN');
  });

  it('an undeclared entity reference in the NameID → SAML_RESPONSE_MALFORMED', async () => {
    const xml = mint().replace(`>${REGISTERED}</saml:NameID>`, `>&victim;.evil.example</saml:NameID>`);
    await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_RESPONSE_MALFORMED');
  });

  it('an empty CDATA section splitting the NameID logs in as the whole signed value, never the prefix', async () => {
    // Canonicalization turns CDATA into text: the signature holds, and the value read is the signed one.
    const xml = edit(mint(), (doc) =>
      split(doc, one(doc, NS.assertion, 'NameID'), (d) => d.createCDATASection('')),
    );
    expect(xml).toContain(`${VICTIM.email}<![CDATA[]]>.evil.example`);
    const who = await expectLoggedIn(t, await postAcs(t, 'acme', b64(xml)));
    expect(who.nameId).toBe(REGISTERED);
  });

  it('character references for signed characters (&#x61;dmin…) log in as the signed value only', async () => {
    const xml = mint().replace(
      `>${REGISTERED}</saml:NameID>`,
      `>&#x61;dmin&#64;victim.example.evil.example</saml:NameID>`,
    );
    const who = await expectLoggedIn(t, await postAcs(t, 'acme', b64(xml)));
    expect(who.nameId).toBe(REGISTERED);
    expect(who.email).toBe(REGISTERED);
  });
});
