import type { ChildProcess } from 'node:child_process';
import type { OrphanReaper } from './orphan-reaper.js';

// Every process the runtime spawns, until it exits: if the supervisor itself exits
// without stopping them (an uncaught error, a forced exit), they are killed on the
// way out rather than left running in their own process groups. A SIGKILL of the
// supervisor runs no exit handler: the orphan reaper, when one runs, covers that.
const live = new Set<ChildProcess>();
let hooked = false;
let reaper: OrphanReaper | undefined;

/** From now on, every tracked child is also watched by `next` (undefined: no reaper). */
export function setOrphanReaper(next: OrphanReaper | undefined): void {
  reaper = next;
}

/**
 * Tell the orphan reaper about `child` until it exits: if the supervisor dies first,
 * the reaper stops it with `signal`, then SIGKILL.
 */
export function guardOrphan(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  const pid = child.pid;
  const watcher = reaper;
  if (pid === undefined || watcher === undefined) return;
  watcher.watch(pid, signal);
  child.once('exit', () => watcher.unwatch(pid));
}

/** Kill `child` if this process exits while it still runs. */
export function trackChild(child: ChildProcess, stopSignal: NodeJS.Signals = 'SIGTERM'): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  guardOrphan(child, stopSignal);
  if (!hooked) {
    hooked = true;
    process.once('exit', killTrackedChildren);
  }
}

/** SIGKILL every tracked child now (synchronous: safe in an exit handler). */
export function killTrackedChildren(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Pids of tracked children that still run. */
export function trackedPids(): number[] {
  return [...live].flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
}
