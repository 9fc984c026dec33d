import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times: `getconf CLK_TCK`, 100 on every Linux we know. */
function clockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2_000 }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

let ticksPerSecond: number | undefined;

/** CPU time (user + system, ms) a process used so far, from /proc/<pid>/stat; undefined when it is gone or not on Linux. */
export function cpuTimeMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  ticksPerSecond ??= clockTicks();
  return ((utime + stime) * 1_000) / ticksPerSecond;
}

/**
 * CPU use of processes between two looks, as a percent of one core (100: one core busy
 * all the time), like `top`'s %CPU. A process seen for the first time has no figure
 * until the next look.
 */
export class CpuSampler {
  readonly #last = new Map<number, { cpuMs: number; atMs: number }>();

  /** Percent of one core per pid since the previous call; pids not given are forgotten. */
  sample(pids: Iterable<number>, nowMs: number = performance.now()): Map<number, number> {
    const out = new Map<number, number>();
    const seen = new Set<number>();
    for (const pid of pids) {
      seen.add(pid);
      const cpuMs = cpuTimeMs(pid);
      if (cpuMs === undefined) continue;
      const before = this.#last.get(pid);
      this.#last.set(pid, { cpuMs, atMs: nowMs });
      if (before !== undefined && nowMs > before.atMs) out.set(pid, (100 * Math.max(0, cpuMs - before.cpuMs)) / (nowMs - before.atMs));
    }
    for (const pid of this.#last.keys()) if (!seen.has(pid)) this.#last.delete(pid);
    return out;
  }
}
