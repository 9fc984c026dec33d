import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../internal/clock.js';
import type { AppProcess } from './app-process.js';
import type { BalancerAdmin } from './balancer-admin-client.js';
import type { SupervisorEvent } from './events.js';
import { SupervisedProcess } from './supervised-process.js';
import type { ProcessRun } from './supervised-process.js';
import type { ProcessRole, ProcessState, ProcessStatus } from './status.js';

/** Between two looks at a draining server's state. @defaultValue 100 */
export const DRAIN_POLL_INTERVAL_MS = 100;

/** Spawns of one run when each loses its port to another process. @defaultValue 3 */
export const PORT_ATTEMPTS = 3;

export type { SupervisorEvent } from './events.js';

/** What an instance needs from its supervisor. */
export interface InstanceContext {
  /** The balancer's admin API (a new client after the balancer was restarted). */
  admin(): BalancerAdmin;
  /** Spawns a process of `buildId` for instance `id` (environment, port, log file). */
  spawn(id: string, buildId: string): Promise<AppProcess>;
  healthPath: string;
  healthTimeoutMs: number;
  stopGraceMs: number;
  drainTimeoutMs: number;
  restart: { initialMs: number; maxMs: number };
  clock: Clock;
  emit(event: SupervisorEvent): void;
  /** Its role in `scaleout status`. @defaultValue 'app' */
  role?: ProcessRole;
}

/** One run of an instance's process, as its {@link SupervisedProcess} sees it. */
class AppRun implements ProcessRun {
  readonly process: AppProcess;
  readonly #stopGraceMs: number;

  constructor(process: AppProcess, stopGraceMs: number) {
    this.process = process;
    this.#stopGraceMs = stopGraceMs;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get exited(): AppProcess['exited'] {
    return this.process.exited;
  }

  async stop(): Promise<void> {
    await this.process.stop(this.#stopGraceMs);
  }

  kill(): void {
    this.process.kill();
  }
}

/**
 * One app instance: its process (spawned, health-checked and restarted by a
 * {@link SupervisedProcess}) and its membership in a balancer pool, which is the
 * instance's own concern. It joins the pool only once its own health check passed;
 * from then on, when its process dies it leaves the pool at once, and the restarted
 * process joins again once healthy. `retire()` takes it out for good: drain, wait, stop.
 *
 *     start ─healthy─► join ─► running ─exit─► leave the pool ─backoff─► start ─healthy─► join ...
 *                               └─retire()─► drain ─► remove from the pool ─► stop
 */
export class Instance {
  readonly id: string;
  readonly buildId: string;
  readonly #ctx: InstanceContext;
  readonly #process: SupervisedProcess<AppRun>;
  #pool: string;
  /** The latest process spawned (also while it is starting). */
  #latest: AppProcess | undefined;
  /** Accepted into service once: a restarted process joins the pool by itself. */
  #joined = false;
  #inPool = false;
  /** Set by retire(): what the instance does instead of running. */
  #phase: 'draining' | 'stopping' | 'stopped' | undefined;
  #abort = new AbortController();
  #retired: Promise<void> | undefined;

  constructor(id: string, buildId: string, pool: string, ctx: InstanceContext) {
    this.id = id;
    this.buildId = buildId;
    this.#pool = pool;
    this.#ctx = ctx;
    this.#process = new SupervisedProcess<AppRun>({
      name: id,
      start: () => this.#startRun(),
      restart: ctx.restart,
      superviseAtStart: false,
      onCrash: () => this.#leavePool(),
      emit: (event) => this.#emitProcessEvent(event),
      clock: ctx.clock,
    });
  }

  get pool(): string {
    return this.#pool;
  }

  get state(): ProcessState {
    // Draining is the first step of stopping; the detail of the snapshot says which.
    if (this.#phase !== undefined) return this.#phase === 'draining' ? 'stopping' : this.#phase;
    const state = this.#process.state;
    if (state === 'running') return this.#inPool ? 'running' : 'starting';
    // Not started yet, or exited before it was accepted into service.
    return state === 'stopped' ? 'starting' : state;
  }

  get retiring(): boolean {
    return this.#retired !== undefined;
  }

  get inPool(): boolean {
    return this.#inPool;
  }

  get address(): string | undefined {
    return this.#latest?.address;
  }

  get pid(): number | undefined {
    return this.#latest?.running === true ? this.#latest.pid : undefined;
  }

  /**
   * Spawns the process and waits until its health check passes. On failure the
   * process is gone and an InstanceStartError says why (with its last log lines).
   */
  async start(): Promise<void> {
    await this.#process.start();
  }

  /**
   * One run: spawned, healthy, and back in the pool when it replaces a crashed one.
   * A process that lost its port to another one (picked free, taken before the app's
   * `listen`) is spawned again on a new port, up to {@link PORT_ATTEMPTS} times: that
   * is the supervisor's race, not the app's failure, so it costs no restart backoff.
   */
  async #startRun(): Promise<AppRun> {
    let proc: AppProcess;
    for (let attempt = 1; ; attempt++) {
      proc = await this.#ctx.spawn(this.id, this.buildId);
      this.#latest = proc;
      if (this.retiring) proc.kill();
      try {
        await proc.waitHealthy(this.#ctx.healthPath, this.#ctx.healthTimeoutMs, this.#abort.signal);
        break;
      } catch (err) {
        if (attempt >= PORT_ATTEMPTS || this.retiring || !proc.lostPortRace(err)) throw err;
        this.#ctx.emit({ level: 'info', source: this.id, message: `${this.id}: port ${proc.port} was taken before it bound it; starting it on another port` });
      }
    }
    if (this.#joined && !this.retiring) {
      try {
        await this.#addToPool(proc);
      } catch (err) {
        proc.kill();
        throw err;
      }
    }
    return new AppRun(proc, this.#ctx.stopGraceMs);
  }

  async #addToPool(proc: AppProcess): Promise<void> {
    await this.#ctx.admin().addServer(this.#pool, { id: this.id, address: proc.address });
    this.#inPool = true;
  }

  /** Adds the healthy instance to its pool; from now on a crash is restarted. */
  async join(): Promise<void> {
    const run = this.#process.run;
    if (run === undefined || this.retiring) return;
    await this.#addToPool(run.process);
    this.#joined = true;
    // It may have died while the balancer was being told: it must not stay listed.
    this.#process.supervise();
  }

  /** The instance entered `pool` together with others (a blue-green switch). */
  markJoined(pool: string): void {
    this.#pool = pool;
    this.#inPool = true;
    this.#joined = true;
    this.#process.supervise();
  }

  #leavePool(): void {
    if (!this.#inPool) return;
    this.#inPool = false;
    this.#ctx.admin().removeServer(this.#pool, this.id).catch((err: unknown) => {
      this.#ctx.emit({ level: 'warn', source: this.id, message: `${this.id}: could not take it out of pool ${this.#pool}: ${(err as Error).message}` });
    });
  }

  /** Its process's restart events, as an instance's: about its pool, not only its process. */
  #emitProcessEvent(event: SupervisorEvent): void {
    if (!('kind' in event)) return this.#ctx.emit(event);
    switch (event.kind) {
      case 'process-exited':
        return this.#ctx.emit({ kind: 'instance-exited', source: this.id, pool: this.#pool, exit: event.exit, restartInMs: event.restartInMs });
      case 'process-start-failed':
        return this.#ctx.emit({ kind: 'instance-exited', source: this.id, pool: this.#pool, exit: `did not come back (${event.reason})`, restartInMs: event.restartInMs });
      case 'process-restarted':
        if (!this.#inPool) return;
        return this.#ctx.emit({ kind: 'instance-restarted', source: this.id, pool: this.#pool, pid: event.pid, address: this.address ?? null, restarts: this.#process.restarts });
      default:
        return this.#ctx.emit(event);
    }
  }

  /**
   * Takes the instance out of service for good: no more restarts; drain it at the
   * balancer, wait until nothing is in flight (at most `drainTimeoutMs`), remove it
   * from the pool, then stop the process (SIGTERM, SIGKILL after the grace period).
   */
  retire(): Promise<void> {
    this.#retired ??= this.#retire();
    return this.#retired;
  }

  async #retire(): Promise<void> {
    this.#abort.abort();
    await this.#process.stopRestarts();
    if (this.#inPool) {
      this.#phase = 'draining';
      try {
        await this.#ctx.admin().drain(this.#pool, this.id);
        await this.#waitDrained();
      } catch (err) {
        this.#ctx.emit({ level: 'warn', source: this.id, message: `${this.id}: drain at the balancer failed (${(err as Error).message}); stopping it anyway` });
      }
      this.#inPool = false;
      await this.#ctx.admin().removeServer(this.#pool, this.id).catch(() => undefined);
    }
    this.#phase = 'stopping';
    await this.#process.stop();
    // A start cancelled before it was healthy is not the supervised run.
    await this.#latest?.stop(this.#ctx.stopGraceMs);
    this.#phase = 'stopped';
  }

  async #waitDrained(): Promise<void> {
    const deadline = this.#ctx.clock.now() + this.#ctx.drainTimeoutMs;
    for (;;) {
      const server = await this.#ctx.admin().serverState(this.#pool, this.id);
      if (server === undefined || server.state === 'drained' || server.inFlight === 0) return;
      if (this.#ctx.clock.now() >= deadline) {
        this.#ctx.emit({ level: 'warn', source: this.id, message: `${this.id} still had ${server.inFlight} request(s) in flight after ${this.#ctx.drainTimeoutMs} ms of draining; stopping it` });
        return;
      }
      await delay(DRAIN_POLL_INTERVAL_MS);
    }
  }

  /** SIGKILL now, no draining (a forced stop). */
  kill(): void {
    this.#retired ??= Promise.resolve();
    this.#abort.abort();
    this.#process.kill();
    this.#latest?.kill();
  }

  snapshot(): ProcessStatus {
    const lastExit = this.#process.lastExit;
    const details = [this.#phase === 'draining' ? 'draining' : undefined, lastExit === undefined ? undefined : `last exit: ${lastExit}`]
      .filter((d) => d !== undefined);
    return {
      role: this.#ctx.role ?? 'app',
      id: this.id,
      pid: this.pid ?? null,
      address: this.#latest?.address ?? null,
      buildId: this.buildId,
      state: this.state,
      restarts: this.#process.restarts,
      pool: this.#pool,
      ...(details.length === 0 ? {} : { detail: details.join(', ') }),
    };
  }
}
