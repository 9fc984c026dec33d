import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { formatInstanceEnv } from '../internal/instance-env.js';
import { freePort } from './engines/free-port.js';
import { InstanceStartError } from './errors.js';
import { probeHealth } from './health-probe.js';
import type { HealthAnswer } from './health-probe.js';
import { readLogTail } from './log-tail.js';
import { trackChild } from './child-registry.js';

/** Between two health probes of a starting instance. @defaultValue 100 */
export const HEALTH_POLL_INTERVAL_MS = 100;

/**
 * The variable asking a process to send a heartbeat over IPC every so many ms (workers:
 * they have no health endpoint, so the supervisor learns of a hang from the silence).
 */
export const HEARTBEAT_ENV = 'HEARTBEAT_MS';

/**
 * Loaded into every instance before the app: when the supervisor's IPC pipe closes
 * (the supervisor died, even by SIGKILL), the instance stops itself the way a
 * deploy would stop it, instead of living on as an orphan. The channel is unref'd so
 * it never keeps an app alive that wants to exit. With {@link HEARTBEAT_ENV}, it sends
 * `{ heartbeat: 1 }` from a timer of the main thread: a process stopped (SIGSTOP) or
 * stuck in a loop that never yields falls silent. The timer is unref'd too.
 */
const ORPHAN_GUARD = 'data:text/javascript,' + encodeURIComponent(
  "if (process.channel) { process.channel.unref(); process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));"
  + ` const hb = Number(process.env.${HEARTBEAT_ENV});`
  + " if (hb > 0) setInterval(() => { if (process.connected) process.send({ heartbeat: 1 }, () => {}); }, hb).unref(); }",
);

let tsxLoader: string | undefined;
/** The tsx loader, by absolute URL: an image outside any node_modules tree still finds it. */
function tsxLoaderUrl(): string {
  tsxLoader ??= import.meta.resolve('tsx');
  return tsxLoader;
}

export interface AppProcessOptions {
  id: string;
  buildId: string;
  /** The unpacked image: the process's working directory. */
  cwd: string;
  /** Entry file relative to `cwd` (or absolute: the runtime's own servers); `.ts` entries run with tsx. */
  entry: string;
  /** The complete environment; PORT, HOST, INSTANCE_ID and SCALEOUT_BUILD_ID are added (see `instanceEnv()`). */
  env: Record<string, string | undefined>;
  /** stdout and stderr are appended here. */
  logFile: string;
  /** @defaultValue '127.0.0.1' */
  host?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How an exit reads in a log line: `exited with code 1`, `killed by SIGKILL`. */
export function describeExit(exit: ExitInfo): string {
  return exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code ?? '?'}`;
}

/**
 * One app process: spawned on a free port in its own process group (a Ctrl-C in the
 * terminal reaches only the supervisor, which then stops instances in order), with
 * its output in a log file.
 */
export class AppProcess {
  readonly id: string;
  readonly buildId: string;
  readonly port: number;
  readonly host: string;
  readonly logFile: string;
  /** Resolves once the process is gone. */
  readonly exited: Promise<ExitInfo>;
  readonly #child: ChildProcess;
  #exit: ExitInfo | undefined;
  #heartbeatAt = performance.now();

  private constructor(options: AppProcessOptions, port: number, child: ChildProcess) {
    this.id = options.id;
    this.buildId = options.buildId;
    this.port = port;
    this.host = options.host ?? '127.0.0.1';
    this.logFile = options.logFile;
    this.#child = child;
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      };
      child.once('exit', done);
      child.once('error', () => done(null, null));
    });
    // The IPC pipe is the orphan guard's tripwire, and carries heartbeats when asked for.
    child.on('error', () => {});
    child.channel?.unref();
    if (options.env[HEARTBEAT_ENV] !== undefined) {
      child.on('message', (message: unknown) => {
        if (typeof message === 'object' && message !== null && 'heartbeat' in message) this.#heartbeatAt = performance.now();
      });
    }
  }

  /** Milliseconds since the last heartbeat (or since the spawn, before the first). */
  get silentMs(): number {
    return performance.now() - this.#heartbeatAt;
  }

  /** Spawns the app on a free port; it is not healthy yet (see {@link waitHealthy}). */
  static async spawn(options: AppProcessOptions): Promise<AppProcess> {
    const host = options.host ?? '127.0.0.1';
    const port = await freePort(host);
    const args = ['--import', ORPHAN_GUARD];
    if (/\.[cm]?tsx?$/.test(options.entry)) args.push('--import', tsxLoaderUrl());
    args.push(isAbsolute(options.entry) ? options.entry : join(options.cwd, options.entry));
    const fd = openSync(options.logFile, 'a');
    try {
      const child = spawn(process.execPath, args, {
        cwd: options.cwd,
        env: { ...options.env, ...formatInstanceEnv({ port, host, instanceId: options.id, buildId: options.buildId }) },
        stdio: ['ignore', fd, fd, 'ipc'],
        detached: true,
      });
      trackChild(child);
      return new AppProcess(options, port, child);
    } finally {
      closeSync(fd);
    }
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /**
   * Polls the health path until it answers healthy (2xx or 3xx). Rejects with an
   * {@link InstanceStartError} (and kills the process) when the process exits, or
   * when `timeoutMs` passes, or when `signal` aborts.
   */
  async waitHealthy(path: string, timeoutMs: number, signal?: AbortSignal): Promise<HealthAnswer> {
    const deadline = performance.now() + timeoutMs;
    while (this.running) {
      if (signal?.aborted === true) {
        this.kill();
        throw new InstanceStartError(this.id, 'start cancelled', this.logFile, '');
      }
      const answer = await probeHealth(this.address, path, Math.min(2000, Math.max(100, timeoutMs)));
      // Another process may have taken the port before ours bound it; an answer that
      // names another instance is not ours (ours then exits with EADDRINUSE).
      if (answer.ok && (answer.instance === undefined || answer.instance === this.id)) return answer;
      if (performance.now() > deadline) {
        this.kill();
        await this.exited;
        throw new InstanceStartError(this.id, `no healthy answer on http://${this.address}${path} within ${timeoutMs} ms; last: ${answer.reason}`, this.logFile, await this.logTail());
      }
      await Promise.race([delay(HEALTH_POLL_INTERVAL_MS), this.exited]);
    }
    const exit = await this.exited;
    throw new InstanceStartError(this.id, `${describeExit(exit)} before answering ${path}`, this.logFile, await this.logTail());
  }

  /**
   * Whether `err` (from {@link waitHealthy}) says the process lost its port: another
   * process bound it between the supervisor picking it and the app's `listen`. Node
   * prints `listen EADDRINUSE: address already in use <host>:<port>` for that; the
   * port must be this run's, since the log file is shared by every run.
   */
  lostPortRace(err: unknown): boolean {
    return err instanceof InstanceStartError && this.#exit !== undefined
      && err.logTail.includes('EADDRINUSE') && err.logTail.includes(`:${this.port}`);
  }

  /** SIGTERM (the app drains and exits), then SIGKILL after `graceMs`. Resolves once it is gone. */
  async stop(graceMs: number): Promise<ExitInfo> {
    if (!this.running) return this.exited;
    this.#signal('SIGTERM');
    const timer = setTimeout(() => this.kill(), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL now (forced stops, and a test's crash). */
  kill(): void {
    this.#signal('SIGKILL');
  }

  #signal(signal: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone: the exit event follows.
    }
  }

  /** The last lines the process wrote. */
  logTail(lines = 20): Promise<string> {
    return readLogTail(this.logFile, lines);
  }
}
