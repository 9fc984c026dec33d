import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { guardOrphan } from '../child-registry.js';
import { PostgresStartError, PostgresStopError } from './errors.js';
import { processesUsing, writeOwnedFile } from './data-dir.js';
import { freePort } from './free-port.js';
import { queryRows, sqlState } from './pg-client.js';
import type { PostgresBinaries } from './postgres-binaries.js';
import { POSTGRES_SUPERUSER, setConfSettings } from './postgres-config.js';
import { DEFAULT_START_TIMEOUT_MS, DEFAULT_STOP_TIMEOUT_MS } from './postgres-replica-set-options.js';

/** One PostgreSQL server process and its data directory. */
export interface PostgresNode {
  /** Also its application_name and replication slot name. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** `postgres://postgres@host:port/database` (trust auth on loopback). */
  url(database?: string): string;
  /** The postmaster's pid while it runs. */
  readonly pid: number | undefined;
  /** Starts the server and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server and waits until every process of it is gone. @defaultValue mode `'fast'` */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** SIGKILLs the postmaster, as a crash would (for failover tests). */
  kill(): void;
  isRunning(): boolean;
  /**
   * Calls `listener` every time a postmaster of this node exits, from now on, until
   * the returned function is called. `requested` tells a {@link PostgresNode.stop} (or
   * a start given up) from a crash or a {@link PostgresNode.kill}.
   */
  onExit(listener: (exit: PostgresExit) => void): () => void;
}

/** How a postmaster ended. */
export interface PostgresExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when this process asked it to stop. */
  requested: boolean;
}

// Defined with the replica set's other defaults; still exported from here.
export { DEFAULT_START_TIMEOUT_MS, DEFAULT_STOP_TIMEOUT_MS };
/** Server log lines kept for error messages. @defaultValue `40` */
export const LOG_TAIL_LINES = 40;

const READY_POLL_MS = 50;
const PROBE_TIMEOUT_MS = 2000;
const PORT_RETRIES = 4;
const PORT_IN_USE = /could not bind|Address already in use|could not create any TCP\/IP sockets/;
// SQLSTATEs that only mean "not yet": starting up, shutting down, too many clients.
// Socket errors (ECONNREFUSED) have no SQLSTATE and mean the same.
const NOT_YET_STATES = new Set(['57P03', '57P01', '53300']);

// Servers still running when the process exits get an immediate shutdown, so a
// crashed test or supervisor does not leave postmasters behind.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  liveChildren.add(child);
  // A SIGKILL of the supervisor runs no exit hook: the orphan reaper does a fast shutdown instead.
  guardOrphan(child, 'SIGINT');
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGQUIT');
        } catch {
          // Already gone.
        }
      }
    });
  }
}

/**
 * Options of {@link PostgresServer}, resolved: the replica set's settings
 * (postgres-replica-set-options.ts) hold the defaults.
 */
export interface PostgresServerOptions {
  name: string;
  dataDir: string;
  host: string;
  port: number;
  /** When false, a port taken by someone else before the first start is replaced by a free one. */
  portFixed: boolean;
  binaries: PostgresBinaries;
  /** Database that {@link PostgresServer.url} names when called without one. */
  database: string;
  log?: ((line: string) => void) | undefined;
  /** The replica set passes {@link DEFAULT_START_TIMEOUT_MS} unless told otherwise. */
  startTimeoutMs: number;
  /** The replica set passes {@link DEFAULT_STOP_TIMEOUT_MS}. */
  stopTimeoutMs: number;
}

/**
 * A PostgreSQL server run as a child process (as the unprivileged OS user when
 * this process is root), in its own process group so a terminal's Ctrl-C reaches
 * the supervisor, which then stops the servers in order.
 */
export class PostgresServer implements PostgresNode {
  readonly name: string;
  readonly host: string;
  readonly dataDir: string;
  #port: number;
  #portFixed: boolean;
  #everStarted = false;
  readonly #binaries: PostgresBinaries;
  readonly #database: string;
  readonly #log: ((line: string) => void) | undefined;
  readonly #startTimeoutMs: number;
  readonly #stopTimeoutMs: number;
  #child: ChildProcess | undefined;
  // Set by kill(): the process counts as gone from then on, before Node reaps it.
  #killed = false;
  #exited: Promise<void> = Promise.resolve();
  #tail: string[] = [];
  #linesSeen = 0;
  #starting: Promise<void> | undefined;
  // Set when this process asks the current postmaster to stop; reported with its exit.
  #stopRequested = false;
  readonly #exitListeners = new Set<(exit: PostgresExit) => void>();

  constructor(options: PostgresServerOptions) {
    this.name = options.name;
    this.host = options.host;
    this.dataDir = resolve(options.dataDir);
    this.#port = options.port;
    this.#portFixed = options.portFixed;
    this.#binaries = options.binaries;
    this.#database = options.database;
    this.#log = options.log;
    this.#startTimeoutMs = options.startTimeoutMs;
    this.#stopTimeoutMs = options.stopTimeoutMs;
  }

  get port(): number {
    return this.#port;
  }

  get pid(): number | undefined {
    return this.isRunning() ? this.#child?.pid : undefined;
  }

  url(database = this.#database): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `postgres://${POSTGRES_SUPERUSER}@${host}:${this.#port}/${encodeURIComponent(database)}`;
  }

  isRunning(): boolean {
    const child = this.#child;
    return child !== undefined && !this.#killed && child.exitCode === null && child.signalCode === null;
  }

  /** The last lines the server wrote. */
  logTail(): string {
    return this.#tail.join('\n');
  }

  /** A position in the server log, for {@link PostgresServer.logSince}. */
  logMark(): number {
    return this.#linesSeen;
  }

  /** The kept lines written after `mark` (at most {@link LOG_TAIL_LINES}). */
  logSince(mark: number): string[] {
    const newLines = this.#linesSeen - mark;
    return newLines <= 0 ? [] : this.#tail.slice(-newLines);
  }

  start(): Promise<void> {
    // Concurrent callers share one start, so no second postmaster races the first.
    this.#starting ??= this.#start().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    if (this.isRunning()) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#startOnce();
        this.#everStarted = true;
        return;
      } catch (err) {
        const retryOnNewPort = err instanceof PostgresStartError && PORT_IN_USE.test(err.logTail) &&
          !this.#portFixed && !this.#everStarted && attempt < PORT_RETRIES;
        if (!retryOnNewPort) throw err;
        this.#port = await freePort(this.host);
        await this.updateAutoConf({ port: this.#port });
      }
    }
  }

  async #startOnce(): Promise<void> {
    await this.#exited;
    await this.waitForNoProcesses();
    if (existsSync('/proc/self/cwd')) {
      // Nothing runs in the data directory (checked above), so a postmaster.pid left
      // by a killed server is stale; its pid may now belong to an unrelated process,
      // which would make the server refuse to start.
      await rm(join(this.dataDir, 'postmaster.pid'), { force: true });
    }
    const child = spawn(this.#binaries.postgres, ['-D', this.dataDir], {
      ...(this.#binaries.runAs ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
      detached: true,
    });
    this.#child = child;
    this.#killed = false;
    this.#stopRequested = false;
    let spawnError: Error | undefined;
    this.#exited = new Promise((done) => {
      child.once('error', (err) => {
        spawnError = err;
        done();
      });
      child.once('exit', (code, signal) => {
        done();
        this.#reportExit({ code, signal, requested: this.#stopRequested });
      });
    });
    track(child);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (line) => this.#onLine(line));
    }
    const deadline = performance.now() + this.#startTimeoutMs;
    let lastError: unknown;
    for (;;) {
      if (!this.isRunning()) {
        await this.#exited;
        // Let the last log lines arrive; they say why it stopped.
        await delay(20);
        const why = spawnError !== undefined ? `could not run ${this.#binaries.postgres}: ${spawnError.message}`
          : `the server exited with code ${String(child.exitCode)}, signal ${String(child.signalCode)}`;
        throw new PostgresStartError(this.name, why, this.logTail(), { cause: spawnError });
      }
      try {
        // Another process may hold the port while ours is failing to bind: it may
        // never answer (hence the race with our exit), or be another server (hence
        // the data directory check).
        const probe = queryRows<{ dir: string }>(this, "SELECT current_setting('data_directory') AS dir", [],
          { connectTimeoutMs: PROBE_TIMEOUT_MS });
        probe.catch(() => undefined);
        const rows = await Promise.race([probe, this.#exited.then(() => [])]);
        if (rows[0]?.dir === this.dataDir) return;
      } catch (err) {
        lastError = err;
        const state = sqlState(err);
        if (state !== undefined && /^[0-9A-Z]{5}$/.test(state) && !NOT_YET_STATES.has(state)) {
          // A real SQL error (not "starting up"): the server runs but refuses us.
          await this.#abortStart();
          throw new PostgresStartError(this.name, `it refused a connection: ${(err as Error).message}`, this.logTail(), { cause: err });
        }
      }
      if (performance.now() > deadline) {
        await this.#abortStart();
        throw new PostgresStartError(this.name, `it did not accept connections within ${this.#startTimeoutMs} ms`,
          this.logTail(), { cause: lastError, retriable: true });
      }
      await Promise.race([delay(READY_POLL_MS), this.#exited]);
    }
  }

  #reportExit(exit: PostgresExit): void {
    for (const listener of [...this.#exitListeners]) {
      try {
        listener(exit);
      } catch {
        // A listener's failure is its own; the others still hear of the exit.
      }
    }
  }

  onExit(listener: (exit: PostgresExit) => void): () => void {
    this.#exitListeners.add(listener);
    return () => {
      this.#exitListeners.delete(listener);
    };
  }

  async #abortStart(): Promise<void> {
    this.#stopRequested = true;
    this.#child?.kill('SIGQUIT');
    await this.#exited;
  }

  #onLine(line: string): void {
    this.#tail.push(line);
    this.#linesSeen++;
    if (this.#tail.length > LOG_TAIL_LINES) this.#tail.shift();
    this.#log?.(`[${this.name}] ${line}`);
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const child = this.#child;
    if (child !== undefined && this.isRunning()) {
      this.#stopRequested = true;
      // SIGINT is PostgreSQL's fast shutdown (checkpoint, then exit); SIGQUIT its immediate one.
      child.kill(mode === 'immediate' ? 'SIGQUIT' : 'SIGINT');
      const timer = new AbortController();
      const stopped = await Promise.race([
        this.#exited.then(() => true),
        delay(this.#stopTimeoutMs, false, { signal: timer.signal }).catch(() => false),
      ]);
      // A pending timer would keep the process alive for the whole timeout.
      timer.abort();
      if (!stopped) {
        child.kill('SIGKILL');
        await this.#exited;
        await this.waitForNoProcesses();
        throw new PostgresStopError(this.name, `no exit within ${this.#stopTimeoutMs} ms`);
      }
    }
    await this.#exited;
    await this.waitForNoProcesses();
  }

  kill(): void {
    if (!this.isRunning()) return;
    this.#child?.kill('SIGKILL');
    this.#killed = true;
  }

  /**
   * Waits until no process runs in the data directory: backends of a killed
   * postmaster exit on their own once they notice, and a new postmaster refuses
   * to start while they hold the old shared memory.
   */
  async waitForNoProcesses(timeoutMs = this.#stopTimeoutMs): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const pids = await processesUsing(this.dataDir);
      if (pids.length === 0) return;
      if (performance.now() > deadline) {
        throw new PostgresStopError(this.name, `processes ${pids.join(', ')} still run in ${this.dataDir} after ${timeoutMs} ms; end them`);
      }
      await delay(READY_POLL_MS);
    }
  }

  /** Sets (or removes, with `undefined`) settings in this node's postgresql.auto.conf. */
  async updateAutoConf(settings: Readonly<Record<string, string | number | undefined>>): Promise<void> {
    const path = join(this.dataDir, 'postgresql.auto.conf');
    let existing = '';
    try {
      existing = await readFile(path, 'utf8');
    } catch {
      // A fresh file then.
    }
    await writeOwnedFile(path, setConfSettings(existing, settings), this.#binaries.runAs);
  }
}
