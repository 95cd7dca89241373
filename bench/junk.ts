/**
 * Hostile ACS bodies. The flood mixes the six kinds of {@link FLOOD_KINDS}; {@link EXTRA_KINDS} are
 * other shapes the XML bounds refuse, measured alone. Each kind comes in several distinct bodies
 * (own IDs), so that nothing could answer a repeated body from a cache.
 */
import { deflateRawSync } from 'node:zlib';
import { attackerKey, mintResponseXml, type IdpKey } from '../test/support/idp.js';
import { formBody } from './mint.js';
import type { Post } from './load.js';

export const FLOOD_KINDS = [
  'malformed',
  'unsigned',
  'attacker-signed',
  'wrong-account',
  'oversized',
  'namespace-bomb',
] as const;
export const EXTRA_KINDS = ['attribute-bomb', 'text-bomb', 'forged-750-groups'] as const;
export type JunkKind = (typeof FLOOD_KINDS)[number] | (typeof EXTRA_KINDS)[number];

export const JUNK_DESCRIPTIONS: Record<JunkKind, string> = {
  malformed: 'not base64 / deflated bytes / a response cut in half (rotating)',
  unsigned: 'a well-formed response without any signature',
  'attacker-signed': 'signed by a key the connection does not trust (KeyInfo carries that certificate)',
  'wrong-account': "a genuine login for another account (same IdP key), posted to this account's ACS",
  oversized: 'a form body over MAX_SAML_RESPONSE_BYTES (256 KiB)',
  'namespace-bomb': 'attacker-signed, 11,000 namespace declarations on the Response (within the size limit)',
  'attribute-bomb': 'attacker-signed, 20,000 attributes on the Response',
  'text-bomb': 'attacker-signed, a 170 KB text node',
  'forged-750-groups': 'attacker-signed, 750 group values: within every XML bound',
};

const repeat = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('');
const b64 = (xml: string) => Buffer.from(xml, 'utf8').toString('base64');

/**
 * `variants` distinct bodies of each kind. `idp` is the key both bench accounts trust; `account` is
 * the account posted to and `other` a second account trusting the same key.
 */
export function junkBodies(opts: {
  account: { acsUrl: string; audience: string };
  other: { acsUrl: string; audience: string };
  idp: IdpKey;
  maxBodyBytes: number;
  variants: number;
}): Record<JunkKind, string[]> {
  const { acsUrl, audience } = opts.account;
  const forged = (i: number, extra: Partial<Parameters<typeof mintResponseXml>[0]> = {}) =>
    mintResponseXml({ acsUrl, audience, key: attackerKey, nameId: `auth0|admin${i}`, ...extra });
  const withBody = (xml: string, body: string, at: string) => xml.replace(at, body);
  const make = (f: (i: number) => string) => Array.from({ length: opts.variants }, (_, i) => f(i));
  const bodies: Record<JunkKind, string[]> = {
    malformed: make((i) => {
      if (i % 3 === 0) return `SAMLResponse=${encodeURIComponent(`%%not*base64${i}`)}&RelayState=%2F`;
      if (i % 3 === 1) return formBody(deflateRawSync(forged(i)).toString('base64'));
      const xml = forged(i);
      return formBody(b64(xml.slice(0, Math.floor(xml.length / 2))));
    }),
    unsigned: make((i) =>
      formBody(b64(mintResponseXml({ acsUrl, audience, sign: 'none', nameId: `auth0|u${i}` }))),
    ),
    'attacker-signed': make((i) => formBody(b64(forged(i)))),
    'wrong-account': make((i) =>
      formBody(
        b64(
          mintResponseXml({
            acsUrl: opts.other.acsUrl,
            audience: opts.other.audience,
            key: opts.idp,
            nameId: `auth0|other${i}`,
          }),
        ),
      ),
    ),
    oversized: make((i) => {
      // Padding in a text node: the body is over the limit by 16 KiB whatever else it holds.
      const xml = forged(i);
      const pad = 'p'.repeat(Math.ceil(((opts.maxBodyBytes + 16 * 1024) * 3) / 4));
      return formBody(b64(withBody(xml, `<x>${pad}</x><samlp:Status>`, '<samlp:Status>')));
    }),
    'namespace-bomb': make((i) =>
      formBody(
        b64(
          withBody(
            forged(i),
            `<samlp:Response${repeat(11_000, (j) => ` xmlns:n${j.toString(36)}="u${i}"`)} `,
            '<samlp:Response ',
          ),
        ),
      ),
    ),
    'attribute-bomb': make((i) =>
      formBody(
        b64(
          withBody(
            forged(i),
            `<samlp:Response${repeat(20_000, (j) => ` a${j.toString(36)}=""`)} `,
            '<samlp:Response ',
          ),
        ),
      ),
    ),
    'text-bomb': make((i) =>
      formBody(b64(withBody(forged(i), `<x>${'t'.repeat(170_000)}${i}</x><samlp:Status>`, '<samlp:Status>'))),
    ),
    'forged-750-groups': make((i) =>
      formBody(
        b64(forged(i, { groups: Array.from({ length: 750 }, (_, j) => `group-${j}-${'g'.repeat(40)}`) })),
      ),
    ),
  };
  for (const [kind, list] of Object.entries(bodies)) {
    for (const body of list) {
      const over = body.length > opts.maxBodyBytes;
      if (over !== (kind === 'oversized')) {
        throw new Error(`junk ${kind} is ${body.length} bytes: ${over ? 'over' : 'within'} the body limit`);
      }
    }
  }
  return bodies;
}

/** The flood: `total` posts, `validShare` of them valid (taken from `valid`), the rest junk in equal parts. */
export function floodMix(
  bodies: Record<JunkKind, string[]>,
  valid: readonly string[],
  total: number,
): Post[] {
  const list: Post[] = valid.map((body) => ({ kind: 'valid', body }));
  const junkCount = total - valid.length;
  for (let i = 0; i < junkCount; i++) {
    const kind = FLOOD_KINDS[i % FLOOD_KINDS.length]!;
    const variants = bodies[kind];
    list.push({ kind, body: variants[Math.floor(i / FLOOD_KINDS.length) % variants.length]! });
  }
  return list;
}
