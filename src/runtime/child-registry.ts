import type { ChildProcess } from 'node:child_process';

// Every process the runtime spawns, until it exits: if the supervisor itself exits
// without stopping them (an uncaught error, a forced exit), they are killed on the
// way out rather than left running in their own process groups.
const live = new Set<ChildProcess>();
let hooked = false;

/** Kill `child` if this process exits while it still runs. */
export function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
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
