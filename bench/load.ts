/**
 * Load generation against the ACS: closed loop (N clients, each posting its next body as soon as the
 * previous answer arrived: the peak) and open loop (posts sent on a fixed schedule whatever the
 * answers, latency counted from the scheduled moment so a slow server cannot hide its queue).
 */
import { connect, type Socket } from 'node:net';
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

/** An answer: HTTP status and, for a JSON refusal, its catalogued code. */
interface Answer {
  status: number;
  code?: string;
}

/**
 * One keep-alive HTTP/1.1 connection posting one body at a time. The load generator shares the
 * machine with the SP: fetch() costs it about 0.8 ms of CPU per post (streams, Headers, Response),
 * which the SP would otherwise have had. This writes a prepared request and reads the status line,
 * Content-Length or chunked body, and `Connection: close`; nothing else.
 */
class Connection {
  private readonly socket: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: ((answer: Answer) => void) | null = null;
  closed = false;

  constructor(host: string, port: number) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const end = (err?: Error) => {
      this.closed = true;
      this.settle({
        status: 0,
        code: err ? ((err as NodeJS.ErrnoException).code ?? err.message) : 'ECONNRESET',
      });
    };
    this.socket.on('error', end);
    this.socket.on('close', () => end());
  }

  send(request: string): Promise<Answer> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.buffered = Buffer.alloc(0);
      this.socket.write(request, 'latin1');
    });
  }

  private settle(answer: Answer): void {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.(answer);
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const headEnd = this.buffered.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.buffered.toString('latin1', 0, headEnd);
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    let body: string | null = null;
    const length = /\r\ncontent-length: *(\d+)/.exec(lower);
    if (length) {
      const size = Number(length[1]);
      if (this.buffered.length < headEnd + 4 + size) return;
      body = this.buffered.toString('utf8', headEnd + 4, headEnd + 4 + size);
    } else if (lower.includes('\r\ntransfer-encoding: chunked')) {
      body = dechunk(this.buffered.subarray(headEnd + 4));
      if (body === null) return;
    } else {
      body = '';
    }
    this.buffered = Buffer.alloc(0);
    if (lower.includes('\r\nconnection: close')) {
      this.closed = true;
      this.socket.destroy();
    }
    this.settle(status < 400 ? { status } : withCode(status, body));
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

/** The body of a complete chunked message, or null while it is incomplete. */
function dechunk(data: Buffer): string | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = parseInt(data.toString('latin1', at, lineEnd), 16);
    if (size === 0)
      return data.indexOf('\r\n\r\n', lineEnd - 2) >= 0 ? Buffer.concat(parts).toString('utf8') : null;
    if (data.length < lineEnd + 2 + size + 2) return null;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

function withCode(status: number, body: string): Answer {
  try {
    const code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
    return code ? { status, code } : { status };
  } catch {
    return { status };
  }
}

/** Idle keep-alive connections to one origin, reused by the next post. */
export class Client {
  private readonly idle: Connection[] = [];
  private readonly host: string;
  private readonly port: number;

  constructor(
    origin: string,
    private readonly path: string,
  ) {
    const url = new URL(origin);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  async post(body: string): Promise<Answer> {
    const request =
      `POST ${this.path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n` +
      'Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
    let conn = this.idle.pop();
    while (conn?.closed) conn = this.idle.pop();
    let answer: Answer;
    if (conn) {
      answer = await conn.send(request);
      // The SP may have closed an idle keep-alive connection as this post went out: post once more
      // on a fresh one, as HTTP clients do.
      if (answer.status === 0) conn = undefined;
    }
    if (!conn) {
      conn = new Connection(this.host, this.port);
      answer = await conn.send(request);
    }
    if (!conn.closed) this.idle.push(conn);
    return answer!;
  }

  close(): void {
    for (const conn of this.idle.splice(0)) conn.destroy();
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
  const client = new Client(origin, path);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < list.length) {
        const item = list[next++]!;
        const t0 = performance.now();
        const answer = await client.post(item.body);
        samples.push({ kind: item.kind, ...answer, ms: performance.now() - t0 });
      }
    }),
  );
  client.close();
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
  const client = new Client(origin, path);
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
      client.post(item.body).then((answer) => {
        samples.push({ kind: item.kind, ...answer, ms: performance.now() - due });
      }),
    );
  }
  await Promise.all(inFlight);
  client.close();
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
