import type { Clock } from '../internal/clock.js';
import type { AppProcess } from './app-process.js';
import type { BalancerAdmin } from './balancer-admin-client.js';
import { MAX_INSTANCES } from './config.js';
import type { RuntimeConfig } from './config.js';
import { ScaleRequestError } from './errors.js';
import { Instance } from './instance.js';
import type { SupervisorEvent } from './events.js';
import type { ScalableGroup, ScaleResult } from './process-group.js';
import type { ProcessStatus } from './status.js';

/** The balancer pool of the first generation of instances. @defaultValue 'app' */
export const DEFAULT_POOL_NAME = 'app';

export interface AppGroupOptions {
  config: RuntimeConfig;
  /** The balancer's admin API (a new client after the balancer was restarted). */
  admin: () => BalancerAdmin;
  /** Spawns a process of `buildId` for instance `id` (environment, port, log file). */
  spawn: (id: string, buildId: string) => Promise<AppProcess>;
  /** Throws once the supervisor is stopping. */
  assertRunning: () => void;
  clock: Clock;
  emit: (event: SupervisorEvent) => void;
}

/** The event of an instance that passed its health check and joined its pool. */
export function instanceReady(instance: Instance): SupervisorEvent {
  return { kind: 'instance-ready', source: instance.id, pool: instance.pool, address: instance.address ?? null, pid: instance.pid ?? null, buildId: instance.buildId };
}

/**
 * The `app` role: every instance, the build new ones start from, the pool they
 * serve in and how many should run. Instances are named `app-<n>`, numbered in
 * order of creation and never reused.
 */
export class AppGroup implements ScalableGroup {
  readonly role = 'app';
  readonly #options: AppGroupOptions;
  readonly #instances = new Map<string, Instance>();
  #pool = DEFAULT_POOL_NAME;
  #buildId: string | undefined;
  #desired: number;
  #nextNumber = 1;

  constructor(options: AppGroupOptions) {
    this.#options = options;
    // Autoscale starts from `instances`, within its bounds.
    const { instances, autoscale } = options.config.app;
    this.#desired = autoscale === undefined ? instances : Math.min(autoscale.max, Math.max(autoscale.min, instances));
  }

  /** The pool the current build serves in. */
  get pool(): string {
    return this.#pool;
  }

  /** The build new instances start from. */
  get buildId(): string | undefined {
    return this.#buildId;
  }

  get desired(): number {
    return this.#desired;
  }

  /** From now on new instances run `buildId` in `pool` (a deploy's switch). */
  switchTo(buildId: string, pool: string): void {
    this.#buildId = buildId;
    this.#pool = pool;
  }

  /** The servers of the current pool as the supervisor knows them (what a restarted balancer gets). */
  servers(): Array<{ id: string; address: string }> {
    return [...this.#instances.values()]
      .filter((i) => i.inPool && i.pool === this.#pool && i.address !== undefined)
      .map((i) => ({ id: i.id, address: i.address! }));
  }

  /** A new instance of `buildId` for `pool`, not started yet. */
  create(buildId: string, pool: string): Instance {
    this.#options.assertRunning();
    const id = `app-${this.#nextNumber++}`;
    const { app, deploy } = this.#options.config;
    const instance = new Instance(id, buildId, pool, {
      admin: this.#options.admin,
      spawn: this.#options.spawn,
      healthPath: app.healthPath,
      healthTimeoutMs: app.healthTimeoutMs,
      stopGraceMs: app.stopGraceMs,
      drainTimeoutMs: deploy.drainTimeoutMs,
      restart: app.restart,
      clock: this.#options.clock,
      emit: this.#options.emit,
    });
    this.#instances.set(id, instance);
    return instance;
  }

  forget(instance: Instance): void {
    this.#instances.delete(instance.id);
  }

  /** Instances in service (or coming back from a crash), oldest first. */
  active(): Instance[] {
    return [...this.#instances.values()].filter((i) => !i.retiring);
  }

  /** The first `desired` instances of `buildId`: each joins the pool once healthy. */
  async start(buildId: string, onJoined: (instance: Instance) => void): Promise<Instance[]> {
    this.#buildId = buildId;
    const instances = Array.from({ length: this.#desired }, () => this.create(buildId, this.#pool));
    const results = await Promise.allSettled(instances.map(async (instance) => {
      await instance.start();
      this.#options.assertRunning();
      await instance.join();
      onJoined(instance);
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return instances;
  }

  checkCount(count: number): void {
    if (!Number.isInteger(count) || count < 1 || count > MAX_INSTANCES) {
      throw new ScaleRequestError(`app=${count}: give a whole number from 1 to ${MAX_INSTANCES} (stop everything with Ctrl-C)`);
    }
  }

  /** Starts or stops instances of the current build until `count` are in service. */
  async scale(count: number, tee: (event: SupervisorEvent) => void): Promise<ScaleResult> {
    this.checkCount(count);
    const active = this.active();
    const from = active.length;
    this.#desired = count;
    if (count > from) {
      const added = Array.from({ length: count - from }, () => this.create(this.#buildId!, this.#pool));
      const results = await Promise.allSettled(added.map(async (instance) => {
        await instance.start();
        this.#options.assertRunning();
        await instance.join();
        tee(instanceReady(instance));
      }));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) {
        await Promise.all(added.map((i) => i.retire()));
        added.forEach((i) => this.#instances.delete(i.id));
        this.#desired = from;
        throw failed.reason;
      }
      return { role: 'app', from, to: count, started: added.map((i) => i.id), stopped: [] };
    }
    // The newest go first: the oldest have proven themselves longest.
    const removed = active.slice(count).reverse();
    await Promise.all(removed.map(async (instance) => {
      await instance.retire();
      this.#instances.delete(instance.id);
      tee({ kind: 'instance-stopped', source: instance.id, pool: instance.pool, buildId: instance.buildId });
    }));
    return { role: 'app', from, to: count, started: [], stopped: removed.map((i) => i.id) };
  }

  processes(): ProcessStatus[] {
    return [...this.#instances.values()].map((i) => i.snapshot());
  }

  /** How many instances exist, retiring ones included. */
  get size(): number {
    return this.#instances.size;
  }

  /** Drains and stops every instance, including ones created meanwhile. */
  async stop(): Promise<void> {
    await Promise.all([...this.#instances.values()].map((i) => i.retire()));
  }

  /** SIGKILL every instance now. */
  kill(): void {
    for (const instance of this.#instances.values()) instance.kill();
  }
}
