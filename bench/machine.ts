/**
 * What the machine and the SP processes are doing, read from /proc (Linux): load average, CPU time of
 * the whole machine, of a process tree and of this process, and resident memory. The bench runs on a
 * machine shared with other work, so every phase records how busy the machine was while it ran.
 */
import { cpus, loadavg } from 'node:os';
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Pids of `pid` and of its direct children (the cluster workers of the SP). */
export function processTree(pid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (Number(entry) === pid || ppid === pid) pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

/** VmRSS of one process in MB (0 when it is gone). */
export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Resident memory of the SP: the whole tree and each process, in MB. */
export function treeRss(pid: number): { totalMb: number; perProcessMb: Record<string, number> } {
  const perProcessMb: Record<string, number> = {};
  let totalMb = 0;
  for (const p of processTree(pid)) {
    const mb = rssMb(p);
    perProcessMb[p === pid ? `primary ${p}` : `worker ${p}`] = round(mb, 1);
    totalMb += mb;
  }
  return { totalMb: round(totalMb, 1), perProcessMb };
}

function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name (which may contain spaces): state ppid … utime(14) stime(15)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU time (ms, user + system) used so far by a process and its direct children. */
export function treeCpuMs(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + processCpuMs(p), 0);
}

/** Busy CPU time (ms, every core) of the whole machine so far. */
function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (
    (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) /
    TICKS_PER_SECOND
  );
}

/** How busy the machine was during one phase, and who used the CPU. */
export interface PhaseLoad {
  /** os.loadavg() [1, 5, 15 min] when the phase ended. */
  loadavg: [number, number, number];
  seconds: number;
  /** CPU used, in cores (CPU seconds per second), by: */
  coresUsed: { sp: number; bench: number; others: number; machine: number };
}

/** Starts measuring a phase; call the result to end it. `spPid` null: no SP running. */
export function phaseMeter(spPid: number | null): () => PhaseLoad {
  const t0 = performance.now();
  const machine0 = machineBusyMs();
  const sp0 = spPid === null ? 0 : treeCpuMs(spPid);
  const bench0 = process.cpuUsage();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const machine = (machineBusyMs() - machine0) / 1000 / seconds;
    const sp = spPid === null ? 0 : (treeCpuMs(spPid) - sp0) / 1000 / seconds;
    const used = process.cpuUsage(bench0);
    const bench = (used.user + used.system) / 1e6 / seconds;
    const [a, b, c] = loadavg();
    return {
      loadavg: [round(a!, 2), round(b!, 2), round(c!, 2)],
      seconds: round(seconds, 1),
      coresUsed: {
        sp: round(sp, 2),
        bench: round(bench, 2),
        // Forked minting children count as "others"; none run during a measured phase.
        others: round(Math.max(0, machine - sp - bench), 2),
        machine: round(machine, 2),
      },
    };
  };
}

export function machineInfo() {
  const list = cpus();
  return {
    cores: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    node: process.version,
    loadavgAtStart: loadavg().map((v) => round(v, 2)),
  };
}

export function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
