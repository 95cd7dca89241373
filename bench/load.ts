/**
 * Load generation against the ACS: closed loop (N clients, each posting its next body as soon as the
 * previous answer arrived: the peak) and open loop (posts sent on a fixed schedule whatever the
 * answers, latency counted from the scheduled moment so a slow server cannot hide its queue).
 */
import { round } from './machine.js';

/** One post's outcome; status 0 = the connection failed. */
export interface Sample {
  kind: string;
  status: number;
  ms: number;
  /** The catalogued error code of a refusal (JSON answers carry it). */
  code?: string;
}

/** A body to post, labelled by what it is. */
export interface Post {
  kind: string;
  body: string;
}

export async function post(
  origin: string,
  path: string,
  body: string,
): Promise<{ status: number; code?: string }> {
  try {
    const res = await fetch(`${origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      redirect: 'manual',
    });
    const text = await res.text();
    if (res.status < 400) return { status: res.status };
    try {
      const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
      return code ? { status: res.status, code } : { status: res.status };
    } catch {
      return { status: res.status };
    }
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { status: 0, code: cause?.code ?? cause?.message ?? String(err) };
  }
}

/** Every post of `list`, `concurrency` at a time. */
export async function closedLoop(
  origin: string,
  path: string,
  list: readonly Post[],
  concurrency: number,
): Promise<{ samples: Sample[]; seconds: number }> {
  const samples: Sample[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < list.length) {
        const item = list[next++]!;
        const t0 = performance.now();
        const answer = await post(origin, path, item.body);
        samples.push({ kind: item.kind, ...answer, ms: performance.now() - t0 });
      }
    }),
  );
  return { samples, seconds: (performance.now() - started) / 1000 };
}

/**
 * Posts `list` at `perSecond`, evenly spaced, without waiting for answers. Latency runs from the
 * scheduled send time; `maxLateMs` says how far behind schedule the generator itself fell. `until`,
 * asked before each post, ends the run early when it returns true.
 */
export async function openLoop(
  origin: string,
  path: string,
  list: readonly Post[],
  perSecond: number,
  until: () => boolean = () => false,
): Promise<{ samples: Sample[]; seconds: number; maxLateMs: number }> {
  const samples: Sample[] = [];
  const interval = 1000 / perSecond;
  const started = performance.now();
  let maxLateMs = 0;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < list.length; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (until()) break;
    maxLateMs = Math.max(maxLateMs, performance.now() - due);
    const item = list[i]!;
    inFlight.push(
      post(origin, path, item.body).then((answer) => {
        samples.push({ kind: item.kind, ...answer, ms: performance.now() - due });
      }),
    );
  }
  await Promise.all(inFlight);
  return { samples, seconds: (performance.now() - started) / 1000, maxLateMs: round(maxLateMs, 1) };
}

export function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface LatencySummary {
  count: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  maxMs: number;
  /** Answers by HTTP status (0 = connection failed) and error code. */
  statuses: Record<string, number>;
}

export function summarize(samples: readonly Sample[]): LatencySummary {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const statuses: Record<string, number> = {};
  for (const s of samples) {
    const key = s.code ? `${s.status} ${s.code}` : String(s.status);
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  return {
    count: samples.length,
    p50ms: round(pct(sorted, 50), 1),
    p90ms: round(pct(sorted, 90), 1),
    p99ms: round(pct(sorted, 99), 1),
    maxMs: round(sorted[sorted.length - 1] ?? NaN, 1),
    statuses,
  };
}

/** Shuffles in place with a seeded generator, so that two runs post the same sequence. */
export function shuffle<T>(list: T[], seed = 1): T[] {
  let s = seed >>> 0 || 1;
  const rand = () => {
    // xorshift32
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}
