/**
 * The orphan reaper: a small process the supervisor forks first, with an IPC pipe.
 * The supervisor tells it every process it spawns (`watch`) and every one that
 * exited (`unwatch`). When the pipe closes, the supervisor is gone (even by SIGKILL,
 * which runs no exit handler): the reaper sends each process still watched its stop
 * signal (redis-server flushes its append-only file on SIGTERM, PostgreSQL does a
 * fast shutdown on SIGINT), SIGKILLs what still runs after the grace period, and exits.
 *
 * A pid is only signalled while its start time (field 22 of /proc/<pid>/stat) is the
 * one recorded when it was watched, so a pid reused by an unrelated process is spared.
 */
import { readFileSync } from 'node:fs';

/** Messages from the supervisor. */
export type ReaperMessage =
  | { type: 'watch'; pid: number; startTime: string | null; signal: NodeJS.Signals }
  | { type: 'unwatch'; pid: number };

/** After the stop signals, what still runs this long later is killed. @defaultValue 10000 */
const GRACE_MS = Number(process.env.SCALEOUT_REAPER_GRACE_MS ?? 10_000);
const POLL_MS = 100;

const watched = new Map<number, { startTime: string | null; signal: NodeJS.Signals }>();

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Still the process that was watched (and not a zombie). */
function isSame(pid: number, startTime: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (startTime === null) return true;
  return startTimeOf(pid) === startTime;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone meanwhile.
  }
}

function reap(): void {
  for (const [pid, w] of watched) if (isSame(pid, w.startTime)) signal(pid, w.signal);
  const deadline = Date.now() + GRACE_MS;
  const poll = setInterval(() => {
    for (const [pid, w] of watched) if (!isSame(pid, w.startTime)) watched.delete(pid);
    if (watched.size === 0) process.exit(0);
    if (Date.now() < deadline) return;
    for (const [pid, w] of watched) if (isSame(pid, w.startTime)) signal(pid, 'SIGKILL');
    clearInterval(poll);
    process.exit(0);
  }, POLL_MS);
}

process.on('message', (message: ReaperMessage) => {
  if (message?.type === 'watch') watched.set(message.pid, { startTime: message.startTime, signal: message.signal });
  else if (message?.type === 'unwatch') watched.delete(message.pid);
});
process.once('disconnect', reap);
// The supervisor's Ctrl-C must not end the reaper before it did its job: it runs in
// its own process group, and ignores the terminal's signals anyway.
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
process.send?.({ type: 'ready' });
