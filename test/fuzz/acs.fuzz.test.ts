/**
 * Property-based fuzzing of the ACS (fast-check, fixed seed, part of `npm test`). Valid signed
 * responses are mutated — bytes, XML nodes, attributes, namespaces, encodings — and the invariant of
 * ./mutations.ts must hold: nothing but an unchanged signed payload is accepted, and every rejection
 * is a catalogued 4xx SpError. `npm run fuzz` runs the same generator for 100,000 cases.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCatalog, type ErrorCode } from '../../src/errors.js';
import { cookiesFrom, createAccountWithIdp, me, postAcs, startSp, type TestSp } from '../support/harness.js';
import { TEST_TENANT_ISSUER } from '../support/idp.js';
import {
  applyMutations,
  caseArb,
  checkCase,
  FUZZ_SEED,
  fuzzContext,
  makeBases,
  type FuzzBase,
} from './mutations.js';

const DIRECT_RUNS = 300;
const HTTP_RUNS = 40;

describe('ACS fuzzer (fixed seed)', () => {
  const ctx = fuzzContext('fuzz');
  let bases: FuzzBase[];
  beforeAll(async () => {
    bases = await makeBases(ctx);
  });

  it(
    `${DIRECT_RUNS} mutated responses: accepted only unchanged, otherwise a 4xx SpError`,
    { timeout: 120_000 },
    async () => {
      const outcomes = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          const outcome = await checkCase(ctx, bases, c);
          const key = outcome.accepted ? 'ACCEPTED' : outcome.code;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }),
        { seed: FUZZ_SEED, numRuns: DIRECT_RUNS },
      );
      // The run is not vacuous: it reached the accepting path and many distinct rejections.
      expect(outcomes.get('ACCEPTED') ?? 0).toBeGreaterThan(0);
      expect([...outcomes.keys()].filter((k) => k !== 'ACCEPTED').length).toBeGreaterThanOrEqual(6);
    },
  );

  describe('through HTTP', () => {
    let t: TestSp;
    beforeAll(async () => {
      t = await startSp({ rateLimitAcsPerMinute: 1_000_000 });
      await createAccountWithIdp(t, 'fuzz', { idpEntityId: TEST_TENANT_ISSUER });
      expect(t.urls('fuzz').acsUrl).toBe(ctx.acsUrl);
    });
    afterAll(async () => {
      await t.close();
    });

    it(
      `${HTTP_RUNS} mutated responses: never a 5xx, a login only as the original subject`,
      { timeout: 120_000 },
      async () => {
        const unhandled: unknown[] = [];
        const onUnhandled = (err: unknown) => unhandled.push(err);
        process.on('unhandledRejection', onUnhandled);
        try {
          await fc.assert(
            fc.asyncProperty(caseArb, async (c) => {
              const base = bases[c.base % bases.length]!;
              const res = await postAcs(t, 'fuzz', applyMutations(base.xml, c.mutations));
              expect(res.status, JSON.stringify(res.body)).toBeLessThan(500);
              if (res.status === 303) {
                const who = await me(t, cookiesFrom(res)).expect(200);
                expect(who.body.nameId).toBe(base.baseline.nameId);
              } else {
                expect(res.status).toBeGreaterThanOrEqual(400);
                const code = res.body?.error?.code as ErrorCode;
                expect(Object.keys(errorCatalog)).toContain(code);
                expect(res.status).toBe(errorCatalog[code].status);
                await me(t, cookiesFrom(res)).expect(401);
              }
            }),
            { seed: FUZZ_SEED + 1, numRuns: HTTP_RUNS },
          );
        } finally {
          process.off('unhandledRejection', onUnhandled);
        }
        expect(unhandled).toEqual([]);
      },
    );
  });
});
