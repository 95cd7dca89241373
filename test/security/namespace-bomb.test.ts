/**
 * CPU before crypto. One unauthenticated ACS post must not buy seconds of CPU: an attacker-signed
 * assertion under a Response carrying 12,000 `xmlns:pN` declarations cost ~1.2 s per trusted
 * certificate (xml-crypto de-duplicates ancestor namespace declarations pairwise, once per
 * certificate: 8 s with 10) and xmldom alone spends ~130 ms parsing it. Every shape the parser accepts
 * is bounded in one linear pass over the raw text before xmldom runs (src/saml/xml.ts), again on the
 * DOM, and the trusted certificate that signed is chosen by checking SignedInfo before node-saml runs
 * (src/saml/signature-keys.ts), so the cost of a response does not grow with the number of
 * certificates. CPU is measured with process.cpuUsage() against a legitimate login in the same test.
 */
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSpError } from '../../src/errors.js';
import {
  checkXmlBounds,
  MAX_ATTRIBUTE_VALUE_LENGTH,
  MAX_ATTRIBUTES,
  MAX_ATTRIBUTES_PER_ELEMENT,
  MAX_NAME_LENGTH,
  MAX_NAMESPACES_IN_SCOPE,
  MAX_REFERENCES,
  MAX_TEXT_LENGTH,
  parseUntrustedXml,
  scanDocument,
} from '../../src/saml/xml.js';
import { generatedPair } from '../support/certs.js';
import {
  ADMIN_TOKEN,
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { attackerKey, idpKey, rotatedIdpKey } from '../support/idp.js';
import { b64, expectLoggedIn, expectRejected, mintXmlFor } from './support.js';

const BODY_LIMIT = 1024 * 1024;
const repeat = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('');
const onResponse = (xml: string, attrs: string) =>
  xml.replace('<samlp:Response ', `<samlp:Response${attrs} `);
const beforeStatus = (xml: string, markup: string) =>
  xml.replace('<samlp:Status>', `${markup}<samlp:Status>`);

/** Each bomb: an attacker-signed response (it would fail verification anyway) plus one hostile shape. */
const BOMBS: Array<{ name: string; bound: string; build: (signed: string) => string }> = [
  {
    name: '12,000 namespace declarations on the unsigned Response',
    bound: `more than ${MAX_ATTRIBUTES_PER_ELEMENT} attributes on one element`,
    build: (x) =>
      onResponse(
        x,
        repeat(12_000, (i) => ` xmlns:p${i}="u"`),
      ),
  },
  {
    name: 'namespace declarations nested 12 deep, 10 per element',
    bound: `more than ${MAX_NAMESPACES_IN_SCOPE} namespace declarations in scope`,
    build: (x) =>
      beforeStatus(
        x,
        repeat(12, (d) => `<x${repeat(10, (i) => ` xmlns:n${d}x${i}="urn:${i}"`)}>`) + '</x>'.repeat(12),
      ),
  },
  {
    name: '20,000 attributes on one element',
    bound: `more than ${MAX_ATTRIBUTES_PER_ELEMENT} attributes on one element`,
    build: (x) =>
      onResponse(
        x,
        repeat(20_000, (i) => ` a${i}=""`),
      ),
  },
  {
    name: '900 elements of 6 attributes (5,400 in total)',
    bound: `more than ${MAX_ATTRIBUTES} attributes`,
    build: (x) =>
      beforeStatus(
        x,
        repeat(900, () => `<x${repeat(6, (i) => ` a${i}="v"`)}/>`),
      ),
  },
  {
    name: 'an attribute value of 180,000 characters',
    bound: `attribute value longer than ${MAX_ATTRIBUTE_VALUE_LENGTH} characters`,
    build: (x) => onResponse(x, ` a="${'v'.repeat(180_000)}"`),
  },
  {
    name: 'a text of 180,000 characters',
    bound: `text longer than ${MAX_TEXT_LENGTH} characters`,
    build: (x) => beforeStatus(x, `<x>${'t'.repeat(180_000)}</x>`),
  },
  {
    name: 'a CDATA section of 180,000 characters',
    bound: `text longer than ${MAX_TEXT_LENGTH} characters`,
    build: (x) => beforeStatus(x, `<x><![CDATA[${'t'.repeat(180_000)}]]></x>`),
  },
  {
    name: 'an element name of 180,000 characters',
    bound: `name longer than ${MAX_NAME_LENGTH} characters`,
    build: (x) => beforeStatus(x, `<${'n'.repeat(180_000)}/>`),
  },
  {
    name: '36,000 character references spread over 36 elements',
    bound: `more than ${MAX_REFERENCES} entity or character references`,
    build: (x) =>
      beforeStatus(
        x,
        repeat(36, () => `<x>${'&amp;'.repeat(1000)}</x>`),
      ),
  },
];

/** CPU milliseconds (user + system) this process spends in `fn`. */
async function cpuMs(fn: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Median CPU of `runs` calls of `fn`, after two warm-up calls. */
async function medianCpuMs(runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await cpuMs(fn));
  samples.sort((a, b) => a - b);
  return samples[Math.floor(runs / 2)]!;
}

function tooComplexDetail(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSpError(err, 'SAML_RESPONSE_TOO_COMPLEX')) return err.detail ?? '';
    throw err;
  }
  throw new Error('not refused');
}

describe('XML bounds before any signature work', () => {
  let t: TestSp;
  /** A legitimate login to `slug` (fresh assertion each time). */
  const login = (slug: string) =>
    postAcs(t, slug, b64(mintXmlFor(t, slug, { nameId: 'auth0|legit', email: 'legit@acme.example' })));

  beforeAll(async () => {
    // Bodies up to 1 MiB (MAX_SAML_RESPONSE_BYTES may be raised to 10 MB): every bomb fits.
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000, maxSamlResponseBytes: BODY_LIMIT });
    await createAccountWithIdp(t, 'one');
    // Ten distinct trusted certificates; the one that really signs comes last.
    const others = Array.from(
      { length: 8 },
      (_, i) => generatedPair({ type: 'rsa', bits: 2048 }, `other-${i}`).cert,
    );
    await createAccountWithIdp(t, 'ten', {
      certificate: [rotatedIdpKey.cert, ...others, idpKey.cert].join(''),
    });
    const conn = await request(t.app)
      .get('/api/accounts/ten/saml')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(200);
    expect(conn.body.certificates).toHaveLength(10);
  }, 60_000);
  afterAll(async () => {
    await t.close();
  });

  describe.each(BOMBS)('$name', ({ build, bound }) => {
    it('is refused with SAML_RESPONSE_TOO_COMPLEX naming the bound, for less CPU than a legitimate login, and no more with 10 certificates than with 1', async () => {
      const bombFor = (slug: string) => b64(build(mintXmlFor(t, slug, { key: attackerKey })));
      const bomb = bombFor('one');
      expect(bomb.length).toBeLessThan(BODY_LIMIT / 2);

      const res = await postAcs(t, 'one', bomb);
      await expectRejected(t, res, 'SAML_RESPONSE_TOO_COMPLEX');
      const event = await request(t.app)
        .get(`/api/audit/${res.body.error.referenceId as string}`)
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .expect(200);
      expect(event.body.detail).toContain(bound);

      const legit = await medianCpuMs(9, () => login('one'));
      // What any body of this size costs before XML is looked at (receiving, form decoding, base64,
      // the UTF-8 check): random bytes of the same length, refused as not XML.
      const sameSize = randomBytes(Math.floor((bomb.length * 3) / 4)).toString('base64');
      const floor = await medianCpuMs(9, () => postAcs(t, 'one', sameSize));
      const one = await medianCpuMs(9, () => postAcs(t, 'one', bomb));
      const tenBomb = bombFor('ten');
      const ten = await medianCpuMs(9, () => postAcs(t, 'ten', tenBomb));
      const numbers = JSON.stringify({
        legitMs: legit,
        sameSizeMs: floor,
        bombOneCertMs: one,
        bombTenCertsMs: ten,
      });
      // At most a login's CPU, or what receiving a body of this size costs anyway when that is more
      // (since logins are verified on our own DOM, a login of 8 KB costs less than receiving 250 KB);
      // before the bounds, these bodies cost 100 to 1000 times more. Half again plus 1 ms of slack for
      // scheduling and garbage-collection noise on a loaded machine (the whole suite running on two
      // cores), where all are a few milliseconds.
      expect(one, numbers).toBeLessThan(Math.max(legit, floor) * 1.5 + 1);
      // Both are a few milliseconds, where scheduling noise on a shared machine is the difference: 2×
      // plus 5 ms of slack. Before the bounds, 10 certificates cost 8× one (7.6 s against 0.9 s).
      expect(ten, numbers).toBeLessThan(one * 2 + 5);
    });

    it('the raw-text scan alone refuses it, before xmldom parses anything', () => {
      const xml = build(mintXmlFor(t, 'one', { key: attackerKey }));
      expect(tooComplexDetail(() => checkXmlBounds(xml))).toContain(bound);
    });

    it('the scan of the parsed document refuses it too (should the two readings ever differ)', () => {
      const xml = build(mintXmlFor(t, 'one', { key: attackerKey }));
      if (bound.includes('references')) return; // references are resolved by the parser; text-only bound
      let doc;
      try {
        doc = parseUntrustedXml(xml);
      } catch (err) {
        // xmldom itself refuses names this long as malformed: also a refusal before signature work.
        expect(isSpError(err, 'SAML_RESPONSE_MALFORMED') && bound.startsWith('name')).toBe(true);
        return;
      }
      expect(tooComplexDetail(() => scanDocument(doc))).toContain(bound);
    });
  });

  it('an Auth0-shaped response near the bounds (800 group values, 240 KB) logs in', async () => {
    const groups = Array.from({ length: 800 }, (_, i) => `group-${i}-${'g'.repeat(40)}`);
    const xml = mintXmlFor(t, 'one', { groups, nameId: 'auth0|many-groups' });
    expect(b64(xml).length).toBeLessThan(240 * 1024);
    await expectLoggedIn(t, await postAcs(t, 'one', b64(xml)));
  });

  it('a forged response at the bounds costs no more with 10 certificates than with 1 (SignedInfo is checked before node-saml)', async () => {
    // Legitimately shaped and within every bound, but signed by the attacker: without choosing the
    // signer first, node-saml verifies it in full once per certificate (~10x the CPU with 10).
    const groups = Array.from({ length: 800 }, (_, i) => `group-${i}-${'g'.repeat(40)}`);
    const forged = (slug: string) => b64(mintXmlFor(t, slug, { groups, key: attackerKey }));
    const forgedOne = forged('one');
    const forgedTen = forged('ten');
    await expectRejected(t, await postAcs(t, 'ten', forgedTen), 'SAML_SIGNATURE_INVALID');
    const one = await medianCpuMs(5, () => postAcs(t, 'one', forgedOne));
    const ten = await medianCpuMs(5, () => postAcs(t, 'ten', forgedTen));
    expect(ten, JSON.stringify({ oneCertMs: one, tenCertsMs: ten })).toBeLessThan(one * 1.5 + 2);
  });

  it('a legitimate login signed by the last of 10 certificates costs about what it costs with 1', async () => {
    const one = await medianCpuMs(7, () => login('one'));
    const ten = await medianCpuMs(7, () => login('ten'));
    expect(ten, JSON.stringify({ oneCertMs: one, tenCertsMs: ten })).toBeLessThan(one * 1.5 + 2);
  });

  it('a legitimate login posted during a flood of bombs still succeeds', { timeout: 60_000 }, async () => {
    const bombs = BOMBS.map(({ build }) => b64(build(mintXmlFor(t, 'one', { key: attackerKey }))));
    const flood = Array.from({ length: 40 }, (_, i) => postAcs(t, 'one', bombs[i % bombs.length]));
    const legit = login('one');
    const [results, ok] = await Promise.all([Promise.all(flood), legit]);
    for (const res of results) expect(res.body.error.code).toBe('SAML_RESPONSE_TOO_COMPLEX');
    expect(ok.status, JSON.stringify(ok.body)).toBe(303);
    await me(t, cookiesFrom(ok)).expect(200);
  });
});
