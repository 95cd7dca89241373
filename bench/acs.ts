/**
 * ACS benchmark (`npm run bench`). One run measures, on this machine and as ratios within the run:
 *
 * 1. stock — stock @node-saml/node-saml validating the responses the SP is sent, in this process on
 *    one core, configured like ours; and our own validateResponse the same way (bench/stock.ts).
 *    Measured before and after the peak; the mean is the baseline.
 * 2. peak — the SP as its own process (production mode, SQLite, WEB_CONCURRENCY workers, rate limits
 *    lifted; bench/sp.ts), BENCH_CONCURRENCY clients posting distinct signed Auth0-shaped responses
 *    (RSA-2048, assertion signed, IdP-initiated): logins/s, p50/p99, and full ACS ÷ stock.
 * 3. half of peak — open loop at 50 % of the measured peak rate: p50/p99.
 * 4. growth — BENCH_GROWTH expired replay entries and BENCH_GROWTH/10 sessions (half expired) written
 *    into the SP's SQLite file (bench/growth.ts): ACS latency at half of peak and the SP's RSS before,
 *    with the load, and after the SP's own sweep purged the expired rows (it runs every 60 s, so this
 *    waits up to a minute).
 * 5. junk alone — each hostile kind posted alone: server CPU per post against a login's.
 * 6. junk flood — BENCH_CONCURRENCY clients posting 90 % junk (malformed, unsigned, attacker-signed,
 *    wrong account, oversized, namespace bomb; bench/junk.ts) and 10 % valid logins: the valid
 *    logins' p99, each kind's answers and latency.
 *
 * Results go to bench/results/latest.{json,md} with every target next to its measured value. A
 * missed target does not fail the run (BENCH_ENFORCE=1 makes it); a refused valid login, an accepted
 * junk post or expired rows left unpurged do.
 *
 *   npm run bench
 *   BENCH_GROWTH=1000000 npm run bench                        # the full growth run (1,000,000 + 100,000)
 *   BENCH_PROFILE=1 npm run bench                             # CPU profile of the SP at peak → bench/results/profile.*
 *   BENCH_PROFILE=1 BENCH_KEEP_PROFILE=1 npm run bench        # … and keep the .cpuprofile files (DevTools)
 *   BENCH_QUICK=1 npm run bench                               # stock and peak only, printed, nothing written
 *   BENCH_WORKERS=1 BENCH_REQUESTS=3000 BENCH_CONCURRENCY=32 npm run bench
 *   BENCH_DATABASE_URL=postgres://…?schema=bench npm run bench  # (no growth run)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anyExpired, expiredLeft, insertGrowth, openBenchDb, tableRows, watchSweeps } from './growth.js';
import { EXTRA_KINDS, FLOOD_KINDS, JUNK_DESCRIPTIONS, floodMix, junkBodies, type JunkKind } from './junk.js';
import { closedLoop, openLoop, shuffle, summarize, type Post, type Sample } from './load.js';
import { machineInfo, phaseMeter, round, treeCpuMs, treeRss, type PhaseLoad } from './machine.js';
import { mintValid } from './mint.js';
import { monotonicUs, summarizeProfiles } from './profile.js';
import { writeResults, type BenchResults } from './report.js';
import { acsUrlOf, audienceOf, benchIdpKey, startSp } from './sp.js';
import { ourValidation, stockNodeSaml } from './stock.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const knobs = {
  workers: env('BENCH_WORKERS', 2),
  concurrency: env('BENCH_CONCURRENCY', 16),
  warmup: env('BENCH_WARMUP', 200),
  requests: env('BENCH_REQUESTS', 3000),
  stockValidations: env('BENCH_STOCK', 300),
  halfSeconds: env('BENCH_HALF_SECONDS', 15),
  floodPosts: env('BENCH_FLOOD_POSTS', 3000),
  floodValidShare: env('BENCH_FLOOD_VALID_SHARE', 0.1),
  junkAlone: env('BENCH_JUNK_ALONE', 100),
  growth: env('BENCH_GROWTH', 100_000),
  growthSessions: env('BENCH_GROWTH_SESSIONS', Math.round(env('BENCH_GROWTH', 100_000) / 10)),
  growthSeconds: env('BENCH_GROWTH_SECONDS', 8),
  /**
   * Logins kept in store for the growth run's waits for the sweep (it runs every 60 s): before the
   * insert when the sweep is due too soon, and after it until the sweep has run; together at most
   * about 65 s.
   */
  sweepWaitSeconds: env('BENCH_SWEEP_WAIT_SECONDS', 70),
  mintProcesses: env('BENCH_MINT_PROCS', 2),
};
const PROFILE = process.env.BENCH_PROFILE === '1';
/** Stock and peak only, printed and not written: for trying a change. */
const QUICK = process.env.BENCH_QUICK === '1';
const ENFORCE = process.env.BENCH_ENFORCE === '1';
const SKEW_MS = 60_000;
/** MAX_SAML_RESPONSE_BYTES (the default): the oversized junk is over it, every other body within. */
const MAX_BODY = 256 * 1024;
const SLUG = 'bench';
const OTHER = 'other';
const ACS = `/sso/${SLUG}/acs`;
/** The SP's count of SAML signatures verified or refused: the signature work spent. */
const SIGNATURE_CHECKS = 'sspk_saml_signature_checks_total';

const log = (msg: string) => process.stdout.write(`${msg}\n`);
/**
 * The load generator holds every minted body (tens of thousands of 8 KB strings for the growth run):
 * a full collection before each measured phase keeps its own pauses out of the open-loop schedule,
 * whose latencies run from the scheduled moment (`npm run bench` starts node with --expose-gc).
 */
const collectGarbage = () => (globalThis as { gc?: () => void }).gc?.();
const valid = (list: readonly string[]): Post[] => list.map((body) => ({ kind: 'valid', body }));
const isLogin = (s: Sample) => s.status === 303;
const isRefused = (s: Sample) => s.status >= 400 && s.status < 500;

async function main(): Promise<void> {
  const machine = machineInfo();
  log(`saml-sp-kit ACS bench: ${machine.cores} cores, load average ${machine.loadavgAtStart.join(' ')}`);
  const idp = benchIdpKey();
  const account = { acsUrl: acsUrlOf(SLUG), audience: audienceOf(SLUG) };
  const mintJob = { ...account, key: idp };
  const profileDir = PROFILE ? mkdtempSync(join(tmpdir(), 'sspk-prof-')) : null;

  // Minting (forked processes) while the SP starts: nothing is measured yet.
  const peakCount = knobs.warmup + knobs.requests;
  const floodValid = PROFILE ? 0 : Math.round(knobs.floodPosts * knobs.floodValidShare);
  const t0 = performance.now();
  const [sp, firstBatch] = await Promise.all([
    startSp({
      workers: knobs.workers,
      nodeArgs: [
        ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
        ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      ],
      databaseUrl: process.env.BENCH_DATABASE_URL,
      logLevel: process.env.BENCH_LOG_LEVEL ?? 'info',
      accounts: [SLUG, OTHER],
      idp,
      maxBodyBytes: MAX_BODY,
    }),
    mintValid(mintJob, peakCount + floodValid, knobs.mintProcesses),
  ]);
  let minted = firstBatch.length;
  log(`SP up (pid ${sp.pid}); ${minted} responses minted in ${round((performance.now() - t0) / 1000)} s`);
  // The SP's sweep runs every 60 s in each worker, from its start. A row that expired long ago shows
  // when it ran: the growth run uses that to keep the sweep out of the stage measured with the load.
  const sweepClock = sp.sqliteFile !== null ? watchSweeps(sp.sqliteFile) : null;
  const warmupBodies = firstBatch.slice(0, knobs.warmup);
  const peakBodies = firstBatch.slice(knobs.warmup, peakCount);
  const floodBodies = firstBatch.slice(peakCount);
  const loads: Record<string, PhaseLoad> = {};
  const problems: string[] = [];
  const expectAll = (phase: string, samples: Sample[], ok: (s: Sample) => boolean, what: string) => {
    const bad = samples.filter((s) => !ok(s));
    if (bad.length > 0) {
      const statuses = [...new Set(bad.map((s) => `${s.kind} → ${s.status}${s.code ? ` ${s.code}` : ''}`))]
        .slice(0, 5)
        .join(', ');
      problems.push(`${phase}: ${bad.length} of ${samples.length} posts not ${what} (${statuses})`);
    }
  };

  try {
    // 1. Stock node-saml and our validation, in this process, while the SP is idle.
    const stockOpts = { ...account, idpCert: idp.cert, skewMs: SKEW_MS };
    const stock = stockNodeSaml(stockOpts);
    const ours = ourValidation(stockOpts);
    const stockSet = peakBodies.slice(0, knobs.stockValidations);
    let end = phaseMeter(sp.pid);
    const stockBefore = await stock(stockSet, 30);
    loads['stock (before peak)'] = end();
    log(`stock node-saml: ${stockBefore.perSecond}/s (${stockBefore.cpuMsEach} ms CPU each)`);
    collectGarbage();
    end = phaseMeter(sp.pid);
    const oursInProcess = await ours(stockSet, 30);
    loads['our validateResponse'] = end();
    log(`our validateResponse: ${oursInProcess.perSecond}/s (${oursInProcess.cpuMsEach} ms CPU each)`);

    // 2. Peak: closed loop.
    await closedLoop(sp.origin, ACS, valid(warmupBodies), knobs.concurrency);
    const checks0 = await sp.counter(SIGNATURE_CHECKS);
    collectGarbage();
    end = phaseMeter(sp.pid);
    const cpu0 = treeCpuMs(sp.pid);
    const peakFromUs = monotonicUs();
    const peakRun = await closedLoop(sp.origin, ACS, valid(peakBodies), knobs.concurrency);
    const serverCpuPerLoginMs = (treeCpuMs(sp.pid) - cpu0) / peakBodies.length;
    const peakToUs = monotonicUs();
    loads.peak = end();
    const signatureChecksPerLogin = ((await sp.counter(SIGNATURE_CHECKS)) - checks0) / peakBodies.length;
    expectAll('peak', peakRun.samples, isLogin, 'signed in (303)');
    const peakRate = peakRun.samples.filter(isLogin).length / peakRun.seconds;
    const peak = {
      ...summarize(peakRun.samples),
      loginsPerSec: round(peakRate, 1),
      seconds: round(peakRun.seconds, 1),
    };
    log(`peak: ${peak.loginsPerSec} logins/s, p50 ${peak.p50ms} ms, p99 ${peak.p99ms} ms`);

    collectGarbage();
    end = phaseMeter(sp.pid);
    const stockAfter = await stock(stockSet, 30);
    loads['stock (after peak)'] = end();
    log(`stock node-saml again: ${stockAfter.perSecond}/s`);
    const stockRate = (stockBefore.perSecond + stockAfter.perSecond) / 2;
    const stockCpuMs = (stockBefore.cpuMsEach + stockAfter.cpuMsEach) / 2;

    if (QUICK) {
      log(
        `quick: full ACS ÷ stock ${round(peakRate / stockRate, 2)}×, server CPU per login ${round(serverCpuPerLoginMs, 2)} ms (stock ${round(stockCpuMs, 2)} ms), SP ${loads.peak.coresUsed.sp} cores, load generator ${loads.peak.coresUsed.bench}`,
      );
      return;
    }
    if (PROFILE) {
      await sp.stop();
      const summary = summarizeProfiles(profileDir!, peakFromUs, peakToUs);
      if (process.env.BENCH_KEEP_PROFILE === '1') {
        writeFileSync(join(profileDir!, 'peak.json'), JSON.stringify({ fromUs: peakFromUs, toUs: peakToUs }));
        log(`profiles kept in ${profileDir!} (peak.json: the peak's window on the profiles' clock)`);
      } else rmSync(profileDir!, { recursive: true, force: true });
      writeResults({ kind: 'profile', machine, knobs, loads, peak, summary });
      return;
    }

    // Responses for the open-loop phases, now that the rate is known (the SP is idle meanwhile).
    const halfRate = peakRate / 2;
    const halfCount = Math.max(50, Math.ceil(halfRate * knobs.halfSeconds));
    // The SP sat idle while these were minted: its first half second back is slower (V8 shrank the
    // heap and dropped unused code meanwhile). Not measured: 2 s at the same rate first.
    const halfWarmup = Math.ceil(halfRate * 2);
    const growthSample = Math.max(50, Math.ceil(halfRate * knobs.growthSeconds));
    const growthOn = sp.sqliteFile !== null && knobs.growth > 0;
    const waitSample = Math.ceil(halfRate * knobs.sweepWaitSeconds);
    const secondBatch = await mintValid(
      { ...mintJob, first: minted },
      halfWarmup + halfCount + (growthOn ? 3 * growthSample + waitSample : 0),
      knobs.mintProcesses,
    );
    minted += secondBatch.length;
    const halfWarmupBodies = secondBatch.slice(0, halfWarmup);
    const halfBodies = secondBatch.slice(halfWarmup, halfWarmup + halfCount);
    const growthFrom = halfWarmup + halfCount;
    const growthBodies = [0, 1, 2].map((i) =>
      secondBatch.slice(growthFrom + i * growthSample, growthFrom + (i + 1) * growthSample),
    );
    const waitBodies = secondBatch.slice(growthFrom + 3 * growthSample);

    // 3. Half of peak: open loop.
    const warm = await openLoop(sp.origin, ACS, valid(halfWarmupBodies), halfRate);
    expectAll('half of peak (warm-up)', warm.samples, isLogin, 'signed in (303)');
    collectGarbage();
    end = phaseMeter(sp.pid);
    const halfRun = await openLoop(sp.origin, ACS, valid(halfBodies), halfRate);
    loads['half of peak'] = end();
    expectAll('half of peak', halfRun.samples, isLogin, 'signed in (303)');
    const half = {
      ...summarize(halfRun.samples),
      perSec: round(halfRate, 1),
      generatorMaxLateMs: halfRun.maxLateMs,
    };
    log(`half of peak (${half.perSec}/s): p50 ${half.p50ms} ms, p99 ${half.p99ms} ms`);

    // 4. Growth, after the half-peak run: the traffic before it is alike, so the RSS compares.
    let growth: BenchResults['growth'] = null;
    if (growthOn) {
      const db = openBenchDb(sp.sqliteFile!);
      try {
        const sample = async (phase: string, bodies: string[]) => {
          collectGarbage();
          const meter = phaseMeter(sp.pid);
          // RSS read every 250 ms while the stage runs; its median evens out the garbage collector's saw.
          const readings: number[] = [];
          const reader = setInterval(() => readings.push(treeRss(sp.pid).totalMb), 250);
          const run = await openLoop(sp.origin, ACS, valid(bodies), halfRate);
          clearInterval(reader);
          loads[phase] = meter();
          expectAll(phase, run.samples, isLogin, 'signed in (303)');
          readings.sort((a, b) => a - b);
          const rssMb = { ...treeRss(sp.pid), medianMb: readings[Math.floor(readings.length / 2)] ?? NaN };
          return { ...summarize(run.samples), rssMb, rows: tableRows(db) };
        };
        const before = await sample('growth: before', growthBodies[0]!);
        log(`growth: before p99 ${before.p99ms} ms, RSS ${before.rssMb.medianMb} MB; inserting…`);
        // Insert, then measure with the load: both must end before the next sweep. If it is due too
        // soon, logins go on (not measured) until it has run.
        const insertEstimateMs = (knobs.growth + knobs.growthSessions) * 0.008 + 1000;
        const due = sweepClock!.nextSweepAt(performance.now());
        let fillerSeconds = 0;
        let waitUsed = 0;
        if (due - performance.now() < insertEstimateMs + knobs.growthSeconds * 1000 + 5000) {
          const f0 = performance.now();
          const filler = await openLoop(
            sp.origin,
            ACS,
            valid(waitBodies),
            halfRate,
            () => performance.now() > due + 2000,
          );
          waitUsed = filler.samples.length;
          expectAll('growth: filler before the insert', filler.samples, isLogin, 'signed in (303)');
          fillerSeconds = round((performance.now() - f0) / 1000, 1);
        }
        const inserted = insertGrowth(db, {
          accountSlug: SLUG,
          replayEntries: knobs.growth,
          sessions: knobs.growthSessions,
        });
        const insertedAt = performance.now();
        // The insert held this process's event loop: let the HTTP client see the keep-alive
        // connections the SP closed meanwhile, or it would post on a dead one (status 0).
        await new Promise((r) => setTimeout(r, 500));
        const withLoad = await sample('growth: with the load', growthBodies[1]!);
        log(
          `growth: ${inserted.replayEntries} replay entries + ${inserted.sessions} sessions in ${round(inserted.seconds)} s; p99 ${withLoad.p99ms} ms, RSS ${withLoad.rssMb.medianMb} MB; waiting for the sweep…`,
        );
        // The SP sweeps every 60 s per worker. Until it has purged the growth rows, the logins go on
        // at the same rate (the RSS after compares with the RSS before, and the purge's cost on the
        // logins shows).
        const waitStart = performance.now();
        const deadline = waitStart + (knobs.sweepWaitSeconds + 15) * 1000;
        let purged = false;
        const poll = setInterval(() => {
          purged = !anyExpired(db, inserted.expiredBefore);
        }, 250);
        const meter = phaseMeter(sp.pid);
        const during = await openLoop(
          sp.origin,
          ACS,
          valid(waitBodies.slice(waitUsed)),
          halfRate,
          () => purged,
        );
        while (!purged && performance.now() < deadline) await new Promise((r) => setTimeout(r, 250));
        clearInterval(poll);
        loads['growth: until the sweep purged'] = meter();
        expectAll('growth: until the sweep purged', during.samples, isLogin, 'signed in (303)');
        const purgeWaitSeconds = round((performance.now() - insertedAt) / 1000, 1);
        const left = expiredLeft(db, inserted.expiredBefore);
        if (left.replay + left.sessions > 0) {
          problems.push(
            `growth: ${left.replay} replay entries and ${left.sessions} sessions still expired ${purgeWaitSeconds} s after the insert`,
          );
        }
        const after = await sample('growth: after the purge', growthBodies[2]!);
        log(
          `growth: purged after ${purgeWaitSeconds} s; p99 ${after.p99ms} ms, RSS ${after.rssMb.medianMb} MB`,
        );
        growth = {
          inserted: { ...inserted, seconds: round(inserted.seconds, 1) },
          perSec: round(halfRate, 1),
          before,
          withLoad,
          purge: {
            waitSeconds: purgeWaitSeconds,
            expiredLeft: left,
            logins: summarize(during.samples),
            fillerSeconds,
            sweepsSeen: sweepClock!.seen(),
          },
          after,
        };
      } finally {
        db.close();
      }
    }

    // 5. Junk alone, kind by kind: server CPU per post.
    const junk = junkBodies({
      account,
      other: { acsUrl: acsUrlOf(OTHER), audience: audienceOf(OTHER) },
      idp,
      maxBodyBytes: MAX_BODY,
      variants: 20,
    });
    const junkAlone: Record<
      string,
      {
        description: string;
        bodyKb: number;
        statuses: Record<string, number>;
        p50ms: number;
        serverCpuMs: number;
        vsLogin: number;
        signatureChecksPerPost: number;
      }
    > = {};
    collectGarbage();
    end = phaseMeter(sp.pid);
    for (const kind of [...FLOOD_KINDS, ...EXTRA_KINDS] as JunkKind[]) {
      const list = Array.from({ length: knobs.junkAlone }, (_, i) => ({
        kind,
        body: junk[kind][i % junk[kind].length]!,
      }));
      await closedLoop(sp.origin, ACS, list.slice(0, 5), 4);
      const checksBefore = await sp.counter(SIGNATURE_CHECKS);
      const before = treeCpuMs(sp.pid);
      const run = await closedLoop(sp.origin, ACS, list, 4);
      const cpu = (treeCpuMs(sp.pid) - before) / list.length;
      const checks = ((await sp.counter(SIGNATURE_CHECKS)) - checksBefore) / list.length;
      expectAll(`junk alone (${kind})`, run.samples, isRefused, 'refused (4xx)');
      const s = summarize(run.samples);
      junkAlone[kind] = {
        description: JUNK_DESCRIPTIONS[kind],
        bodyKb: round(junk[kind].reduce((a, b) => a + b.length, 0) / junk[kind].length / 1024, 0),
        statuses: s.statuses,
        p50ms: s.p50ms,
        serverCpuMs: round(cpu, 2),
        vsLogin: round(cpu / serverCpuPerLoginMs, 2),
        signatureChecksPerPost: round(checks, 2),
      };
    }
    loads['junk alone'] = end();
    log(
      `junk alone: ${Object.entries(junkAlone)
        .map(([k, v]) => `${k} ${v.vsLogin}×`)
        .join(', ')} of a login's CPU`,
    );

    // 6. The flood: 90 % junk, 10 % valid, closed loop.
    const mix = shuffle(floodMix(junk, floodBodies, knobs.floodPosts), 7);
    collectGarbage();
    end = phaseMeter(sp.pid);
    const floodRun = await closedLoop(sp.origin, ACS, mix, knobs.concurrency);
    loads['junk flood'] = end();
    const floodValidSamples = floodRun.samples.filter((s) => s.kind === 'valid');
    expectAll('flood (valid)', floodValidSamples, isLogin, 'signed in (303)');
    expectAll(
      'flood (junk)',
      floodRun.samples.filter((s) => s.kind !== 'valid'),
      isRefused,
      'refused (4xx)',
    );
    const flood = {
      posts: floodRun.samples.length,
      postsPerSec: round(floodRun.samples.length / floodRun.seconds, 1),
      valid: summarize(floodValidSamples),
      kinds: Object.fromEntries(
        FLOOD_KINDS.map((k) => [k, summarize(floodRun.samples.filter((s) => s.kind === k))]),
      ),
    };
    log(
      `flood: ${flood.postsPerSec} posts/s, valid p50 ${flood.valid.p50ms} ms, p99 ${flood.valid.p99ms} ms`,
    );

    writeResults(
      {
        kind: 'bench',
        machine,
        knobs,
        loads,
        minted,
        stock: {
          before: stockBefore,
          after: stockAfter,
          perSec: round(stockRate, 1),
          cpuMsEach: round(stockCpuMs, 2),
        },
        ours: oursInProcess,
        peak: {
          ...peak,
          serverCpuPerLoginMs: round(serverCpuPerLoginMs, 2),
          signatureChecksPerLogin: round(signatureChecksPerLogin, 2),
          rssMb: treeRss(sp.pid),
        },
        half,
        junkAlone,
        flood,
        growth,
        problems,
      },
      ENFORCE,
    );
  } finally {
    sweepClock?.stop();
    await sp.stop();
  }
  if (problems.length > 0) {
    console.error(`BROKEN: ${problems.join('; ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
