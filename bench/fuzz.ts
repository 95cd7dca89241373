/**
 * Long ACS fuzz run: the generator and invariant of test/fuzz/mutations.ts, 100,000 cases by default,
 * against validateResponse directly, and the differential invariant of test/support/differential.ts:
 * the same input through stock node-saml (validateResponseWithNodeSaml) — the fast path must never
 * accept what node-saml refuses, and what both accept must say the same. Prints cases/s, the outcome histogram and every failure with
 * what is needed to replay it. Exit code 1 when any case broke the invariant.
 *
 *   npm run fuzz                          # 100,000 cases, one process per core
 *   FUZZ_CASES=5000 FUZZ_WORKERS=1 npm run fuzz
 *   FUZZ_SEED=123 npm run fuzz            # another seed
 *   FUZZ_REPLAY=<batch>:<index> npm run fuzz   # re-run one case and print its input
 *
 * Cases are generated in batches of 1,000 with seed FUZZ_SEED + batch, so a failure is identified by
 * (batch, index) whatever the number of workers.
 */
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import fc from 'fast-check';
import {
  applyMutations,
  caseArb,
  checkCase,
  FUZZ_SEED,
  fuzzContext,
  InvariantViolation,
  makeBases,
  type FuzzCase,
} from '../test/fuzz/mutations.js';
import { compare } from '../test/support/differential.js';

const TOTAL = Number(process.env.FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? FUZZ_SEED);
const WORKERS = Math.max(1, Number(process.env.FUZZ_WORKERS ?? availableParallelism()));
const BATCH = 1000;

interface Failure {
  batch: number;
  index: number;
  message: string;
  fuzzCase: FuzzCase;
  samlResponse: string;
}
interface WorkerReport {
  cases: number;
  outcomes: Record<string, number>;
  /** Differential: cases node-saml accepted and the fast path refused (allowed), by the fast path's code. */
  stricter: Record<string, number>;
  failures: Failure[];
}

function batchCases(batch: number): FuzzCase[] {
  const n = Math.min(BATCH, TOTAL - batch * BATCH);
  return fc.sample(caseArb, { seed: SEED + batch, numRuns: n });
}

/** Runs every batch b with b % of === slot; reports to the parent (or returns when single-process). */
async function runSlot(slot: number, of: number): Promise<WorkerReport> {
  const ctx = fuzzContext();
  const bases = await makeBases(ctx);
  const report: WorkerReport = { cases: 0, outcomes: {}, stricter: {}, failures: [] };
  const uncaught: unknown[] = [];
  process.on('unhandledRejection', (e) => uncaught.push(e));
  process.on('uncaughtException', (e) => uncaught.push(e));
  const batches = Math.ceil(TOTAL / BATCH);
  for (let batch = slot; batch < batches; batch += of) {
    for (const [index, c] of batchCases(batch).entries()) {
      report.cases++;
      try {
        const outcome = await checkCase(ctx, bases, c);
        const key = outcome.accepted ? 'ACCEPTED' : outcome.code;
        report.outcomes[key] = (report.outcomes[key] ?? 0) + 1;
        const samlResponse = applyMutations(bases[c.base % bases.length]!.xml, c.mutations);
        const diff = await compare(samlResponse, ctx);
        if (diff.violation !== null)
          throw new InvariantViolation(`differential: ${diff.violation}`, samlResponse);
        if (diff.stricter && !diff.fast.accepted) {
          report.stricter[diff.fast.code] = (report.stricter[diff.fast.code] ?? 0) + 1;
        }
      } catch (err) {
        const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        const samlResponse =
          err instanceof InvariantViolation
            ? err.samlResponse
            : applyMutations(bases[c.base % bases.length]!.xml, c.mutations);
        report.failures.push({ batch, index, message, fuzzCase: c, samlResponse });
      }
      while (uncaught.length > 0) {
        const e = uncaught.shift();
        report.failures.push({
          batch,
          index,
          message: `uncaught: ${String(e)}`,
          fuzzCase: c,
          samlResponse: '',
        });
      }
    }
  }
  return report;
}

async function replay(spec: string): Promise<void> {
  const [batch, index] = spec.split(':').map(Number) as [number, number];
  const c = batchCases(batch)[index];
  if (!c) throw new Error(`no case ${spec}`);
  const ctx = fuzzContext();
  const bases = await makeBases(ctx);
  const samlResponse = applyMutations(bases[c.base % bases.length]!.xml, c.mutations);
  console.log(JSON.stringify(c, null, 2));
  console.log(Buffer.from(samlResponse, 'base64').toString('utf8'));
  console.log(await checkCase(ctx, bases, c).catch((e: unknown) => `FAILED: ${String(e)}`));
}

async function main(): Promise<void> {
  if (process.env.FUZZ_REPLAY) return replay(process.env.FUZZ_REPLAY);
  const slotArg = process.argv.indexOf('--slot');
  if (slotArg >= 0) {
    const report = await runSlot(Number(process.argv[slotArg + 1]), Number(process.argv[slotArg + 2]));
    process.send!(report);
    return;
  }

  console.log(`ACS fuzz: ${TOTAL} cases, seed ${SEED}, ${WORKERS} worker(s)`);
  const started = performance.now();
  const reports: WorkerReport[] =
    WORKERS === 1
      ? [await runSlot(0, 1)]
      : await Promise.all(
          Array.from(
            { length: WORKERS },
            (_, slot) =>
              new Promise<WorkerReport>((resolve, reject) => {
                const child = fork(process.argv[1]!, ['--slot', String(slot), String(WORKERS)], {
                  execArgv: process.execArgv,
                  stdio: ['ignore', 'inherit', 'ignore', 'ipc'],
                });
                child.once('message', (m) => resolve(m as WorkerReport));
                child.once('exit', (code) =>
                  code === 0 ? undefined : reject(new Error(`worker ${slot} exited ${code}`)),
                );
              }),
          ),
        );
  const seconds = (performance.now() - started) / 1000;
  const cases = reports.reduce((n, r) => n + r.cases, 0);
  const outcomes: Record<string, number> = {};
  for (const r of reports)
    for (const [k, v] of Object.entries(r.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
  const failures = reports.flatMap((r) => r.failures);
  const stricter: Record<string, number> = {};
  for (const r of reports)
    for (const [k, v] of Object.entries(r.stricter)) stricter[k] = (stricter[k] ?? 0) + v;

  console.log(`${cases} cases in ${seconds.toFixed(1)} s: ${(cases / seconds).toFixed(0)} cases/s`);
  for (const [k, v] of Object.entries(outcomes).sort((a, b) => b[1] - a[1]))
    console.log(`  ${k.padEnd(36)} ${v}`);
  const stricterTotal = Object.values(stricter).reduce((a, b) => a + b, 0);
  console.log(
    `differential against stock node-saml: the fast path refused ${stricterTotal} case(s) node-saml accepted` +
      (stricterTotal > 0 ? ` (${JSON.stringify(stricter)})` : '') +
      '; a case the fast path accepted and node-saml refused would be a failure below',
  );
  if (failures.length === 0) {
    console.log('invariant held for every case (fuzz invariant and differential)');
    return;
  }
  console.log(`\n${failures.length} FAILURE(S):`);
  for (const f of failures.slice(0, 50)) {
    console.log(
      `- case ${f.batch}:${f.index} (replay: FUZZ_SEED=${SEED} FUZZ_REPLAY=${f.batch}:${f.index} npm run fuzz)`,
    );
    console.log(`  ${f.message}`);
    console.log(`  mutations: ${JSON.stringify(f.fuzzCase)}`);
  }
  process.exitCode = 1;
}

await main();
