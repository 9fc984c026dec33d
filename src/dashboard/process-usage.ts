import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Samples closer together than this reuse the previous one. @defaultValue 500 */
export const MIN_SAMPLE_INTERVAL_MS = 500;

/** CPU and memory of one process, as the dashboard shows them. */
export interface ProcessUsage {
  /** Share of one core since the previous sample (100 = one core busy); null on the first sample. */
  cpuPercent: number | null;
  /** Resident memory. */
  rssBytes: number;
}

/**
 * CPU and memory per pid from /proc: `stat` (utime + stime, in clock ticks) and
 * `statm` (resident pages). Two small reads per process per sample, no child process;
 * CPU is the difference between two samples. Only the pid itself counts: the
 * backends a PostgreSQL postmaster forks are not added to it.
 */
export class ProcessUsageSampler {
  readonly #ticksPerSecond: number;
  readonly #pageBytes: number;
  /** Last sample per pid: ticks, when (ms), and the usage it gave. */
  readonly #last = new Map<number, { ticks: number; atMs: number; usage: ProcessUsage }>();

  constructor() {
    this.#ticksPerSecond = getconf('CLK_TCK', 100);
    this.#pageBytes = getconf('PAGESIZE', 4096);
  }

  /** Usage of each live pid; a pid that is gone (or not on Linux) is left out. */
  sample(pids: Iterable<number>, nowMs = performance.now()): Map<number, ProcessUsage> {
    const out = new Map<number, ProcessUsage>();
    const seen = new Set<number>();
    for (const pid of pids) {
      seen.add(pid);
      const last = this.#last.get(pid);
      // Two readers close together (the stream and a status request) would see a CPU share
      // of a few ticks over a few ms: too coarse to mean anything. Keep the last one.
      if (last !== undefined && nowMs - last.atMs < MIN_SAMPLE_INTERVAL_MS) {
        out.set(pid, last.usage);
        continue;
      }
      const ticks = readTicks(pid);
      const pages = readResidentPages(pid);
      if (ticks === undefined || pages === undefined) continue;
      const seconds = last === undefined ? 0 : (nowMs - last.atMs) / 1000;
      const cpuPercent = last === undefined || seconds <= 0 || ticks < last.ticks ? null : Math.round((1000 * (ticks - last.ticks)) / this.#ticksPerSecond / seconds) / 10;
      const usage = { cpuPercent, rssBytes: pages * this.#pageBytes };
      this.#last.set(pid, { ticks, atMs: nowMs, usage });
      out.set(pid, usage);
    }
    // Bounded: pids no longer asked about are forgotten.
    for (const pid of this.#last.keys()) if (!seen.has(pid)) this.#last.delete(pid);
    return out;
  }
}

/** utime + stime of /proc/<pid>/stat, counting fields after the last `)` (the command name may hold spaces). */
export function readTicks(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

function readResidentPages(pid: number): number | undefined {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return Number.isFinite(pages) ? pages : undefined;
  } catch {
    return undefined;
  }
}

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}
