import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../internal/clock.js';
import type { AppProcess } from './app-process.js';
import { describeExit } from './app-process.js';
import type { BalancerAdminClient } from './balancer-admin-client.js';
import type { SupervisorEvent } from './events.js';
import { RestartBackoff } from './restart-backoff.js';
import type { ProcessState, ProcessStatus } from './topology.js';

/** Between two looks at a draining server's state. @defaultValue 100 */
export const DRAIN_POLL_INTERVAL_MS = 100;

export type { SupervisorEvent } from './events.js';

/** What an instance needs from its supervisor. */
export interface InstanceContext {
  /** The balancer's admin API (a new client after the balancer was restarted). */
  admin(): BalancerAdminClient;
  /** Spawns a process of `buildId` for instance `id` (environment, port, log file). */
  spawn(id: string, buildId: string): Promise<AppProcess>;
  healthPath: string;
  healthTimeoutMs: number;
  stopGraceMs: number;
  drainTimeoutMs: number;
  restart: { initialMs: number; maxMs: number };
  clock: Clock;
  emit(event: SupervisorEvent): void;
}

/**
 * One app instance under supervision: its process, its membership in a balancer
 * pool, and its restarts. It joins the pool only once its own health check passed;
 * when its process dies it leaves the pool at once and comes back after an
 * exponential backoff. `retire()` takes it out for good: drain, wait, stop.
 */
export class Instance {
  readonly id: string;
  readonly buildId: string;
  readonly #ctx: InstanceContext;
  readonly #backoff: RestartBackoff;
  #pool: string;
  #state: ProcessState = 'starting';
  #process: AppProcess | undefined;
  /** Crashes are restarted only once the instance was accepted into service. */
  #supervised = false;
  #inPool = false;
  #restarts = 0;
  #lastExit: string | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #restarting: Promise<void> | undefined;
  #abort = new AbortController();
  #retired: Promise<void> | undefined;

  constructor(id: string, buildId: string, pool: string, ctx: InstanceContext) {
    this.id = id;
    this.buildId = buildId;
    this.#pool = pool;
    this.#ctx = ctx;
    this.#backoff = new RestartBackoff({ ...ctx.restart, clock: ctx.clock });
  }

  get pool(): string {
    return this.#pool;
  }

  get state(): ProcessState {
    return this.#state;
  }

  get retiring(): boolean {
    return this.#retired !== undefined;
  }

  get inPool(): boolean {
    return this.#inPool;
  }

  get address(): string | undefined {
    return this.#process?.address;
  }

  get pid(): number | undefined {
    return this.#process?.running === true ? this.#process.pid : undefined;
  }

  /**
   * Spawns the process and waits until its health check passes. On failure the
   * process is gone and an InstanceStartError says why (with its last log lines).
   */
  async start(): Promise<void> {
    this.#state = 'starting';
    const proc = await this.#ctx.spawn(this.id, this.buildId);
    this.#process = proc;
    void proc.exited.then((exit) => this.#onExit(proc, describeExit(exit)));
    if (this.retiring) proc.kill();
    await proc.waitHealthy(this.#ctx.healthPath, this.#ctx.healthTimeoutMs, this.#abort.signal);
    this.#backoff.markHealthy();
  }

  /** Adds the healthy instance to its pool; from now on a crash is restarted. */
  async join(): Promise<void> {
    const proc = this.#process;
    if (proc === undefined || this.retiring) return;
    await this.#ctx.admin().addServer(this.#pool, { id: this.id, address: proc.address });
    this.#inPool = true;
    this.#supervised = true;
    this.#state = 'up';
    // It may have died while the balancer was being told: it must not stay listed.
    if (!proc.running) this.#crashed(this.#lastExit ?? 'exited');
  }

  /** The instance entered `pool` together with others (a blue-green switch). */
  markJoined(pool: string): void {
    this.#pool = pool;
    this.#inPool = true;
    this.#supervised = true;
    this.#state = 'up';
    if (this.#process?.running !== true) this.#crashed(this.#lastExit ?? 'exited');
  }

  #onExit(proc: AppProcess, how: string): void {
    if (proc !== this.#process) return;
    this.#lastExit = how;
    if (this.retiring || !this.#supervised) return;
    this.#crashed(how);
  }

  #crashed(how: string): void {
    this.#supervised = false;
    this.#state = 'backoff';
    if (this.#inPool) {
      this.#inPool = false;
      this.#ctx.admin().removeServer(this.#pool, this.id).catch((err: unknown) => {
        this.#ctx.emit({ level: 'warn', source: this.id, message: `${this.id}: could not take it out of pool ${this.#pool}: ${(err as Error).message}` });
      });
    }
    const delayMs = this.#backoff.nextDelayMs();
    this.#ctx.emit({ kind: 'instance-exited', source: this.id, pool: this.#pool, exit: how, restartInMs: delayMs });
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#restarting = this.#restart().finally(() => (this.#restarting = undefined));
    }, delayMs);
  }

  async #restart(): Promise<void> {
    if (this.retiring) return;
    this.#restarts++;
    try {
      await this.start();
      await this.join();
      if (this.#inPool) {
        this.#ctx.emit({ kind: 'instance-restarted', source: this.id, pool: this.#pool, pid: this.pid ?? null, address: this.address ?? null, restarts: this.#restarts });
      }
    } catch (err) {
      this.#process?.kill();
      if (this.retiring) return;
      this.#crashed(`did not come back (${(err as Error).message.split('\n')[0] ?? ''})`);
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
    this.#supervised = false;
    this.#abort.abort();
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    await this.#restarting;
    if (this.#inPool) {
      this.#state = 'draining';
      try {
        await this.#ctx.admin().drain(this.#pool, this.id);
        await this.#waitDrained();
      } catch (err) {
        this.#ctx.emit({ level: 'warn', source: this.id, message: `${this.id}: drain at the balancer failed (${(err as Error).message}); stopping it anyway` });
      }
      this.#inPool = false;
      await this.#ctx.admin().removeServer(this.#pool, this.id).catch(() => undefined);
    }
    this.#state = 'stopping';
    await this.#process?.stop(this.#ctx.stopGraceMs);
    this.#state = 'stopped';
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
    this.#supervised = false;
    this.#retired ??= Promise.resolve();
    this.#abort.abort();
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    this.#process?.kill();
  }

  snapshot(): ProcessStatus {
    return {
      role: 'app',
      id: this.id,
      pid: this.pid ?? null,
      address: this.#process?.address ?? null,
      buildId: this.buildId,
      state: this.#state,
      restarts: this.#restarts,
      pool: this.#pool,
      ...(this.#lastExit === undefined ? {} : { detail: `last exit: ${this.#lastExit}` }),
    };
  }
}
