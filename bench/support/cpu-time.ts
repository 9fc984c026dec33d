import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second for /proc times, from `getconf CLK_TCK` (100 on Linux when it cannot be read). */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isFinite(ticks) && ticks > 0) return ticks;
  } catch {
    // getconf missing: Linux has used 100 on every architecture this runs on
  }
  return 100;
}

interface ProcStat {
  pid: number;
  ppid: number;
  /**
   * utime + stime of every thread of the process plus cutime + cstime (children
   * it has reaped), in clock ticks, so a child that exits mid-run keeps counting.
   */
  ticks: number;
  /** The system (kernel) part of `ticks`: stime + cstime. */
  systemTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) may hold spaces and
 * parentheses, so fields are counted from the last `)`.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // After ")": state(3) ppid(4) ... utime(14) stime(15); index 0 here is field 3.
  const rest = text.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const cutime = Number(rest[13]);
  const cstime = Number(rest[14]);
  if (![pid, ppid, utime, stime, cutime, cstime].every(Number.isFinite)) return undefined;
  return { pid, ppid, ticks: utime + stime + cutime + cstime, systemTicks: stime + cstime };
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Every live process: pid -> its stat. */
function allProcesses(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) stats.set(stat.pid, stat);
  }
  return stats;
}

/** CPU time of a process tree, in clock ticks. */
export interface TreeTicks {
  /** User + system. */
  total: number;
  /** System (kernel) only: for a proxy, mostly the socket calls. */
  system: number;
}

/**
 * CPU time (user + system, all threads) of `rootPid` and every live process
 * below it, in clock ticks: nginx's master and worker, a Node process and
 * whatever it forked. Process-level stat already sums the process's threads,
 * including threads that have exited, so tasks need not be read one by one.
 */
export function processTreeTicks(rootPid: number): TreeTicks {
  const stats = allProcesses();
  const children = new Map<number, number[]>();
  for (const stat of stats.values()) {
    const list = children.get(stat.ppid);
    if (list) list.push(stat.pid); else children.set(stat.ppid, [stat.pid]);
  }
  const ticks: TreeTicks = { total: 0, system: 0 };
  const queue = [rootPid];
  const seen = new Set<number>();
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const stat = stats.get(pid);
    ticks.total += stat?.ticks ?? 0;
    ticks.system += stat?.systemTicks ?? 0;
    for (const child of children.get(pid) ?? []) queue.push(child);
  }
  return ticks;
}

/**
 * Busy clock ticks of one CPU since boot, from /proc/stat (everything but idle
 * and iowait). The difference over a run, minus the proxy's own ticks, is what
 * other processes took from the proxy's CPU: the noise in that run.
 */
export function cpuBusyTicks(cpu: number): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (line === undefined) return undefined;
  // cpuN user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 5 || !fields.every(Number.isFinite)) return undefined;
  const total = fields.reduce((a, b) => a + b, 0);
  return total - (fields[3] ?? 0) - (fields[4] ?? 0);
}
