/**
 * Proof of equivalence for the fast ACS (issue 12). Every input goes to the login path
 * (`validateResponse`: signatures verified on our own DOM, src/saml/verify-signature.ts) and to the
 * reference path (`validateResponseWithNodeSaml`: the same structural checks, then stock node-saml
 * 5.1.0 configured as before, then our checks on what node-saml verified). The fast path must never
 * accept what the reference refuses, must accept every valid response the reference accepts, and
 * what both accept must say the same thing (test/support/differential.ts).
 *
 * Inputs: valid responses of every shape we accept, the misconfigurations the security suite mints,
 * the attacks it builds (XSW 1–8 on each signing shape, tampering, signature surgery, encrypted
 * variants), and fuzzed mutations (test/fuzz/mutations.ts). `npm run fuzz` runs the same invariant
 * over 100,000 mutations.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { createHash, sign as cryptoSign } from 'node:crypto';
import type { Element } from '@xmldom/xmldom';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { findAncestorNsForElement } from 'xml-crypto/lib/utils.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SamlContext } from '../../src/saml/options.js';
import { compare } from '../support/differential.js';
import {
  evaluateResponse,
  evaluateResponseWithNodeSaml,
  type Evaluation,
} from '../../src/saml/validate-response.js';
import {
  attackerKey,
  idpKey,
  mintResponseXml,
  rotatedIdpKey,
  spDevCertPem,
  TEST_TENANT_ISSUER,
  type MintOptions,
} from '../support/idp.js';
import {
  applyMutations,
  caseArb,
  FUZZ_SEED,
  fuzzContext,
  makeBases,
  type FuzzBase,
} from '../fuzz/mutations.js';
import {
  all,
  b64,
  edit,
  makeEvil,
  NS,
  one,
  parseXml,
  serialize,
  setText,
  signEnveloped,
  XSW,
  type XswName,
} from './support.js';

const FUZZ_RUNS = 1500;
/** Inputs node-saml accepts and the fast path refuses: Signature shapes no IdP produces. */
const STRICTER_THAN_NODE_SAML = ['an Object in the Signature'];

type Encrypt = (
  content: string,
  options: Record<string, unknown>,
  cb: (err: Error | null, result: string) => void,
) => void;
const xmlenc = createRequire(import.meta.url)('xml-encryption') as { encrypt: Encrypt };

const ctx: SamlContext = fuzzContext('differential');
const mint = (opts: Partial<MintOptions> = {}) =>
  mintResponseXml({ acsUrl: ctx.acsUrl, audience: ctx.spEntityId, issuer: TEST_TENANT_ISSUER, ...opts });

async function encrypt(xml: string, opts: { signResponse?: boolean } = {}): Promise<string> {
  const assertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0];
  const encrypted = await new Promise<string>((resolve, reject) =>
    xmlenc.encrypt(
      assertion,
      {
        rsa_pub: spDevCertPem,
        pem: spDevCertPem,
        encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
        keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
        warnInsecureAlgorithm: false,
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    ),
  );
  const out = xml.replace(
    assertion,
    `<saml:EncryptedAssertion xmlns:saml="${NS.assertion}">${encrypted}</saml:EncryptedAssertion>`,
  );
  return opts.signResponse ? signEnveloped(out, 'response', idpKey) : out;
}

/**
 * Signs the assertion of an unsigned response with an InclusiveNamespaces PrefixList in the exclusive
 * c14n transform (Okta's shape; xml-crypto's signer would put one in the enveloped transform too).
 */
function signWithPrefixList(xml: string, prefixes: string[]): string {
  const EXC = 'http://www.w3.org/2001/10/xml-exc-c14n#';
  const doc = parseXml(xml);
  const assertion = one(doc, NS.assertion, 'Assertion');
  const digest = createHash('sha256')
    .update(
      new ExclusiveCanonicalization().process(assertion.cloneNode(true), {
        inclusiveNamespacesPrefixList: prefixes,
        ancestorNamespaces: findAncestorNsForElement(assertion),
      }),
    )
    .digest('base64');
  const signatureXml =
    `<ds:Signature xmlns:ds="${NS.dsig}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="${EXC}"/>` +
    `<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>` +
    `<ds:Reference URI="#${assertion.getAttribute('ID')!}"><ds:Transforms>` +
    `<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>` +
    `<ds:Transform Algorithm="${EXC}"><ec:InclusiveNamespaces xmlns:ec="${EXC}" PrefixList="${prefixes.join(' ')}"/></ds:Transform>` +
    `</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>` +
    `<ds:DigestValue>${digest}</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>`;
  const signature = doc.importNode<Element>(parseXml(signatureXml).documentElement!, true);
  const issuer = one(assertion, NS.assertion, 'Issuer');
  assertion.insertBefore(signature, issuer.nextSibling);
  const signedInfo = one(signature, NS.dsig, 'SignedInfo');
  const value = cryptoSign(
    'sha256',
    Buffer.from(new ExclusiveCanonicalization().process(signedInfo as never, {})),
    idpKey.privateKey,
  );
  setText(one(signature, NS.dsig, 'SignatureValue'), value.toString('base64'));
  return serialize(doc);
}

const firstSig = (doc: Parameters<typeof all>[0]) => all(doc, NS.dsig, 'Signature')[0]!;
const hour = 3600 * 1000;

/** Valid responses: both paths must accept them and say the same. */
async function validCorpus(): Promise<Array<[string, string, SamlContext]>> {
  const rotated = { ...ctx, idpCertificates: [rotatedIdpKey.cert, idpKey.cert] };
  const withXs = mint({
    sign: 'none',
    beforeSign: (a) =>
      a.replace('<saml:Assertion ', '<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" '),
  });
  return [
    ['assertion-signed', mint(), ctx],
    ['response-signed', mint({ sign: 'response' }), ctx],
    ['both-signed', mint({ sign: 'both', groups: ['a', 'b'] }), ctx],
    ['rsa-sha512', mint({ signatureAlgorithm: 'sha512' }), ctx],
    [
      'rsa-sha1 where the connection allows it',
      mint({ signatureAlgorithm: 'sha1' }),
      { ...ctx, allowSha1: true },
    ],
    ['SP-initiated', mint({ inResponseTo: '_req0123456789abcdef0123' }), ctx],
    ['signed by the second of two trusted keys', mint({ key: idpKey }), rotated],
    ['signed by the rotated key', mint({ key: rotatedIdpKey }), rotated],
    [
      'InclusiveNamespaces PrefixList with ancestor prefixes',
      signWithPrefixList(withXs, ['samlp', 'xs']),
      ctx,
    ],
    [
      'a later confirmation with an unparsable time (node-saml stops at the first current one)',
      mint({
        beforeSign: (a) =>
          a.replace(
            '</saml:Subject>',
            '<saml:SubjectConfirmation Method="urn:x"><saml:SubjectConfirmationData NotOnOrAfter="soon"/></saml:SubjectConfirmation></saml:Subject>',
          ),
      }),
      ctx,
    ],
    ['encrypted, assertion signed', await encrypt(mint()), ctx],
    ['encrypted, Response signed', await encrypt(mint({ sign: 'none' }), { signResponse: true }), ctx],
    ['encrypted, both signed', await encrypt(mint(), { signResponse: true }), ctx],
    [
      'KeyInfo names an untrusted certificate, signed by a trusted key',
      edit(mint(), (d) =>
        setText(one(d, NS.dsig, 'X509Certificate'), attackerKey.cert.replace(/-----[^-]+-----|\s/g, '')),
      ),
      ctx,
    ],
  ];
}

/** Everything else the security suite mints or builds: both paths must refuse it. */
function refusedCorpus(): Array<[string, string, SamlContext]> {
  const now = Date.now();
  const out: Array<[string, string, SamlContext]> = [
    ['expired', mint({ now: new Date(now - 5 * hour) }), ctx],
    ['not yet valid', mint({ now: new Date(now + hour) }), ctx],
    ['wrong audience', mint({ audience: 'urn:other' }), ctx],
    ['no AudienceRestriction', mint({ omitAudienceRestriction: true }), ctx],
    ['wrong Recipient', mint({ recipient: 'https://evil.example/acs' }), ctx],
    ['wrong Destination', mint({ destination: 'https://evil.example/acs' }), ctx],
    ['wrong Issuer', mint({ issuer: 'urn:evil' }), ctx],
    ['rsa-sha1 not allowed', mint({ signatureAlgorithm: 'sha1' }), ctx],
    ['unsigned', mint({ sign: 'none' }), ctx],
    ['attacker-signed', mint({ key: attackerKey }), ctx],
    ['attacker-signed Response', mint({ key: attackerKey, sign: 'response' }), ctx],
    ['expired certificate only', mint(), { ...ctx, idpCertificates: [rotatedIdpKey.cert] }],
    ['status Responder', mint({ statusCode: 'urn:oasis:names:tc:SAML:2.0:status:Responder' }), ctx],
    [
      'holder-of-key confirmation',
      mint({ subjectConfirmationMethod: 'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key' }),
      ctx,
    ],
    [
      'comment inside NameID, signed',
      mint({ beforeSign: (a) => a.replace('</saml:NameID>', '<!--x--></saml:NameID>') }),
      ctx,
    ],
    [
      'audience padded with spaces (node-saml compares exactly)',
      mint({ beforeSign: (a) => a.replace(/(<saml:Audience>)([^<]*)/, '$1 $2 ') }),
      ctx,
    ],
    [
      'first Audience empty (node-saml refuses)',
      mint({
        omitAudienceRestriction: true,
        beforeSign: (a) =>
          a.replace(
            '</saml:Conditions>',
            `<saml:AudienceRestriction><saml:Audience/><saml:Audience>${ctx.spEntityId}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`,
          ),
      }),
      ctx,
    ],
    [
      'a second Conditions in another namespace',
      mint({
        beforeSign: (a) =>
          a.replace('<saml:AuthnStatement', '<x:Conditions xmlns:x="urn:x"/><saml:AuthnStatement'),
      }),
      ctx,
    ],
    [
      'an Attribute without any attribute',
      mint({
        beforeSign: (a) =>
          a.replace(
            '</saml:AttributeStatement>',
            '<saml:Attribute><saml:AttributeValue>v</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>',
          ),
      }),
      ctx,
    ],
    [
      'IssueInstant not a date',
      mint({ beforeSign: (a) => a.replace(/IssueInstant="[^"]*"/, 'IssueInstant="yesterday"') }),
      ctx,
    ],
    [
      'a first confirmation with an unparsable time',
      mint({
        beforeSign: (a) =>
          a.replace(
            '<saml:SubjectConfirmation ',
            '<saml:SubjectConfirmation Method="urn:x"><saml:SubjectConfirmationData NotOnOrAfter="soon"/></saml:SubjectConfirmation><saml:SubjectConfirmation ',
          ),
      }),
      ctx,
    ],
    [
      'Conditions without NotOnOrAfter',
      mint({ beforeSign: (a) => a.replace(/(<saml:Conditions[^>]*) NotOnOrAfter="[^"]*"/, '$1') }),
      ctx,
    ],
    [
      'NameID changed after signing',
      edit(mint(), (d) => setText(one(d, NS.assertion, 'NameID'), 'auth0|admin')),
      ctx,
    ],
    [
      'Response-signed, NameID changed',
      edit(mint({ sign: 'response' }), (d) => setText(one(d, NS.assertion, 'NameID'), 'auth0|admin')),
      ctx,
    ],
    [
      'evil assertion re-signed by the attacker',
      signEnveloped(
        edit(mint({ sign: 'none' }), (d) => makeEvil(one(d, NS.assertion, 'Assertion'))),
        'assertion',
        attackerKey,
      ),
      ctx,
    ],
  ];
  // Signature surgery on a valid assertion-signed response.
  const surgery: Record<string, (d: Parameters<typeof XSW.XSW1>[0]) => void> = {
    'a second Reference': (d) => {
      const ref = one(d, NS.dsig, 'Reference');
      ref.parentNode!.appendChild(ref.cloneNode(true));
    },
    'a third Transform': (d) => {
      const t = all(d, NS.dsig, 'Transform')[1]!;
      t.parentNode!.appendChild(t.cloneNode(true));
    },
    'inclusive c14n instead of exclusive': (d) =>
      all(d, NS.dsig, 'Transform')[1]!.setAttribute(
        'Algorithm',
        'http://www.w3.org/TR/2001/REC-xml-c14n-20010315',
      ),
    'XPath transform': (d) =>
      all(d, NS.dsig, 'Transform')[0]!.setAttribute(
        'Algorithm',
        'http://www.w3.org/TR/1999/REC-xpath-19991116',
      ),
    'no enveloped-signature transform': (d) => {
      const t = all(d, NS.dsig, 'Transform')[0]!;
      t.parentNode!.removeChild(t);
    },
    'Reference to the Response': (d) =>
      one(d, NS.dsig, 'Reference').setAttribute('URI', `#${d.documentElement!.getAttribute('ID')!}`),
    'a second Assertion in another namespace (node-saml counts by local name)': (d) => {
      d.documentElement!.appendChild(d.createElementNS('urn:x', 'x:Assertion'));
    },
    'empty Reference URI': (d) => one(d, NS.dsig, 'Reference').setAttribute('URI', ''),
    'two Signatures on the assertion': (d) => {
      const s = firstSig(d);
      s.parentNode!.insertBefore(s.cloneNode(true), s);
    },
    'Signature moved into the Response': (d) => {
      const s = firstSig(d);
      d.documentElement!.insertBefore(s, d.documentElement!.firstChild);
    },
    'an Object in the Signature': (d) => {
      const s = firstSig(d);
      s.appendChild(d.createElementNS(NS.dsig, 'ds:Object'));
    },
    'SignatureValue of another response': (d) => {
      const other = edit(mint(), () => undefined);
      setText(one(d, NS.dsig, 'SignatureValue'), /<ds:SignatureValue>([^<]*)</.exec(other)?.[1] ?? 'AAAA');
    },
    'DigestValue changed': (d) =>
      setText(one(d, NS.dsig, 'DigestValue'), Buffer.alloc(32, 1).toString('base64')),
    'HMAC signature method': (d) =>
      one(d, NS.dsig, 'SignatureMethod').setAttribute(
        'Algorithm',
        'http://www.w3.org/2000/09/xmldsig#hmac-sha1',
      ),
  };
  for (const [name, fn] of Object.entries(surgery)) out.push([name, edit(mint(), fn), ctx]);
  for (const sign of ['assertion', 'response', 'both'] as const) {
    for (const name of Object.keys(XSW) as XswName[]) {
      let xml: string;
      try {
        xml = edit(mint({ sign, nameId: 'auth0|attacker' }), (d) => XSW[name](d));
      } catch {
        continue; // this wrapping does not apply to this signing shape
      }
      out.push([`${name} on a ${sign}-signed response`, xml, ctx]);
    }
  }
  return out;
}

describe('differential: fast path against stock node-saml', () => {
  let valid: Array<[string, string, SamlContext]>;
  let bases: FuzzBase[];
  beforeAll(async () => {
    valid = await validCorpus();
    bases = await makeBases(ctx);
  });

  it('accepts every valid response node-saml accepts, saying the same', async () => {
    for (const [name, xml, c] of valid) {
      const r = await compare(b64(xml), c, { valid: true });
      expect(r.violation, name).toBeNull();
    }
  });

  it.each(refusedCorpus())('refuses like node-saml: %s', async (name, xml, c) => {
    const r = await compare(b64(xml), c);
    expect(r.violation, name).toBeNull();
    expect(r.fast.accepted, name).toBe(false);
    // Refused by node-saml too, except the Signature shapes only the fast path refuses.
    expect(r.stock.accepted, name).toBe(STRICTER_THAN_NODE_SAML.includes(name));
  });

  it('the same in a test sign-in (collect mode): accepted and refused alike', async () => {
    const collect = () => ({ ...ctx, collect: { failures: new Map() } });
    for (const [name, xml] of [
      ...valid.filter(([, , c]) => c === ctx),
      ...refusedCorpus().filter(([, , c]) => c === ctx),
    ]) {
      const r = await compare(b64(xml), collect());
      expect(r.violation, name).toBeNull();
    }
  });

  it('a test sign-in reports the same checks, with the same codes, on both paths', async () => {
    const report = (e: Evaluation) =>
      JSON.stringify({
        failures: [...e.failures].map(([name, err]) => [name, err.code]),
        fatal: e.fatal ? [e.fatal.name, e.fatal.error.code] : null,
        nameId: e.assertion?.nameId ?? null,
      });
    const stricter: string[] = [];
    for (const [name, xml, c] of [...valid, ...refusedCorpus()]) {
      const fast = await evaluateResponse(b64(xml), c);
      const stock = await evaluateResponseWithNodeSaml(b64(xml), c);
      // Where node-saml's message is not one we translate (SAML_RESPONSE_INVALID, e.g. "Unable to
      // process multiple conditions"), the fast path may name the check instead: still fatal.
      if (stock.fatal?.error.code === 'SAML_RESPONSE_INVALID' && fast.fatal) {
        fast.fatal = stock.fatal;
      }
      // The one Signature shape the fast path admits is narrower than xml-crypto's.
      if (fast.fatal?.error.code === 'SAML_SIGNATURE_INVALID' && stock.fatal === null) {
        stricter.push(name);
        continue;
      }
      expect(report(fast), name).toBe(report(stock));
    }
    expect(stricter).toEqual(STRICTER_THAN_NODE_SAML);
  });

  it(
    `${FUZZ_RUNS} fuzzed mutations: never accepted by the fast path alone`,
    { timeout: 300_000 },
    async () => {
      const cases = fc.sample(caseArb, { seed: FUZZ_SEED + 12, numRuns: FUZZ_RUNS });
      const tally = { bothAccept: 0, bothRefuse: 0, fastStricter: 0 };
      const stricterCodes: string[] = [];
      for (const c of cases) {
        const input = applyMutations(bases[c.base % bases.length]!.xml, c.mutations);
        const r = await compare(input, ctx);
        expect(r.violation, JSON.stringify(c)).toBeNull();
        if (r.fast.accepted) tally.bothAccept++;
        else if (r.stricter) {
          tally.fastStricter++;
          stricterCodes.push(r.fast.accepted ? 'ACCEPTED' : r.fast.code);
        } else tally.bothRefuse++;
      }
      // Not vacuous: the accepting path was reached.
      expect(tally.bothAccept, JSON.stringify(tally)).toBeGreaterThan(0);
      // The fast path may be stricter only about the Signature element's own shape (a duplicated or
      // renamed KeyInfo, junk in the SignatureValue that Node's lenient base64 decoding skips), never
      // about anything an IdP produces.
      expect(stricterCodes, JSON.stringify(tally)).toEqual(stricterCodes.map(() => 'SAML_SIGNATURE_INVALID'));
      expect(tally.fastStricter, JSON.stringify(tally)).toBeLessThan(FUZZ_RUNS / 100);
    },
  );
});
