import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PoolOptionsInput } from '../balancer/index.js';
import type { Clock } from '../internal/clock.js';
import { systemClock } from '../internal/clock.js';
import { AppProcess } from './app-process.js';
import { MAX_INSTANCES } from './config.js';
import type { DeployStrategy, RuntimeConfig } from './config.js';
import { reshardApp } from './app-reshard.js';
import { startControlApi, type DbRequest } from './control-api.js';
import { ControlClient } from './control-client.js';
import type { ControlApi } from './control-api.js';
import { deploy } from './deploy.js';
import type { DeployHost, DeployResult } from './deploy.js';
import { startEngines } from './engine-set.js';
import type { EngineSet } from './engine-set.js';
import { OperationInProgressError, ScaleRequestError, SupervisorAlreadyRunningError, SupervisorStoppingError } from './errors.js';
import { buildImage, STATE_DIR_NAME, unpackImage } from './image.js';
import type { BuildImage } from './image.js';
import { Instance } from './instance.js';
import { setOrphanReaper } from './child-registry.js';
import { OrphanReaper } from './orphan-reaper.js';
import type { SupervisorEvent } from './instance.js';
import { EventRing } from './event-ring.js';
import type { RuntimeEvent } from './events.js';
import { RuntimeBalancer } from './runtime-balancer.js';
import { formatKeys, loadOrCreateSecrets } from './secrets.js';
import type { RuntimeSecrets } from './secrets.js';
import { isAlive, readSupervisorFile, removeSupervisorFile, writeSupervisorFile } from './supervisor-file.js';
import type { ProcessStatus, RuntimeStatus, SupervisorState } from './topology.js';

/** The balancer pool of the first generation of instances. @defaultValue 'app' */
export const DEFAULT_POOL_NAME = 'app';
export { BALANCER_IMMEDIATE_RESTARTS, BALANCER_SHUTDOWN_MS } from './runtime-balancer.js';

export interface SupervisorOptions {
  /** Absolute app folder. */
  dir: string;
  config: RuntimeConfig;
  /** Environment the engines are looked up in and instances inherit. @defaultValue process.env */
  env?: NodeJS.ProcessEnv;
  /** Every event, as it is kept in {@link Supervisor.events} (the terminal of `scaleout up` prints them). */
  onEvent?: (event: RuntimeEvent) => void;
  /** @defaultValue systemClock */
  clock?: Clock;
}

/** What `scaleout up` prints once everything runs. */
export interface UpSummary {
  appUrl: string;
  adminUrl: string;
  controlAddress: string;
  buildId: string;
  profile: RuntimeStatus['profile'];
  instances: number;
}

export interface BuildResult {
  buildId: string;
  imagePath: string;
  created: boolean;
  fileCount: number;
}

export interface ScaleResult {
  role: 'app';
  from: number;
  to: number;
  started: string[];
  stopped: string[];
}

/**
 * The `scaleout up` process: owns the topology and starts and stops everything.
 *
 *     start: build ─► control API ─► engines ─► balancer ─► N instances (each joins the pool once healthy)
 *     stop:  drain and stop instances ─► balancer ─► engines ─► control API
 *
 * Deploys, scaling and builds run one at a time; crashed instances are restarted
 * with backoff by their {@link Instance}; a crashed balancer is restarted with its
 * pool as the supervisor knows it.
 */
export class Supervisor {
  readonly dir: string;
  readonly config: RuntimeConfig;
  readonly #env: NodeJS.ProcessEnv;
  readonly #onEvent: (event: RuntimeEvent) => void;
  /** The last events, for the control API's `GET /events`. */
  readonly events: EventRing;
  readonly #clock: Clock;
  readonly #stateDir: string;
  readonly #logDir: string;
  readonly #adminToken = randomBytes(24).toString('base64url');
  readonly #controlToken = randomBytes(24).toString('base64url');
  readonly #instances = new Map<string, Instance>();
  #state: SupervisorState = 'starting';
  #secrets: RuntimeSecrets | undefined;
  #engines: EngineSet | undefined;
  readonly #balancer: RuntimeBalancer;
  #reaper: OrphanReaper | undefined;
  #control: ControlApi | undefined;
  #buildId: string | undefined;
  #pool = DEFAULT_POOL_NAME;
  #desired: number;
  #nextNumber = 1;
  #operation: string | undefined;
  #starting: Promise<UpSummary> | undefined;
  /** The startup steps alone (what a stop waits for), without the cleanup after a failure. */
  #startup: Promise<UpSummary> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: SupervisorOptions) {
    this.dir = options.dir;
    this.config = options.config;
    this.#env = options.env ?? process.env;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#clock = options.clock ?? systemClock;
    this.events = new EventRing({ clock: this.#clock });
    this.#stateDir = join(this.dir, STATE_DIR_NAME);
    this.#logDir = join(this.#stateDir, 'logs');
    this.#desired = options.config.app.instances;
    this.#balancer = new RuntimeBalancer({
      listen: options.config.balancer.listen,
      admin: options.config.balancer.admin,
      stateDir: this.#stateDir,
      adminToken: this.#adminToken,
      keys: () => this.#secrets!.balancer,
      // After a crash, the instances in service as the supervisor knows them.
      pool: () => ({
        name: this.#pool,
        options: this.#poolOptions([...this.#instances.values()]
          .filter((i) => i.inPool && i.pool === this.#pool && i.address !== undefined)
          .map((i) => ({ id: i.id, address: i.address! }))),
      }),
      restart: options.config.app.restart,
      clock: this.#clock,
      emit: (event) => this.#emit(event),
    });
  }

  get state(): SupervisorState {
    return this.#state;
  }

  /** Starts everything; on failure what was started is stopped again before it throws. */
  start(): Promise<UpSummary> {
    this.#starting ??= (async () => {
      this.#startup = this.#start();
      try {
        return await this.#startup;
      } catch (err) {
        await this.stop();
        throw err;
      }
    })();
    return this.#starting;
  }

  async #start(): Promise<UpSummary> {
    const { config } = this;
    await mkdir(this.#logDir, { recursive: true });
    await this.#assertNoOtherSupervisor();
    // First, so that every process started after it dies with this one, even by SIGKILL.
    try {
      this.#reaper = await OrphanReaper.start();
      setOrphanReaper(this.#reaper);
    } catch (err) {
      this.#emit({ level: 'warn', message: `${(err as Error).message}: processes may outlive a supervisor killed by SIGKILL` });
    }
    // The client socket is bound here and kept until the end: see listen-socket.ts.
    await this.#balancer.bind();
    this.#secrets = await loadOrCreateSecrets(this.#stateDir);

    const image = await buildImage(this.dir);
    await unpackImage(this.dir, image.buildId);
    this.#buildId = image.buildId;
    this.#step(`build ${image.buildId} (${image.fileCount} files, image .scaleout/images/${image.buildId}.tgz${image.created ? '' : ', unchanged'})`);
    this.#assertRunning();

    this.#control = await startControlApi({
      status: () => this.status(),
      build: (report) => this.build(report),
      deploy: (strategy, report) => this.deploy(strategy, report),
      scale: (role, count, report) => this.scale(role, count, report),
      db: (request, report) => this.db(request, report),
      events: this.events,
    }, { token: this.#controlToken });
    await this.#writeFile(null, null);
    this.#step(`control API on ${this.#control.address} (token in .scaleout/supervisor.json)`);

    this.#engines = await startEngines({ dir: this.dir, config, env: this.#env, clock: this.#clock, onStep: (m) => this.#step(m), onEvent: (e) => this.#emit(e) });
    this.#assertRunning();

    const balancer = await this.#balancer.start();
    this.#step(`balancer on http://${balancer.listeners[0]} (pid ${balancer.pid ?? '?'}, admin http://${balancer.adminAddress})`);
    this.#assertRunning();

    const instances = Array.from({ length: this.#desired }, () => this.#createInstance(image.buildId, this.#pool));
    const results = await Promise.allSettled(instances.map(async (instance) => {
      await instance.start();
      this.#assertRunning();
      await instance.join();
      this.#ready(instance, (e) => this.#emit(e));
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;

    this.#state = 'running';
    const summary: UpSummary = {
      appUrl: `http://${balancer.listeners[0]}/`,
      adminUrl: `http://${balancer.adminAddress}/`,
      controlAddress: this.#control.address,
      buildId: image.buildId,
      profile: this.#engines.profile,
      instances: instances.length,
    };
    await this.#writeFile(summary.appUrl, summary.adminUrl);
    return summary;
  }

  /** A live supervisor answers on its control API; a pid alone may have been reused since a crash. */
  async #assertNoOtherSupervisor(): Promise<void> {
    const previous = readSupervisorFile(this.dir);
    if (previous === undefined || previous.pid === process.pid || !isAlive(previous.pid)) return;
    const answers = await ControlClient.connect(this.dir).status().then(() => true, () => false);
    if (answers) throw new SupervisorAlreadyRunningError(this.dir, previous.pid);
  }

  #step(message: string): void {
    this.#emit({ level: 'step', message });
  }

  /** Keeps the event, then hands it to `onEvent`. */
  #emit(event: SupervisorEvent): RuntimeEvent {
    const stamped = this.events.push(event);
    this.#onEvent(stamped);
    return stamped;
  }

  #ready(instance: Instance, report: (event: SupervisorEvent) => void): void {
    report({ kind: 'instance-ready', source: instance.id, pool: instance.pool, address: instance.address ?? null, pid: instance.pid ?? null, buildId: instance.buildId });
  }

  #assertRunning(): void {
    if (this.#stopping !== undefined) throw new SupervisorStoppingError();
  }

  async #writeFile(appUrl: string | null, adminUrl: string | null): Promise<void> {
    await writeSupervisorFile(this.dir, {
      pid: process.pid,
      dir: this.dir,
      control: this.#control!.address,
      token: this.#controlToken,
      startedAt: new Date(this.#clock.now()).toISOString(),
      appUrl,
      adminUrl,
      adminToken: this.#adminToken,
    });
  }

  // ── the balancer ─────────────────────────────────────────────────────────────

  #poolOptions(servers: Array<{ id: string; address: string }>): PoolOptionsInput {
    const { balancer, app } = this.config;
    return {
      servers,
      strategy: balancer.strategy as PoolOptionsInput['strategy'],
      health: { path: app.healthPath, intervalMs: balancer.healthIntervalMs, timeoutMs: Math.max(1000, Math.min(5000, balancer.healthIntervalMs * 2)) },
      ...(balancer.affinity === 'cookie' ? { affinity: { type: 'cookie' as const } } : {}),
    };
  }

  // ── instances ────────────────────────────────────────────────────────────────

  #createInstance(buildId: string, pool: string): Instance {
    this.#assertRunning();
    const id = `app-${this.#nextNumber++}`;
    const { app, deploy: deployConfig } = this.config;
    const instance = new Instance(id, buildId, pool, {
      admin: () => this.#balancer.admin!,
      spawn: (instanceId, build) => this.#spawn(instanceId, build),
      healthPath: app.healthPath,
      healthTimeoutMs: app.healthTimeoutMs,
      stopGraceMs: app.stopGraceMs,
      drainTimeoutMs: deployConfig.drainTimeoutMs,
      restart: app.restart,
      clock: this.#clock,
      emit: (event) => this.#emit(event),
    });
    this.#instances.set(id, instance);
    return instance;
  }

  async #spawn(id: string, buildId: string): Promise<AppProcess> {
    const cwd = await unpackImage(this.dir, buildId);
    const session = this.#secrets!.session;
    return AppProcess.spawn({
      id,
      buildId,
      cwd,
      entry: this.config.app.entry,
      logFile: join(this.#logDir, `${id}.log`),
      env: {
        ...this.#env,
        ...this.config.app.env,
        ...this.#engines?.env(),
        INSTANCE_ID: id,
        SCALEOUT_BUILD_ID: buildId,
        SCALEOUT_SESSION_KEYS: formatKeys(session),
      },
    });
  }

  /** Instances in service (or coming back from a crash), oldest first. */
  #active(): Instance[] {
    return [...this.#instances.values()].filter((i) => !i.retiring);
  }

  // ── operations ───────────────────────────────────────────────────────────────

  async #exclusive<T>(name: string, report: (event: RuntimeEvent) => void, op: (report: (event: SupervisorEvent) => void) => Promise<T>): Promise<T> {
    if (this.#state !== 'running') throw this.#state === 'starting' ? new OperationInProgressError('startup') : new SupervisorStoppingError();
    if (this.#operation !== undefined) throw new OperationInProgressError(this.#operation);
    this.#operation = name;
    const tee = (event: SupervisorEvent): void => report(this.#emit(event));
    try {
      return await op(tee);
    } finally {
      this.#operation = undefined;
    }
  }

  /** Builds an image of the app folder as it is now (nothing is restarted). */
  build(report: (event: RuntimeEvent) => void = () => {}): Promise<BuildResult> {
    return this.#exclusive('build', report, async (tee) => this.#build(tee));
  }

  async #build(report: (event: SupervisorEvent) => void): Promise<BuildImage> {
    const image = await buildImage(this.dir);
    await unpackImage(this.dir, image.buildId);
    report({ level: 'step', message: `build ${image.buildId} (${image.fileCount} files${image.created ? '' : ', image unchanged'})` });
    return image;
  }

  /** Builds the app folder and puts the build on every instance (see {@link deploy}). */
  deploy(strategy: DeployStrategy | undefined, report: (event: RuntimeEvent) => void = () => {}): Promise<DeployResult> {
    return this.#exclusive('deploy', report, async (tee) => {
      const image = await this.#build(tee);
      return deploy(this.#deployHost(), strategy ?? this.config.deploy.strategy, image.buildId, tee);
    });
  }

  #deployHost(): DeployHost {
    return {
      buildId: () => this.#buildId!,
      pool: () => this.#pool,
      desired: () => this.#desired,
      active: () => this.#active(),
      createInstance: (buildId, pool) => this.#createInstance(buildId, pool),
      forget: (instance) => {
        this.#instances.delete(instance.id);
      },
      admin: () => this.#balancer.admin!,
      poolOptions: (servers) => this.#poolOptions(servers),
      switchTo: (buildId, pool) => {
        this.#buildId = buildId;
        this.#pool = pool;
      },
      assertRunning: () => this.#assertRunning(),
    };
  }

  /** Starts or stops instances of the current build until `count` are in service. */
  scale(role: string, count: number, report: (event: RuntimeEvent) => void = () => {}): Promise<ScaleResult> {
    if (role !== 'app') {
      return Promise.reject(new ScaleRequestError(`only app instances can be scaled (workers are not run by scaleout up yet), not "${role}"`));
    }
    if (!Number.isInteger(count) || count < 1 || count > MAX_INSTANCES) {
      return Promise.reject(new ScaleRequestError(`app=${count}: give a whole number from 1 to ${MAX_INSTANCES} (stop everything with Ctrl-C)`));
    }
    return this.#exclusive('scale', report, async (tee) => {
      const active = this.#active();
      const from = active.length;
      this.#desired = count;
      if (count > from) {
        const added = Array.from({ length: count - from }, () => this.#createInstance(this.#buildId!, this.#pool));
        const results = await Promise.allSettled(added.map(async (instance) => {
          await instance.start();
          this.#assertRunning();
          await instance.join();
          this.#ready(instance, tee);
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
    });
  }

  /** `scaleout db rebuild|failover` and `scaleout reshard`, one operation at a time like deploys. */
  db(request: DbRequest, report: (event: RuntimeEvent) => void = () => {}): Promise<unknown> {
    return this.#exclusive(request.action === 'reshard' ? 'reshard' : `db ${request.action}`, report, async (tee) => {
      if (request.action === 'rebuild') return this.#engines!.rebuild(request.node, tee);
      if (request.action === 'failover') return this.#engines!.switchover(tee);
      return reshardApp(this.config.db.shards, this.#engines!.primaryUrl(), request, tee);
    });
  }

  // ── status and stopping ──────────────────────────────────────────────────────

  status(): RuntimeStatus {
    const balancer = this.#balancer.run;
    const processes: ProcessStatus[] = [
      {
        role: 'supervisor', id: 'supervisor', pid: process.pid, address: this.#control?.address ?? null, buildId: this.#buildId ?? null,
        state: this.#state === 'running' ? 'running' : this.#state === 'starting' ? 'starting' : 'stopping',
        detail: `control API, desired app instances: ${this.#desired}`,
      },
    ];
    const balancerStatus = this.#balancer.status(this.#pool);
    if (balancerStatus !== undefined) processes.push(balancerStatus);
    const byNumber = (a: Instance, b: Instance): number => Number(a.id.slice(4)) - Number(b.id.slice(4));
    processes.push(...[...this.#instances.values()].sort(byNumber).map((i) => i.snapshot()));
    processes.push(...this.#engines?.processes() ?? []);
    return {
      dir: this.dir,
      state: this.#state,
      buildId: this.#buildId ?? null,
      profile: this.#engines?.profile ?? null,
      appUrl: balancer === undefined ? null : `http://${balancer.listeners[0]}/`,
      adminUrl: balancer === undefined ? null : `http://${balancer.adminAddress}/`,
      operation: this.#operation ?? null,
      processes,
      db: this.#engines?.db() ?? null,
    };
  }

  /**
   * Graceful stop, in order: drain and stop every instance, then the balancer, the
   * engines and the control API. Idempotent; waits for a startup in progress to give up.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#state = 'stopping';
    const instances = [...this.#instances.values()];
    if (instances.length > 0) this.#emit({ level: 'info', message: `draining and stopping ${instances.length} instance(s)` });
    await Promise.all(instances.map((i) => i.retire()));
    // A startup in progress notices the stop at its next step; wait for it to let go.
    await this.#startup?.catch(() => undefined);
    await Promise.all([...this.#instances.values()].map((i) => i.retire()));
    const hadBalancer = this.#balancer.run !== undefined;
    await this.#balancer.stop();
    if (hadBalancer) this.#emit({ level: 'info', message: 'balancer stopped' });
    if (this.#engines !== undefined) {
      await this.#engines.stop();
      this.#emit({ level: 'info', message: 'engines stopped' });
    }
    await this.#control?.close();
    this.#closeReaper();
    removeSupervisorFile(this.dir);
    this.#state = 'stopped';
  }

  /** Forced stop: SIGKILL every process now (a second Ctrl-C). Synchronous. */
  kill(): void {
    this.#state = 'stopping';
    for (const instance of this.#instances.values()) instance.kill();
    this.#balancer.kill();
    this.#engines?.kill();
    this.#closeReaper();
    removeSupervisorFile(this.dir);
  }

  #closeReaper(): void {
    if (this.#reaper === undefined) return;
    setOrphanReaper(undefined);
    this.#reaper.close();
    this.#reaper = undefined;
  }
}
