/**
 * The bench's results: every number as JSON, and a Markdown report with each target next to what this
 * run measured (PASS/FAIL), written to bench/results/ (BENCH_RESULTS_DIR elsewhere, BENCH_WRITE=0 not
 * at all) and printed.
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LatencySummary } from './load.js';
import type { PhaseLoad, machineInfo, treeRss } from './machine.js';
import type { ProfileSummary } from './profile.js';
import type { InProcessRate } from './stock.js';
import type { expiredLeft, Inserted, tableRows } from './growth.js';

type Rss = ReturnType<typeof treeRss>;
/** `rssMb.medianMb`: median of the readings taken while the stage ran; `totalMb`: at its end. */
type GrowthSample = LatencySummary & {
  rssMb: Rss & { medianMb: number };
  rows: ReturnType<typeof tableRows>;
};

interface Common {
  machine: ReturnType<typeof machineInfo>;
  knobs: Record<string, number>;
  /** How busy the machine was in each phase. */
  loads: Record<string, PhaseLoad>;
  peak: LatencySummary & { loginsPerSec: number; seconds: number };
}

export interface BenchResults extends Common {
  kind: 'bench';
  minted: number;
  stock: { before: InProcessRate; after: InProcessRate; perSec: number; cpuMsEach: number };
  ours: InProcessRate;
  peak: Common['peak'] & { serverCpuPerLoginMs: number; signatureChecksPerLogin: number; rssMb: Rss };
  half: LatencySummary & { perSec: number; generatorMaxLateMs: number };
  junkAlone: Record<
    string,
    {
      description: string;
      bodyKb: number;
      statuses: Record<string, number>;
      p50ms: number;
      serverCpuMs: number;
      vsLogin: number;
      /** SAML signatures the SP verified or refused per post (its own counter): the signature work. */
      signatureChecksPerPost: number;
    }
  >;
  flood: { posts: number; postsPerSec: number; valid: LatencySummary; kinds: Record<string, LatencySummary> };
  growth: {
    inserted: Inserted;
    perSec: number;
    before: GrowthSample;
    withLoad: GrowthSample;
    /** `logins`: the logins posted (at the same rate) until the purge was seen. */
    purge: {
      waitSeconds: number;
      expiredLeft: ReturnType<typeof expiredLeft>;
      logins: LatencySummary;
      /** Logins (not measured) before the insert, so that the sweep falls after the stage with the load. */
      fillerSeconds: number;
      /** When the SP's sweeps were seen, in seconds from the SP's start. */
      sweepsSeen: number[];
    };
    after: GrowthSample;
  } | null;
  /** Correctness failures: a refused valid login, an accepted junk post, expired rows left. */
  problems: string[];
}

export interface ProfileResults extends Common {
  kind: 'profile';
  summary: ProfileSummary;
}

interface Target {
  target: string;
  goal: string;
  measured: string;
  pass: boolean | null;
}

/** Junk kinds a check before any signature work can decide. */
const CHEAP_KINDS = ['malformed', 'unsigned', 'wrong-account', 'oversized', 'namespace-bomb'];
/** "RSS flat": after the purge at most this much above the RSS before the load. */
const RSS_FLAT = 1.1;

const x = (v: number) => `${v.toFixed(2)}×`;
const ms = (v: number) => `${v} ms`;

function targets(r: BenchResults): Target[] {
  const ratio = r.peak.loginsPerSec / r.stock.perSec;
  const cheap = CHEAP_KINDS.map((k) => ({ k, v: r.junkAlone[k]?.signatureChecksPerPost ?? NaN })).sort(
    (a, b) => b.v - a.v,
  );
  const worst = cheap[0]!;
  const list: Target[] = [
    {
      target: 'full ACS logins/s ÷ stock node-saml validations/s (one core, same responses)',
      goal: '≥ 5×',
      measured: `${x(ratio)} (${r.peak.loginsPerSec} ÷ ${r.stock.perSec})`,
      pass: ratio >= 5,
    },
    {
      target: 'p99 at half of peak (open loop)',
      goal: '< 20 ms',
      measured: `${ms(r.half.p99ms)} at ${r.half.perSec}/s`,
      pass: r.half.p99ms < 20,
    },
    {
      target: 'valid logins p99 under the junk flood (90 % junk)',
      goal: '< 50 ms',
      measured: ms(r.flood.valid.p99ms),
      pass: r.flood.valid.p99ms < 50,
    },
    {
      target: `junk a cheap check decides (${CHEAP_KINDS.join(', ')}) rejected before signature work: signatures checked per post (the SP's sspk_saml_signature_checks_total), worst kind`,
      goal: '0',
      measured: `${worst.v} (${worst.k}); a login: ${r.peak.signatureChecksPerLogin}`,
      pass: worst.v === 0,
    },
  ];
  if (r.growth) {
    const g = r.growth;
    const rss = g.after.rssMb.medianMb / g.before.rssMb.medianMb;
    list.push({
      target: `SP RSS after the purge ÷ before the growth (${g.inserted.replayEntries.toLocaleString('en')} replay entries, ${g.inserted.sessions.toLocaleString('en')} sessions)`,
      goal: `≤ ${RSS_FLAT}×`,
      measured: `${x(rss)} (median ${g.before.rssMb.medianMb} → ${g.withLoad.rssMb.medianMb} → ${g.after.rssMb.medianMb} MB)`,
      pass: rss <= RSS_FLAT,
    });
  } else {
    list.push({
      target: 'SP RSS flat after the purge (growth run)',
      goal: `≤ ${RSS_FLAT}×`,
      measured: 'not run',
      pass: null,
    });
  }
  return list;
}

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const table = (head: string[], rows: (string | number)[][]) =>
  [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');
const statuses = (s: Record<string, number>) =>
  Object.entries(s)
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ');

function git(): string {
  try {
    const commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
    const dirty =
      execSync("git status --porcelain -- src bench ':!bench/results'", { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${commit} + uncommitted changes` : commit;
  } catch {
    return 'unknown';
  }
}

/** The command that made these results: `npm run bench` with the BENCH_* variables set (not where it wrote). */
function commandLine(): string {
  const vars = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_RESULTS_DIR' && k !== 'BENCH_WRITE')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v ?? ''}`);
  return [...vars, 'npm run bench'].join(' ');
}

function loadTable(loads: Record<string, PhaseLoad>): string {
  return table(
    ['phase', 'seconds', 'load average (1 min)', 'cores used: SP', 'bench', 'other processes'],
    Object.entries(loads).map(([phase, l]) => [
      phase,
      l.seconds,
      l.loadavg[0],
      l.coresUsed.sp,
      l.coresUsed.bench,
      l.coresUsed.others,
    ]),
  );
}

function header(r: Common, date: string, commit: string, command: string): string {
  const m = r.machine;
  const peakLoad = r.loads.peak;
  return [
    `Command: \`${command}\` — ${date}, commit ${commit}, Node ${m.node}, ${m.cores} × ${m.cpuModel}.`,
    `Machine load: load average ${m.loadavgAtStart.join(' / ')} (1/5/15 min) at the start` +
      (peakLoad
        ? `; during the peak, other processes used ${peakLoad.coresUsed.others} of the ${m.cores} cores (SP ${peakLoad.coresUsed.sp}, load generator ${peakLoad.coresUsed.bench}).`
        : '.'),
    `Knobs: ${Object.entries(r.knobs)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}.`,
  ].join('\n');
}

function profileSection(p: ProfileSummary): string {
  return [
    `CPU samples of the SP's processes (${p.files} profiles, ${p.busyMs} ms busy, idle excluded).`,
    '',
    'Self time by area:',
    '',
    table(
      ['area', 'share'],
      p.areas.slice(0, 12).map((a) => [a.area, `${a.share} %`]),
    ),
    '',
    'Steps of a login (inclusive, synchronous part):',
    '',
    table(
      ['step', 'function', 'share'],
      p.steps.map((s) => [s.step, `\`${s.fn}\``, `${s.share} %`]),
    ),
    '',
    'Functions with the most self time:',
    '',
    table(
      ['function', 'area', 'share'],
      p.topSelf.slice(0, 10).map((f) => [`\`${f.fn}\``, f.area, `${f.share} %`]),
    ),
    '',
    'Our functions (src/) by inclusive time, synchronous part:',
    '',
    table(
      ['function', 'share'],
      (p.oursInclusive ?? []).slice(0, 10).map((f) => [`\`${f.fn}\``, `${f.share} %`]),
    ),
  ].join('\n');
}

function benchMarkdown(
  r: BenchResults,
  date: string,
  commit: string,
  profile: (ProfileResults & { date: string; commit: string }) | null,
): string {
  const t = targets(r);
  const out: string[] = [
    '# ACS benchmark: latest run',
    '',
    header(r, date, commit, commandLine()),
    '',
    '## Targets (each measured within this run)',
    '',
    table(
      ['target', 'goal', 'measured', 'result'],
      t.map((v) => [v.target, v.goal, v.measured, v.pass === null ? '—' : v.pass ? 'PASS' : 'FAIL']),
    ),
    '',
    r.problems.length > 0
      ? `**Broken:** ${r.problems.join('; ')}`
      : 'Every valid login signed in (303), every junk post was refused (4xx), the expired rows were purged.',
    '',
    '## Throughput: full ACS against stock node-saml',
    '',
    table(
      ['', 'per second', 'CPU ms each', 'wall ÷ CPU'],
      [
        [
          `stock node-saml, in-process, one core (before the peak)`,
          r.stock.before.perSecond,
          r.stock.before.cpuMsEach,
          r.stock.before.wallOverCpu,
        ],
        [
          `stock node-saml, in-process, one core (after the peak)`,
          r.stock.after.perSecond,
          r.stock.after.cpuMsEach,
          r.stock.after.wallOverCpu,
        ],
        [
          `our validateResponse, in-process, one core`,
          r.ours.perSecond,
          r.ours.cpuMsEach,
          r.ours.wallOverCpu,
        ],
        [
          `full ACS, ${r.knobs.workers} workers, ${r.knobs.concurrency} clients (server CPU per login)`,
          r.peak.loginsPerSec,
          r.peak.serverCpuPerLoginMs,
          '—',
        ],
      ],
    ),
    '',
    `Stock validations: ${r.knobs.stockValidations} of the responses the peak posts, one at a time. Ratios independent of how many cores were free: our validateResponse costs ${x(r.ours.cpuMsEach / r.stock.cpuMsEach)} stock's CPU, a full login ${x(r.peak.serverCpuPerLoginMs / r.stock.cpuMsEach)} (server CPU per login ÷ stock CPU per validation).`,
    '',
    '## Latency',
    '',
    table(
      ['phase', 'rate', 'posts', 'p50', 'p90', 'p99', 'max'],
      [
        [
          'peak (closed loop)',
          `${r.peak.loginsPerSec}/s`,
          r.peak.count,
          ms(r.peak.p50ms),
          ms(r.peak.p90ms),
          ms(r.peak.p99ms),
          ms(r.peak.maxMs),
        ],
        [
          'half of peak (open loop)',
          `${r.half.perSec}/s`,
          r.half.count,
          ms(r.half.p50ms),
          ms(r.half.p90ms),
          ms(r.half.p99ms),
          ms(r.half.maxMs),
        ],
        [
          'valid logins under the junk flood',
          `${r.flood.postsPerSec} posts/s`,
          r.flood.valid.count,
          ms(r.flood.valid.p50ms),
          ms(r.flood.valid.p90ms),
          ms(r.flood.valid.p99ms),
          ms(r.flood.valid.maxMs),
        ],
      ],
    ),
    '',
    `Open loop: posts sent on schedule whatever the answers, latency from the scheduled moment (the generator fell at most ${r.half.generatorMaxLateMs} ms behind).`,
    '',
    '## Junk',
    '',
    `The flood: ${r.flood.posts} posts from ${r.knobs.concurrency} clients, ${Math.round((r.knobs.floodValidShare ?? 0) * 100)} % valid logins, the rest the six kinds in equal parts, shuffled.`,
    '',
    table(
      [
        'kind',
        'what',
        'body',
        'answers in the flood',
        'p50',
        'p99',
        'alone: signatures checked per post',
        'alone: server CPU per post',
        '÷ a login',
      ],
      Object.entries(r.junkAlone).map(([kind, a]) => {
        const f = r.flood.kinds[kind];
        return [
          kind,
          a.description,
          `${a.bodyKb} KB`,
          f ? statuses(f.statuses) : `(not in the flood) ${statuses(a.statuses)}`,
          f ? ms(f.p50ms) : ms(a.p50ms),
          f ? ms(f.p99ms) : '—',
          String(a.signatureChecksPerPost),
          ms(a.serverCpuMs),
          x(a.vsLogin),
        ];
      }),
    ),
    '',
    `Alone: ${r.knobs.junkAlone} posts of each kind from 4 clients; a login costs ${r.peak.serverCpuPerLoginMs} ms of server CPU.`,
    '',
  ];
  if (r.growth) {
    const g = r.growth;
    const stage = (name: string, s: GrowthSample) => [
      name,
      s.rows.replay.toLocaleString('en'),
      s.rows.sessions.toLocaleString('en'),
      `${s.rssMb.medianMb} MB`,
      ms(s.p50ms),
      ms(s.p99ms),
      ms(s.maxMs),
    ];
    out.push(
      '## Growth',
      '',
      `${g.inserted.replayEntries.toLocaleString('en')} expired replay entries and ${g.inserted.sessions.toLocaleString('en')} sessions (${g.inserted.expiredSessions.toLocaleString('en')} expired) written into the SP's SQLite file in ${g.inserted.seconds} s (database ${g.inserted.databaseMb} MB). Logins at ${g.perSec}/s throughout (open loop, ${r.knobs.growthSeconds} s per measured stage, and on until the SP's own sweep, every 60 s, had purged the expired rows: ${g.purge.waitSeconds} s after the insert).${g.purge.fillerSeconds > 0 ? ` The sweep was due during the insert or the stage with the load, so the insert waited ${g.purge.fillerSeconds} s (logins going on) until it had run.` : ''} Sweeps seen ${g.purge.sweepsSeen.join(', ')} s after the SP was up.`,
      '',
      table(
        [
          'stage',
          'one_time rows',
          'sessions rows',
          'SP RSS, median (all processes)',
          'ACS p50',
          'ACS p99',
          'max',
        ],
        [
          stage('before', g.before),
          stage('with the load', g.withLoad),
          [
            `until the sweep purged (${g.purge.logins.count} logins)`,
            '—',
            '—',
            '—',
            ms(g.purge.logins.p50ms),
            ms(g.purge.logins.p99ms),
            ms(g.purge.logins.maxMs),
          ],
          stage('after the purge', g.after),
        ],
      ),
      '',
      `Full size: \`BENCH_GROWTH=1000000 npm run bench\` (1,000,000 replay entries, 100,000 sessions).`,
      '',
    );
  }
  out.push('## Machine load per phase', '', loadTable(r.loads), '');
  if (profile) {
    out.push(
      '## Where the CPU goes',
      '',
      `From \`BENCH_PROFILE=1 npm run bench\` (${profile.date}, commit ${profile.commit}; the peak phase only, ${profile.peak.loginsPerSec} logins/s under the profiler). See [profile.md](profile.md).`,
      '',
      profileSection(profile.summary),
      '',
    );
  }
  return out.join('\n');
}

function profileMarkdown(r: ProfileResults, date: string, commit: string): string {
  return [
    '# ACS benchmark: CPU profile of the SP at peak',
    '',
    header(r, date, commit, commandLine()),
    '',
    `The peak phase only (${r.peak.count} logins, ${r.peak.loginsPerSec}/s under the profiler), --cpu-prof in every SP process.`,
    '',
    profileSection(r.summary),
    '',
    '## Machine load per phase',
    '',
    loadTable(r.loads),
    '',
  ].join('\n');
}

export function writeResults(r: BenchResults | ProfileResults, enforce = false): void {
  const dir = process.env.BENCH_RESULTS_DIR ?? fileURLToPath(new URL('./results/', import.meta.url));
  const write = process.env.BENCH_WRITE !== '0';
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const commit = git();
  if (write) mkdirSync(dir, { recursive: true });
  let markdown: string;
  if (r.kind === 'profile') {
    markdown = profileMarkdown(r, date, commit);
    if (write) {
      writeFileSync(join(dir, 'profile.json'), `${JSON.stringify({ date, commit, ...r }, null, 2)}\n`);
      writeFileSync(join(dir, 'profile.md'), markdown);
    }
  } else {
    const profileFile = join(dir, 'profile.json');
    const profile = existsSync(profileFile)
      ? (JSON.parse(readFileSync(profileFile, 'utf8')) as ProfileResults & { date: string; commit: string })
      : null;
    markdown = benchMarkdown(r, date, commit, profile);
    const t = targets(r);
    if (write) {
      writeFileSync(
        join(dir, 'latest.json'),
        `${JSON.stringify({ date, commit, targets: t, ...r }, null, 2)}\n`,
      );
      writeFileSync(join(dir, 'latest.md'), markdown);
    }
    const missed = t.filter((v) => v.pass === false);
    if (missed.length > 0 && enforce) process.exitCode = 1;
  }
  process.stdout.write(`\n${markdown}\n`);
  if (write) process.stdout.write(`(written to ${dir})\n`);
}
