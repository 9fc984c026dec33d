import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ReaperMessage } from './orphan-reaper-child.js';

/** How long the reaper may take to start. @defaultValue 30000 */
export const REAPER_START_TIMEOUT_MS = 30_000;

/** The child entry next to this module (`.ts` under tsx, `.js` once built). */
function childEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    return { file: here.replace(/orphan-reaper\.ts$/, 'orphan-reaper-child.ts'), execArgv: ['--import', import.meta.resolve('tsx')] };
  }
  return { file: here.replace(/orphan-reaper\.js$/, 'orphan-reaper-child.js'), execArgv: [] };
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null off Linux. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * The supervisor's side of the orphan reaper (see `orphan-reaper-child.ts`): every
 * process the runtime spawns is watched while it runs, so a supervisor killed by
 * SIGKILL leaves nothing behind, engines included (they hold no pipe to it).
 */
export class OrphanReaper {
  readonly #child: ChildProcess;
  #closed = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
  }

  static async start(): Promise<OrphanReaper> {
    const entry = childEntry();
    const child = fork(entry.file, [], {
      execArgv: entry.execArgv,
      // No inherited stdio: it must not keep the terminal's pipes open after the supervisor.
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      // Its own process group: a Ctrl-C reaches the supervisor, not the reaper.
      detached: true,
    });
    child.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the orphan reaper did not start within ${REAPER_START_TIMEOUT_MS} ms`)), REAPER_START_TIMEOUT_MS);
      child.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the orphan reaper exited while starting (${signal ?? `code ${code ?? '?'}`})`));
      });
    });
    // Neither keeps the supervisor alive: the reaper is there for when it is gone.
    child.channel?.unref();
    child.unref();
    return new OrphanReaper(child);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Stop `pid` with `signal` (then SIGKILL) if the supervisor dies while it runs. */
  watch(pid: number, signal: NodeJS.Signals): void {
    this.#send({ type: 'watch', pid, startTime: processStartTime(pid), signal });
  }

  unwatch(pid: number): void {
    this.#send({ type: 'unwatch', pid });
  }

  #send(message: ReaperMessage): void {
    if (this.#closed || !this.#child.connected) return;
    try {
      this.#child.send(message);
    } catch {
      // The reaper is gone: nothing to tell it.
    }
  }

  /** A clean end: the reaper stops what is still watched (nothing, after a full stop) and exits. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#child.connected) this.#child.disconnect();
  }
}
