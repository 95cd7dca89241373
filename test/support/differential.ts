/**
 * The differential oracle of the fast ACS (issue 12): the same input goes to `validateResponse` (our
 * verification on our own DOM) and to `validateResponseWithNodeSaml` (the same structural checks,
 * then stock node-saml 5.1.0's validatePostResponseAsync configured as before, then our checks on
 * the assertion XML node-saml returns). Used by test/security/differential.test.ts and by
 * `npm run fuzz` (bench/fuzz.ts).
 *
 * Invariant: the fast path never accepts what the reference rejects, and what both accept says the
 * same thing. The reverse (the fast path stricter) is counted, and is a failure only for inputs the
 * caller marks as valid.
 */
import { isSpError } from '../../src/errors.js';
import type { SamlContext } from '../../src/saml/options.js';
import {
  validateResponse,
  validateResponseWithNodeSaml,
  type VerifiedAssertion,
} from '../../src/saml/validate-response.js';

export type Verdict = { accepted: true; said: string } | { accepted: false; code: string };

/** What a validated response says, for comparison. */
export function said(v: VerifiedAssertion): string {
  return JSON.stringify({
    assertionId: v.assertionId,
    issuer: v.issuer,
    nameId: v.nameId,
    nameIdFormat: v.nameIdFormat,
    sessionIndex: v.sessionIndex,
    inResponseTo: v.inResponseTo,
    attributes: Object.entries(v.attributes).sort(([a], [b]) => a.localeCompare(b)),
  });
}

async function verdict(run: () => Promise<VerifiedAssertion>, path: string): Promise<Verdict> {
  try {
    return { accepted: true, said: said(await run()) };
  } catch (err) {
    if (!isSpError(err)) {
      throw new Error(`${path}: not an SpError: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { accepted: false, code: err.code };
  }
}

export interface Comparison {
  fast: Verdict;
  stock: Verdict;
  /** Why the invariant does not hold, or null. */
  violation: string | null;
  /** The fast path refused what the reference accepted (allowed unless the input is valid). */
  stricter: boolean;
}

/** Runs both paths on one input and judges the pair. `valid`: the input must be accepted by both. */
export async function compare(
  samlResponse: string,
  ctx: SamlContext,
  opts: { valid?: boolean } = {},
): Promise<Comparison> {
  const fast = await verdict(() => validateResponse(samlResponse, ctx), 'fast path');
  const stock = await verdict(() => validateResponseWithNodeSaml(samlResponse, ctx), 'node-saml path');
  let violation: string | null = null;
  if (fast.accepted && !stock.accepted) {
    violation = `fast path accepted what node-saml refused (${stock.code})`;
  } else if (fast.accepted && stock.accepted && fast.said !== stock.said) {
    violation = `both accepted, saying different things: ${fast.said} vs ${stock.said}`;
  } else if (opts.valid && !(fast.accepted && stock.accepted)) {
    violation = `valid input refused: fast ${fast.accepted ? 'accepted' : fast.code}, node-saml ${stock.accepted ? 'accepted' : stock.code}`;
  }
  return { fast, stock, violation, stricter: stock.accepted && !fast.accepted };
}
