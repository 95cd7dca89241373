/**
 * Look-alike identities: users are keyed by (connection, NameID), so `admin` and `admin` followed by a
 * no-break space must never be the same user — and a NameID padded with invisible characters must not
 * become a second account that looks like `admin` everywhere it is displayed. NameIDs are compared
 * exactly as signed after XML whitespace (space, tab, CR, LF) is trimmed; invisible characters left at
 * either end, and control characters anywhere, are refused (SAML_NAMEID_INVALID). Issuer and Audience
 * are trimmed by the same XML rule only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountWithIdp, patchSettings, postAcs, startSp, type TestSp } from '../support/harness.js';
import { TEST_TENANT_ISSUER } from '../support/idp.js';
import { b64, expectLoggedIn, expectRejected, mintXmlFor, userNameIds } from './support.js';

const ADMIN = 'admin';

describe('NameID compared exactly as signed', () => {
  let t: TestSp;
  beforeAll(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000 });
    await createAccountWithIdp(t, 'acme', { idpEntityId: TEST_TENANT_ISSUER });
    // Users here are told apart by NameID alone (no e-mail attribute).
    await patchSettings(t, 'acme', { requireEmail: false });
    const who = await expectLoggedIn(
      t,
      await postAcs(t, 'acme', b64(mintXmlFor(t, 'acme', { nameId: ADMIN, email: 'admin@acme.example' }))),
    );
    expect(who.nameId).toBe(ADMIN);
  });
  afterAll(async () => {
    await t.close();
  });

  const refused: Array<[string, string]> = [
    ['a trailing no-break space (U+00A0)', `${ADMIN}\u00a0`],
    ['a leading ideographic space (U+3000)', `\u3000${ADMIN}`],
    ['a leading byte-order mark (U+FEFF)', `\ufeff${ADMIN}`],
    ['a leading zero-width space (U+200B)', `\u200b${ADMIN}`],
    ['a trailing zero-width joiner (U+200D)', `${ADMIN}\u200d`],
    ['a trailing right-to-left override (U+202E)', `${ADMIN}\u202e`],
    ['a trailing narrow no-break space (U+202F)', `${ADMIN}\u202f`],
    ['a leading Hangul filler (U+3164)', `\u3164${ADMIN}`],
    ['a trailing variation selector (U+FE0F)', `${ADMIN}\ufe0f`],
    ['a C1 control inside (U+0086)', `ad\u0086min`],
    ['a tab inside', `ad\tmin`],
    ['NBSP inside XML whitespace', ` \u00a0${ADMIN} `],
  ];
  for (const [name, nameId] of refused) {
    it(`a NameID with ${name} → SAML_NAMEID_INVALID, never the user "admin"`, async () => {
      const res = await postAcs(t, 'acme', b64(mintXmlFor(t, 'acme', { nameId, email: null })));
      await expectRejected(t, res, 'SAML_NAMEID_INVALID');
      expect(await userNameIds(t, 'acme')).toEqual([ADMIN]);
    });
  }

  // XML 1.0 keeps NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR as they are; xmldom applies XML 1.1 line
  // ends and turns them into line feeds, which the XML trim then removes. node-saml re-parses the
  // canonical form of what it verified, where a character reference has become the raw character, so
  // every form of these characters would be read as a line feed after verification.
  for (const [name, ch] of [
    ['LINE SEPARATOR (U+2028)', '\u2028'],
    ['PARAGRAPH SEPARATOR (U+2029)', '\u2029'],
    ['NEL (U+0085)', '\u0085'],
  ] as const) {
    const cp = ch.charCodeAt(0);
    /** A response whose signature covers `admin` + the character (the signer's DOM holds it). */
    const signedWithCharacter = () =>
      mintXmlFor(t, 'acme', {
        nameId: ADMIN,
        email: null,
        beforeSign: (a) => a.replace(`>${ADMIN}<`, `>${ADMIN}&#x${cp.toString(16)};<`),
      });
    for (const [form, encoded] of [
      ['a hexadecimal character reference', `&#x${cp.toString(16).toUpperCase()};`],
      ['a decimal character reference with leading zeros', `&#000${cp};`],
      ['the raw character', ch],
    ] as const) {
      it(`a NameID ending in ${name} as ${form} → SAML_RESPONSE_MALFORMED, never the user "admin"`, async () => {
        const xml = signedWithCharacter().replaceAll(ch, encoded);
        expect(xml).toContain(`>${ADMIN}${encoded}</saml:NameID>`);
        await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_RESPONSE_MALFORMED');
        expect(await userNameIds(t, 'acme')).toEqual([ADMIN]);
      });
    }

    it(`a raw ${name} where the signed text has a line feed → SAML_RESPONSE_MALFORMED`, async () => {
      // The signature covers `admin` + line feed, and still verifies once xmldom has rewritten the raw
      // character: bytes that do not say "admin" must not be read as "admin".
      const xml = mintXmlFor(t, 'acme', { nameId: `${ADMIN}\n`, email: null }).replace(
        `>${ADMIN}\n</saml:NameID>`,
        `>${ADMIN}${ch}</saml:NameID>`,
      );
      expect(xml).toContain(`>${ADMIN}${ch}</saml:NameID>`);
      await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_RESPONSE_MALFORMED');
      expect(await userNameIds(t, 'acme')).toEqual([ADMIN]);
    });
  }

  it('a NameID of only a no-break space → SAML_NAMEID_INVALID (not an empty, not a shared identity)', async () => {
    const res = await postAcs(t, 'acme', b64(mintXmlFor(t, 'acme', { nameId: '\u00a0', email: null })));
    await expectRejected(t, res, 'SAML_NAMEID_INVALID');
  });

  it('look-alikes inside the value are distinct users, never "admin"', async () => {
    for (const nameId of [`ad\u00a0min`, `ａｄｍｉｎ`, `Admin`]) {
      const who = await expectLoggedIn(
        t,
        await postAcs(t, 'acme', b64(mintXmlFor(t, 'acme', { nameId, email: null }))),
      );
      expect(who.nameId).toBe(nameId);
    }
    const ids = await userNameIds(t, 'acme');
    expect(ids.filter((id) => id === ADMIN)).toHaveLength(1);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('XML whitespace around the NameID is not part of it (same user as "admin")', async () => {
    const before = await userNameIds(t, 'acme');
    const who = await expectLoggedIn(
      t,
      await postAcs(t, 'acme', b64(mintXmlFor(t, 'acme', { nameId: `\n\t ${ADMIN} \r\n`, email: null }))),
    );
    expect(who.nameId).toBe(ADMIN);
    expect(await userNameIds(t, 'acme')).toEqual(before);
  });
});

describe('Issuer and Audience trimmed by XML rules only', () => {
  let t: TestSp;
  beforeAll(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000 });
    await createAccountWithIdp(t, 'acme', { idpEntityId: TEST_TENANT_ISSUER });
  });
  afterAll(async () => {
    await t.close();
  });

  it('an Issuer with a trailing no-break space is another issuer → SAML_ISSUER_MISMATCH', async () => {
    const res = await postAcs(
      t,
      'acme',
      b64(mintXmlFor(t, 'acme', { issuer: `${TEST_TENANT_ISSUER}\u00a0` })),
    );
    await expectRejected(t, res, 'SAML_ISSUER_MISMATCH');
  });

  it('an Audience with a leading byte-order mark is another audience → SAML_AUDIENCE_MISMATCH', async () => {
    const res = await postAcs(
      t,
      'acme',
      b64(mintXmlFor(t, 'acme', { audience: `\ufeff${t.urls('acme').audience}` })),
    );
    await expectRejected(t, res, 'SAML_AUDIENCE_MISMATCH');
  });

  it('XML whitespace around the Issuer is tolerated', async () => {
    const xml = mintXmlFor(t, 'acme', { issuer: ` ${TEST_TENANT_ISSUER}\n`, nameId: 'auth0|ws' });
    await expectLoggedIn(t, await postAcs(t, 'acme', b64(xml)));
  });
});
