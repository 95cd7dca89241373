/**
 * The untrusted-XML parser (src/saml/xml.ts) with xmldom's grammar patterns built once: end tags are
 * still checked exactly as xmldom checks them, and the patterns are shared, not rebuilt per tag.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { isSpError } from '../../src/errors.js';
import { parseUntrustedXml } from '../../src/saml/xml.js';

const grammar = createRequire(import.meta.url)('@xmldom/xmldom/lib/grammar.js') as {
  reg: (...parts: (RegExp | string)[]) => RegExp;
  QName_group: RegExp;
  S_OPT: RegExp;
};

describe('parsing untrusted XML with the grammar patterns built once', () => {
  it('shares one RegExp per list of parts, equal to what xmldom builds', () => {
    const endTag = grammar.reg('^', grammar.QName_group, grammar.S_OPT, '$');
    expect(grammar.reg('^', grammar.QName_group, grammar.S_OPT, '$')).toBe(endTag);
    const fresh = new RegExp(`^${grammar.QName_group.source}${grammar.S_OPT.source}$`, endTag.flags);
    expect(endTag.source).toBe(fresh.source);
    expect(endTag.flags).not.toMatch(/[gy]/);
  });

  it('still reads well-formed end tags and refuses malformed ones', () => {
    const doc = parseUntrustedXml('<a:root xmlns:a="urn:x"><a:b>1</a:b ><c/></a:root>');
    expect(doc.documentElement?.localName).toBe('root');
    for (const xml of ['<a><b></b c></a>', '<a><b></1b></a>', '<a></a', '<a><b></a></b>']) {
      let code: string | undefined;
      try {
        parseUntrustedXml(xml);
      } catch (err) {
        code = isSpError(err) ? err.code : 'other';
      }
      expect(code, xml).toBe('SAML_RESPONSE_MALFORMED');
    }
  });
});
