/**
 * A large SAMLResponse is held to the XML bounds on its first 12 KB before the whole of it is decoded
 * (refuseComplexPrefix in src/saml/validate-response.ts). Two things must hold: a bomb is refused from
 * its prefix (the rest of the field never decoded), and no prefix of a response within the bounds is
 * ever refused — the bounds only count what grows as the text goes on, so what a prefix exceeds, the
 * whole exceeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSpError } from '../../src/errors.js';
import { checkPrefixBounds } from '../../src/saml/validate-response.js';
import {
  checkXmlBounds,
  MAX_ATTRIBUTE_VALUE_LENGTH,
  MAX_ATTRIBUTES_PER_ELEMENT,
  MAX_DEPTH,
  MAX_ELEMENTS,
  MAX_NAME_LENGTH,
  MAX_NAMESPACES_IN_SCOPE,
  MAX_TEXT_LENGTH,
} from '../../src/saml/xml.js';
import { createAccountWithIdp, postAcs, startSp, type TestSp } from '../support/harness.js';
import { attackerKey } from '../support/idp.js';
import { b64, expectLoggedIn, expectRejected, mintXmlFor } from './support.js';

const repeat = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('');
const onResponse = (xml: string, attrs: string) =>
  xml.replace('<samlp:Response ', `<samlp:Response${attrs} `);
const beforeStatus = (xml: string, markup: string) =>
  xml.replace('<samlp:Status>', `${markup}<samlp:Status>`);
/** Characters after which a base64 field is not base64: the full decode would call it malformed. */
const NOT_BASE64 = '*not base64*'.repeat(2000);

/** Whether the prefix check refuses `xmlPrefix` (SAML_RESPONSE_TOO_COMPLEX; anything else is the full check's). */
function refusedAsTooComplex(xmlPrefix: string): boolean {
  try {
    checkPrefixBounds(xmlPrefix);
    return false;
  } catch (err) {
    if (isSpError(err, 'SAML_RESPONSE_TOO_COMPLEX')) return true;
    throw err;
  }
}

/** XML characters in the prefix the check reads: 16 KB of base64. */
const PREFIX_XML = 12 * 1024;

describe('a large response is first held to the XML bounds on its prefix', () => {
  let t: TestSp;
  beforeAll(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000, maxSamlResponseBytes: 1024 * 1024 });
    await createAccountWithIdp(t, 'acme');
  }, 60_000);
  afterAll(async () => {
    await t.close();
  });

  it.each([
    [
      '12,000 namespace declarations',
      (x: string) =>
        onResponse(
          x,
          repeat(12_000, (i) => ` xmlns:p${i}="u"`),
        ),
    ],
    [
      '20,000 attributes',
      (x: string) =>
        onResponse(
          x,
          repeat(20_000, (i) => ` a${i}=""`),
        ),
    ],
    ['a 180,000-character name', (x: string) => beforeStatus(x, `<${'n'.repeat(180_000)}/>`)],
  ])('%s: refused from the first 12 KB, the rest of the field never decoded', async (_name, build) => {
    const bomb = b64(build(mintXmlFor(t, 'acme', { key: attackerKey })));
    // Cut at 64 KB and followed by what is not base64: decoding the whole field would refuse it as
    // malformed, so SAML_RESPONSE_TOO_COMPLEX can only come from the prefix.
    const res = await postAcs(t, 'acme', bomb.slice(0, 64 * 1024) + NOT_BASE64);
    await expectRejected(t, res, 'SAML_RESPONSE_TOO_COMPLEX');
  });

  it('a small field is left to the full check (its whole decode says what is wrong first)', async () => {
    const small = b64(
      onResponse(
        mintXmlFor(t, 'acme', { key: attackerKey }),
        repeat(40, (i) => ` a${i}=""`),
      ),
    );
    expect(small.length).toBeLessThan(64 * 1024);
    const res = await postAcs(t, 'acme', small + '*');
    await expectRejected(t, res, 'SAML_RESPONSE_MALFORMED');
  });

  it('a large login within the bounds (750 groups, over 64 KB of base64) still signs in', async () => {
    const groups = Array.from({ length: 750 }, (_, i) => `group-${i}-${'g'.repeat(40)}`);
    const field = b64(
      mintXmlFor(t, 'acme', { nameId: 'auth0|many-groups', email: 'many@acme.example', groups }),
    );
    expect(field.length).toBeGreaterThan(64 * 1024);
    await expectLoggedIn(t, await postAcs(t, 'acme', field));
  });

  // Found by review: a prefix ending on the `<` of an end tag counted one element too many.
  const PAD = '\u0000';
  it.each([
    [
      'nested to MAX_DEPTH',
      (xml: string) =>
        beforeStatus(
          xml,
          `<samlp:Extensions>${'<x>'.repeat(MAX_DEPTH - 2)}${PAD}${'</x>'.repeat(MAX_DEPTH - 2)}</samlp:Extensions>`,
        ),
    ],
    [
      'MAX_ELEMENTS elements',
      (xml: string) => {
        const more = MAX_ELEMENTS - (xml.match(/<[^/!?]/g) ?? []).length - 1;
        // The mark goes before the root's end tag: every element is in the prefix.
        return beforeStatus(xml, `<samlp:Extensions>${'<x/>'.repeat(more)}</samlp:Extensions>`).replace(
          '</samlp:Response>',
          `${PAD}</samlp:Response>`,
        );
      },
    ],
  ])('%s, the prefix ending on the `<` of an end tag: signs in', async (_name, fill) => {
    const marked = fill(mintXmlFor(t, 'acme', { nameId: 'auth0|at-the-bound', email: 'bound@acme.example' }));
    // White space puts the `<` after the mark on the prefix's last character; white space after the
    // root makes the field long enough for the prefix check.
    const at = marked.indexOf(PAD);
    const xml = marked.replace(PAD, ' '.repeat(PREFIX_XML - 1 - at)) + '\n'.repeat(60_000);
    expect(xml[PREFIX_XML - 1]).toBe('<');
    expect(xml[PREFIX_XML]).toBe('/');
    expect(() => checkXmlBounds(xml)).not.toThrow();
    expect(refusedAsTooComplex(xml.slice(0, PREFIX_XML))).toBe(false);
    await expectLoggedIn(t, await postAcs(t, 'acme', b64(xml)));
  });

  it('no prefix of a response within every bound is refused as too complex', () => {
    const base = mintXmlFor(t, 'acme', {
      nameId: 'auth0|edge',
      email: 'edge@acme.example',
      groups: Array.from({ length: 300 }, (_, i) => `g${i}`),
    });
    // Right at each bound the full check allows: names, values, texts, attributes, namespaces in scope.
    const name = 'n'.repeat(MAX_NAME_LENGTH);
    const atTheBounds = beforeStatus(
      onResponse(
        base,
        repeat(MAX_ATTRIBUTES_PER_ELEMENT - 12, (i) => ` a${i}="${'v'.repeat(40)}"`),
      ),
      [
        `<${name} ${name}="${'v'.repeat(MAX_ATTRIBUTE_VALUE_LENGTH)}">${'t'.repeat(MAX_TEXT_LENGTH)}</${name}>`,
        // Namespace declarations are attributes too: at most 32 on one element, so over two.
        `<x${repeat(26, (i) => ` xmlns:q${i}="urn:q${i}"`)}><y${repeat(MAX_NAMESPACES_IN_SCOPE - 40, (i) => ` xmlns:r${i}="urn:r${i}"`)}>${'&amp;'.repeat(500)}</y></x>`,
        `<CipherValue>${'c'.repeat(3 * MAX_TEXT_LENGTH)}</CipherValue>`,
        `<![CDATA[${'d'.repeat(MAX_TEXT_LENGTH - 1)}]]>`,
      ].join(''),
    );
    expect(refusedAsTooComplex(atTheBounds)).toBe(false);
    // Every cut through the markup around the bounds, and every 61st character elsewhere.
    const cuts = new Set<number>();
    for (let i = 0; i <= atTheBounds.length; i += 61) cuts.add(i);
    for (let at = atTheBounds.indexOf('<'); at !== -1; at = atTheBounds.indexOf('<', at + 1)) {
      for (let d = -3; d <= 3; d++) cuts.add(Math.max(0, at + d));
    }
    for (const cut of cuts) {
      expect(refusedAsTooComplex(atTheBounds.slice(0, cut)), `cut at ${cut}`).toBe(false);
    }
    // …while one character more than a bound is refused once the prefix holds it.
    const over = beforeStatus(base, `<${name}n/>`);
    expect(refusedAsTooComplex(over)).toBe(true);
    expect(refusedAsTooComplex(over.slice(0, over.indexOf(`<${name}n`) + MAX_NAME_LENGTH + 3))).toBe(true);
  });
});
