/**
 * Reads the V8 CPU profiles (`--cpu-prof`) the SP's processes wrote and says where the CPU went:
 * self time by area (our code, node-saml, xml-crypto, the XML parsers, SQLite, Express…), the
 * functions with the most self time, and the inclusive time of the steps of a login.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { round } from './machine.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  /** µs on the monotonic clock (process.hrtime's). */
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The package a file belongs to: the path after the last node_modules/ (null outside node_modules). */
function packageOf(url: string): string | null {
  const at = url.lastIndexOf('/node_modules/');
  if (at < 0) return null;
  const [first, second] = url.slice(at + '/node_modules/'.length).split('/');
  return first?.startsWith('@') ? `${first}/${second ?? ''}` : (first ?? null);
}

/** Area of a frame, from the file it comes from. */
function areaOf(frame: CallFrame): string {
  const u = frame.url;
  if (frame.functionName === '(garbage collector)') return 'garbage collection';
  if (frame.functionName === '(program)') return 'V8/native (program)';
  const pkg = packageOf(u);
  // xmldom and xpath come in several copies: name the package that uses each.
  const owner = packageOf(u.slice(0, u.lastIndexOf('/node_modules/'))) ?? 'ours';
  if (pkg === '@xmldom/xmldom') return `xmldom (${owner === 'ours' ? 'ours, 0.9' : `${owner}'s copy`})`;
  if (pkg === 'xpath') return `xpath (${owner === 'ours' ? 'top level: node-saml' : `${owner}'s copy`})`;
  if (pkg === '@node-saml/node-saml') return 'node-saml';
  if (pkg === 'xml-crypto') return 'xml-crypto';
  if (pkg === 'xml2js' || pkg === 'sax') return 'xml2js/sax (node-saml profile)';
  if (pkg === 'better-sqlite3' || pkg === 'kysely') return 'SQLite (better-sqlite3, kysely)';
  if (pkg === 'express-session' || pkg === 'connect-redis') return 'sessions (express-session)';
  if (pkg?.startsWith('pino') || pkg === 'sonic-boom') return 'logging (pino)';
  if (pkg === 'zod') return 'zod';
  if (pkg !== null) return 'express, body parsing & other packages';
  if (u.includes('/src/saml/')) return 'ours: src/saml';
  if (u.includes('/src/')) return 'ours: other src';
  if (u.startsWith('node:')) {
    if (u.includes('crypto')) return 'node:crypto (RSA, hashes)';
    if (u.includes('zlib')) return 'node:zlib';
    return 'node: internals (http, streams, buffers…)';
  }
  return 'V8/native (builtins without a file)';
}

/** A dist/*.js file of ours as the src/*.ts it is built from; any other URL as it is. */
function sourceUrl(url: string): string {
  if (url.includes('/node_modules/')) return url;
  const m = /^(.*)\/dist\/(.*)\.js$/.exec(url);
  return m ? `${m[1]}/src/${m[2]}.ts` : url;
}

/** `name file[:line]`: a path from node_modules/ or src/ on; src/ lines are of the transpiled code, so left out. */
function label(f: CallFrame): string {
  if (!f.url) return f.functionName || '(anonymous)';
  const file = f.url.replace(/^.*?\/(node_modules|src)\//, '$1/').replace(/^file:\/\//, '');
  return `${f.functionName || '(anonymous)'} ${file.startsWith('src/') ? file : `${file}:${f.lineNumber + 1}`}`;
}

/**
 * Steps of a login whose inclusive time is reported: synchronous functions only (an async function's
 * code after an await runs from the microtask queue, outside its caller's frame).
 */
const STEPS: Record<string, string> = {
  decodeSamlResponse: 'ours: base64 decode and checks',
  checkStructure: 'ours: parse, scan and structural checks',
  selectVerificationCertificates: 'ours: certificate selection (canonical SignedInfo + RSA verify)',
  parseDomFromString: 'node-saml: parses the whole document again',
  getVerifiedXml: 'node-saml: signature verification (xpath, xml-crypto c14n, digest, RSA)',
  checkSignature: '… of which xml-crypto checkSignature',
  parseXml2JsFromString: 'node-saml: xml2js parse of the assertion (profile)',
  checkVerifiedAssertion: 'ours: parse and checks of the verified assertion',
};

export interface ProfileSummary {
  files: number;
  /** CPU ms sampled (idle excluded). */
  busyMs: number;
  areas: { area: string; ms: number; share: number }[];
  topSelf: { fn: string; area: string; ms: number; share: number }[];
  steps: { step: string; fn: string; ms: number; share: number }[];
  /** Our functions (src/) by inclusive time, synchronous part. */
  oursInclusive: { fn: string; ms: number; share: number }[];
}

/** Monotonic µs now, on the clock of the profiles' timestamps. */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Summarizes every profile in `dir`, counting only samples taken between `fromUs` and `toUs`. */
export function summarizeProfiles(dir: string, fromUs: number, toUs: number): ProfileSummary {
  const areaMs = new Map<string, number>();
  const selfMs = new Map<string, { ms: number; area: string }>();
  const stepMs = new Map<string, number>();
  const oursMs = new Map<string, number>();
  let busyMs = 0;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    // The SP runs the built dist/ (as `npm start` does): its files are named by the src/ they come from.
    for (const node of profile.nodes) node.callFrame.url = sourceUrl(node.callFrame.url);
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    let at = profile.startTime;
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas[i] ?? 0;
      at += delta;
      if (at < fromUs || at > toUs) return;
      const ms = delta / 1000;
      const node = byId.get(id);
      if (!node || node.callFrame.functionName === '(idle)') return;
      busyMs += ms;
      const area = areaOf(node.callFrame);
      areaMs.set(area, (areaMs.get(area) ?? 0) + ms);
      const key = label(node.callFrame);
      const self = selfMs.get(key) ?? { ms: 0, area };
      self.ms += ms;
      selfMs.set(key, self);
      // Inclusive: each step counted once per sample however deep the recursion.
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const frame = byId.get(cur)!.callFrame;
        const name = frame.functionName;
        if (name in STEPS && !seen.has(name)) {
          seen.add(name);
          stepMs.set(name, (stepMs.get(name) ?? 0) + ms);
        }
        const ours =
          frame.url.includes('/src/') && !frame.url.includes('/node_modules/') ? label(frame) : null;
        if (ours !== null && !seen.has(ours)) {
          seen.add(ours);
          oursMs.set(ours, (oursMs.get(ours) ?? 0) + ms);
        }
      }
    });
  }
  const share = (ms: number) => round((100 * ms) / busyMs, 1);
  return {
    files: files.length,
    busyMs: round(busyMs, 0),
    areas: [...areaMs]
      .sort((a, b) => b[1] - a[1])
      .map(([area, ms]) => ({ area, ms: round(ms, 0), share: share(ms) })),
    topSelf: [...selfMs]
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, 15)
      .map(([fn, v]) => ({ fn, area: v.area, ms: round(v.ms, 0), share: share(v.ms) })),
    steps: Object.entries(STEPS).map(([fn, step]) => ({
      step,
      fn,
      ms: round(stepMs.get(fn) ?? 0, 0),
      share: share(stepMs.get(fn) ?? 0),
    })),
    oursInclusive: [...oursMs]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([fn, ms]) => ({ fn, ms: round(ms, 0), share: share(ms) })),
  };
}
