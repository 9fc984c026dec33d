import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, existsSync, createWriteStream } from 'node:fs';

/** How long a process gets between SIGTERM and SIGKILL. @defaultValue 10000 */
export const DEFAULT_STOP_GRACE_MS = 10_000;

/** What {@link ProcessGroup.start} needs to start one process. */
export interface StartSpec {
  /** A short name for logs and messages, e.g. `haproxy` or `backends`. */
  name: string;
  command: string;
  args: string[];
  /** The CPU to pin the process (and everything it starts) to, with `taskset`. */
  cpu?: number;
  /** stdout and stderr go here. */
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** A process started by the harness. */
export interface Started {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** True until the process exits. */
  alive(): boolean;
  /** Resolves with the first stdout line (used by processes that print their address). */
  firstLine: Promise<string>;
}

/**
 * Every process the benchmark starts, so that each one is stopped on success,
 * error, Ctrl-C or SIGTERM. Each child leads its own process group (nginx and
 * anything a proxy forks go with it), and the group ids are written to a file
 * so a run killed with SIGKILL is cleaned up by the next one.
 */
export class ProcessGroup {
  readonly #running = new Map<number, Started>();
  readonly #pidFile: string;
  #signalsInstalled = false;

  constructor(pidFile: string) {
    this.#pidFile = pidFile;
  }

  /** Stops process groups a previous, killed run left behind. */
  reapLeftovers(marker: string): void {
    if (!existsSync(this.#pidFile)) return;
    let pids: unknown;
    try {
      pids = JSON.parse(readFileSync(this.#pidFile, 'utf8'));
    } catch {
      pids = [];
    }
    if (!Array.isArray(pids)) return;
    for (const pid of pids) {
      if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) continue;
      // A recycled pid belongs to someone else: only stop it if it still runs our config.
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (!cmdline.includes(marker)) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    writeFileSync(this.#pidFile, '[]');
  }

  /** Starts a process in its own process group, pinned with taskset when `cpu` is given. */
  start(spec: StartSpec): Started {
    this.#installSignals();
    const fd = openSync(spec.logFile, 'a');
    const [command, args] = spec.cpu === undefined
      ? [spec.command, spec.args]
      : ['taskset', ['-c', String(spec.cpu), spec.command, ...spec.args]];
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        cwd: spec.cwd,
        env: spec.env ?? process.env,
        detached: true,
        stdio: ['ignore', 'pipe', fd],
      });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${command}); is it installed? Run bench/setup.sh`);
    const pid = child.pid;
    let exited = false;
    child.once('exit', () => {
      exited = true;
      this.#running.delete(pid);
      this.#savePids();
    });
    // stdout is read for the first line, then copied to the log, so a chatty
    // process neither fills the pipe nor the harness's memory.
    const log = createWriteStream(spec.logFile, { flags: 'a' });
    // 'close' comes after stdout is drained, so nothing is written after end().
    child.once('close', () => log.end());
    const firstLine = new Promise<string>((resolve, reject) => {
      let buffered: string | undefined = '';
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        log.write(chunk);
        if (buffered === undefined) return;
        buffered += chunk;
        const newline = buffered.indexOf('\n');
        if (newline >= 0) {
          resolve(buffered.slice(0, newline).trim());
          buffered = undefined;
        }
      });
      child.once('exit', (code, signal) => reject(new Error(`${spec.name} exited (code ${code ?? '-'}, signal ${signal ?? '-'}) before printing a line; see ${spec.logFile}`)));
    });
    // Nobody may be waiting for the line; an exit must not become an unhandled rejection.
    firstLine.catch(() => undefined);
    const started: Started = { name: spec.name, pid, child, logFile: spec.logFile, alive: () => !exited, firstLine };
    this.#running.set(pid, started);
    this.#savePids();
    return started;
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once it exited. */
  async stop(started: Started, graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
    if (!started.alive()) return;
    const exited = new Promise<void>((resolve) => started.child.once('exit', () => resolve()));
    signalGroup(started.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => { signalGroup(started.pid, 'SIGKILL'); resolve(); }, graceMs);
    });
    await Promise.race([exited, killed]);
    clearTimeout(timer);
    await exited;
    // Whatever the leader forked and left behind goes too.
    signalGroup(started.pid, 'SIGKILL');
  }

  /** Stops everything still running. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#running.values()].map((s) => this.stop(s)));
  }

  /** Last resort on process exit: no awaiting possible, so SIGKILL the groups. */
  killAllNow(): void {
    for (const pid of this.#running.keys()) signalGroup(pid, 'SIGKILL');
    this.#running.clear();
    this.#savePids();
  }

  #savePids(): void {
    try {
      writeFileSync(this.#pidFile, JSON.stringify([...this.#running.keys()]));
    } catch {
      // the work folder is gone; nothing left to record
    }
  }

  #installSignals(): void {
    if (this.#signalsInstalled) return;
    this.#signalsInstalled = true;
    const onSignal = (signal: NodeJS.Signals): void => {
      process.stderr.write(`\n${signal}: stopping every process the benchmark started\n`);
      void this.stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('SIGHUP', onSignal);
    process.once('exit', () => this.killAllNow());
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}
