import type { Clock } from '../internal/clock.js';
import type { AppProcess, ExitInfo } from './app-process.js';
import { describeExit, HEARTBEAT_ENV } from './app-process.js';
import { MAX_INSTANCES } from './config.js';
import type { RuntimeConfig } from './config.js';
import { ScaleRequestError } from './errors.js';
import type { SupervisorEvent } from './events.js';
import type { ScalableGroup, ScaleResult } from './process-group.js';
import { SupervisedProcess } from './supervised-process.js';
import type { ProcessRun } from './supervised-process.js';
import type { ProcessStatus } from './status.js';

/** The variable naming the queues a worker serves (comma-separated). */
export const WORKER_QUEUES_ENV = 'WORKER_QUEUES';
/** The variable naming the worker (`exports`). */
export const WORKER_NAME_ENV = 'WORKER_NAME';
/** The variable giving the worker's grace for its jobs after SIGTERM (`Worker.close({ graceMs })`). */
export const WORKER_GRACE_ENV = 'WORKER_GRACE_MS';

/** Part of the stop grace kept back for the worker to close its connections after its jobs. @defaultValue 1000 */
export const WORKER_CLOSE_MARGIN_MS = 1000;

/** A worker silent this long is taken for hung, killed and restarted (`workers.<name>.hangTimeoutMs`). @defaultValue 10000 */
export const DEFAULT_WORKER_HANG_TIMEOUT_MS = 10_000;
/** How often a worker sends its heartbeat: a fifth of the hang timeout, at most once a second. */
export function heartbeatIntervalMs(hangTimeoutMs: number): number {
  return Math.min(1000, Math.max(100, Math.floor(hangTimeoutMs / 5)));
}

export type WorkerConfig = RuntimeConfig['workers'][string];

export interface WorkerGroupOptions {
  name: string;
  worker: WorkerConfig;
  /** Restart backoff and default stop grace (`app.restart`, `app.stopGraceMs`). */
  app: RuntimeConfig['app'];
  /** Spawns worker `id` of `buildId` running `entry` with `env` added to the instance environment. */
  spawn: (id: string, buildId: string, entry: string, env: Record<string, string>) => Promise<AppProcess>;
  assertRunning: () => void;
  clock: Clock;
  emit: (event: SupervisorEvent) => void;
}

/**
 * One run of a worker process: a graceful stop is SIGTERM, then SIGKILL after the
 * grace. A watchdog kills it when its heartbeat is silent for `hangTimeoutMs` (a
 * worker has no health endpoint and no pool to leave): its supervisor then restarts
 * it like any crash, and the job it held goes back to the queue when its lock or
 * lease runs out (`visibilityTimeoutMs`), to run on another worker.
 */
class WorkerRun implements ProcessRun {
  readonly #watchdog: NodeJS.Timeout | undefined;

  constructor(readonly process: AppProcess, readonly graceMs: number, hangTimeoutMs: number, onHang: (silentMs: number) => void) {
    if (hangTimeoutMs > 0) {
      this.#watchdog = setInterval(() => {
        const silentMs = process.silentMs;
        if (silentMs < hangTimeoutMs || !process.running) return;
        clearInterval(this.#watchdog);
        onHang(Math.round(silentMs));
        process.kill();
      }, heartbeatIntervalMs(hangTimeoutMs));
      this.#watchdog.unref();
      void process.exited.then(() => clearInterval(this.#watchdog));
    }
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get exited(): Promise<ExitInfo> {
    return this.process.exited;
  }

  async stop(): Promise<void> {
    // A worker finishing its jobs after SIGTERM is watched by the stop's own grace.
    clearInterval(this.#watchdog);
    await this.process.stop(this.graceMs);
  }

  kill(): void {
    this.process.kill();
  }
}

/** One worker process under supervision. */
class WorkerProcess {
  readonly supervised: SupervisedProcess<WorkerRun>;
  retiring = false;

  constructor(readonly id: string, readonly buildId: string, supervised: (self: WorkerProcess) => SupervisedProcess<WorkerRun>) {
    this.supervised = supervised(this);
  }
}

/**
 * The `worker:<name>` role: processes of the app's build that run the worker entry,
 * no port and no pool. They are supervised like instances (restart with backoff);
 * a stop is SIGTERM and the entry's `Worker.close({ graceMs })` finishes or returns
 * its jobs before SIGKILL. Ids are `worker-<name>-<n>`, never reused.
 */
export class WorkerGroup implements ScalableGroup {
  readonly role: `worker:${string}`;
  readonly #options: WorkerGroupOptions;
  readonly #workers = new Map<string, WorkerProcess>();
  #buildId: string | undefined;
  #desired: number;
  #nextNumber = 1;

  constructor(options: WorkerGroupOptions) {
    this.#options = options;
    this.role = `worker:${options.name}`;
    // Autoscale starts from `instances`, within its bounds.
    const { instances, autoscale } = options.worker;
    this.#desired = autoscale === undefined ? instances : Math.min(autoscale.max, Math.max(autoscale.min, instances));
  }

  /** Workers in service now (not being stopped). */
  get activeCount(): number {
    return this.#active().length;
  }

  get desired(): number {
    return this.#desired;
  }

  get buildId(): string | undefined {
    return this.#buildId;
  }

  get #graceMs(): number {
    return this.#options.worker.stopGraceMs ?? this.#options.app.stopGraceMs;
  }

  /** A new worker of `buildId`, started. */
  async #startOne(buildId: string): Promise<WorkerProcess> {
    this.#options.assertRunning();
    const id = `worker-${this.#options.name}-${this.#nextNumber++}`;
    const { name, worker, app, emit, clock } = this.#options;
    const grace = this.#graceMs;
    const env: Record<string, string> = {
      [WORKER_NAME_ENV]: name,
      [WORKER_QUEUES_ENV]: (worker.queues ?? []).join(','),
      [WORKER_GRACE_ENV]: String(Math.max(0, grace - Math.min(WORKER_CLOSE_MARGIN_MS, Math.floor(grace / 5)))),
    };
    const hangTimeoutMs = worker.hangTimeoutMs ?? DEFAULT_WORKER_HANG_TIMEOUT_MS;
    if (hangTimeoutMs > 0) env[HEARTBEAT_ENV] = String(heartbeatIntervalMs(hangTimeoutMs));
    const role = this.role;
    const process = new WorkerProcess(id, buildId, (self) => new SupervisedProcess<WorkerRun>({
      name: id,
      source: id,
      restart: app.restart,
      clock,
      start: async () => new WorkerRun(await this.#options.spawn(id, buildId, worker.entry, env), grace, hangTimeoutMs,
        (silentMs) => emit({ kind: 'worker-hung', source: id, role, silentMs })),
      // Worker events instead of the generic process ones.
      emit: (event) => {
        if (!('kind' in event)) return emit(event);
        if (event.kind === 'process-exited') {
          return emit({ kind: 'worker-exited', source: id, role, exit: event.exit, restartInMs: event.restartInMs, crashesInARow: event.crashesInARow });
        }
        if (event.kind === 'process-restarted') return emit({ kind: 'worker-restarted', source: id, role, pid: event.pid });
        emit(event);
      },
      onCrash: () => {
        if (self.retiring) void self.supervised.stopRestarts();
      },
    }));
    this.#workers.set(id, process);
    try {
      const run = await process.supervised.start();
      emit({ kind: 'worker-started', source: id, role, pid: run.pid ?? null, buildId });
    } catch (err) {
      this.#workers.delete(id);
      throw err;
    }
    return process;
  }

  async #stopOne(worker: WorkerProcess, report: (event: SupervisorEvent) => void): Promise<void> {
    worker.retiring = true;
    await worker.supervised.stop();
    this.#workers.delete(worker.id);
    const exit = worker.supervised.run?.process.exitInfo;
    report({ kind: 'worker-stopped', source: worker.id, role: this.role, buildId: worker.buildId, exit: exit === undefined ? 'stopped' : describeExit(exit) });
  }

  /** Workers in service, oldest first. */
  #active(): WorkerProcess[] {
    return [...this.#workers.values()].filter((w) => !w.retiring);
  }

  /** The first `desired` workers of `buildId`. */
  async start(buildId: string): Promise<void> {
    this.#buildId = buildId;
    const results = await Promise.allSettled(Array.from({ length: this.#desired }, () => this.#startOne(buildId)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  checkCount(count: number): void {
    if (!Number.isInteger(count) || count < 0 || count > MAX_INSTANCES) {
      throw new ScaleRequestError(`${this.role}=${count}: give a whole number from 0 to ${MAX_INSTANCES}`);
    }
  }

  async scale(count: number, report: (event: SupervisorEvent) => void): Promise<ScaleResult> {
    this.checkCount(count);
    const active = this.#active();
    const from = active.length;
    this.#desired = count;
    if (count > from) {
      const results = await Promise.allSettled(Array.from({ length: count - from }, () => this.#startOne(this.#buildId!)));
      const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) {
        await Promise.all(started.map((w) => this.#stopOne(w, report)));
        this.#desired = from;
        throw failed.reason;
      }
      return { role: this.role, from, to: count, started: started.map((w) => w.id), stopped: [] };
    }
    const removed = active.slice(count).reverse();
    await Promise.all(removed.map((w) => this.#stopOne(w, report)));
    return { role: this.role, from, to: count, started: [], stopped: removed.map((w) => w.id) };
  }

  /**
   * A deploy's part: workers of `buildId` start first, then the old ones stop
   * gracefully (each finishes or returns its current job), so the queues are never
   * without a consumer.
   */
  async roll(buildId: string, report: (event: SupervisorEvent) => void): Promise<{ started: string[]; stopped: string[] }> {
    const old = this.#active();
    const fresh: WorkerProcess[] = [];
    try {
      for (let i = 0; i < this.#desired; i++) fresh.push(await this.#startOne(buildId));
    } catch (err) {
      await Promise.all(fresh.map((w) => this.#stopOne(w, report)));
      throw err;
    }
    this.#buildId = buildId;
    await Promise.all(old.map((w) => this.#stopOne(w, report)));
    return { started: fresh.map((w) => w.id), stopped: old.map((w) => w.id) };
  }

  processes(): ProcessStatus[] {
    return [...this.#workers.values()].map((w) => {
      const s = w.supervised;
      return {
        role: this.role,
        id: w.id,
        pid: s.state === 'running' ? s.run?.pid ?? null : null,
        address: null,
        buildId: w.buildId,
        state: w.retiring && s.state === 'running' ? 'stopping' : s.state,
        detail: `queues: ${(this.#options.worker.queues ?? []).join(', ') || 'any'}${s.lastExit === undefined ? '' : `, last exit: ${s.lastExit}`}`,
        restarts: s.restarts,
      };
    });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#workers.values()].map((w) => {
      w.retiring = true;
      return w.supervised.stop();
    }));
  }

  kill(): void {
    for (const w of this.#workers.values()) w.supervised.kill();
  }
}
