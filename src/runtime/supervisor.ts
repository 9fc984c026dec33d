import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BalancerSnapshot, PoolOptionsInput } from '../balancer/index.js';
import type { Clock } from '../internal/clock.js';
import { formatInstanceEnv } from '../internal/instance-env.js';
import { systemClock } from '../internal/clock.js';
import { AppProcess } from './app-process.js';
import { AppGroup, instanceReady } from './app-group.js';
import { Autoscaler } from './autoscaler.js';
import type { Instance } from './instance.js';
import { CpuSampler } from './process-cpu.js';
import { openCountingBackend, openQueueDepth, QueueStatsReader } from './queue-depth.js';
import type { QueueDepthReader, QueueStats } from './queue-depth.js';
import type { AutoscaleConfig, DeployStrategy, RuntimeConfig } from './config.js';
import { reshardApp } from './app-reshard.js';
import { startControlApi, type DbRequest } from './control-api.js';
import { ControlClient } from './control-client.js';
import type { ControlApi, ExtraRoutes } from './control-api.js';
import type { EventFeed } from './event-stream.js';
import { deploy } from './deploy.js';
import type { DeployHost, DeployResult } from './deploy.js';
import { startEngines } from './engine-set.js';
import type { EngineSet } from './engine-set.js';
import { OperationInProgressError, ProcessActionError, ScaleRequestError, SupervisorAlreadyRunningError, SupervisorStoppingError } from './errors.js';
import { buildImage, STATE_DIR_NAME, unpackImage } from './image.js';
import type { BuildImage } from './image.js';
import { setOrphanReaper } from './child-registry.js';
import { OrphanReaper } from './orphan-reaper.js';
import { EventRing } from './event-ring.js';
import type { RuntimeEvent, SupervisorEvent } from './events.js';
import { isScalable } from './process-group.js';
import { WorkerGroup } from './worker-group.js';
import { STATIC_DIR_NAME, STATIC_POOL_NAME, StaticGroup, staticChildEntry, staticRoutes } from './static-group.js';
import type { ProcessGroup, ScaleResult } from './process-group.js';
import { BalancerGroup } from './balancer-group.js';
import { FloatingAddress } from './vip/floating-address.js';
import { Chaos } from './chaos/chaos.js';
import type { ChaosFault } from './chaos/chaos.js';
import type { ChaosRequest } from './chaos/chaos-request.js';
import { formatDnsEvent, startDnsServer } from '../dns/index.js';
import type { DnsServer } from '../dns/index.js';
import { loadOrCreateSecrets } from './secrets.js';
import type { RuntimeSecrets } from './secrets.js';
import { isAlive, readSupervisorFile, removeSupervisorFile, writeSupervisorFile } from './supervisor-file.js';
import { compareProcesses } from './status.js';
import type { ProcessStatus, RuntimeStatus, SupervisorState } from './status.js';

export { DEFAULT_POOL_NAME } from './app-group.js';
export type { ScaleResult } from './process-group.js';
export { BALANCER_IMMEDIATE_RESTARTS, BALANCER_SHUTDOWN_MS } from './runtime-balancer.js';

/** How often a balancer saves its stick table when it changed. @defaultValue 1000 */
export const STICK_TABLE_SAVE_INTERVAL_MS = 1_000;

/** What the control API's `POST /processes/<id>/<action>` does to one process. */
export type ProcessAction = 'kill' | 'restart' | 'drain';

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
  /**
   * Web pages served on the control listener next to the API (the dashboard, which
   * `scaleout up` passes here: the runtime does not import the layers above it).
   */
  controlPages?: (host: ControlHost) => ControlPages;
}

/** What pages on the control listener may read and do, behind their own login. */
export interface ControlHost {
  /** The control token: the pages' login checks it. */
  token: string;
  status(): RuntimeStatus;
  events: EventFeed;
  /** The balancer's servers and counters; undefined while there is no balancer. */
  balancerSnapshot(): Promise<BalancerSnapshot | undefined>;
  scale(role: string, count: number): Promise<unknown>;
  deploy(): Promise<unknown>;
  processAction(id: string, action: ProcessAction): Promise<unknown>;
  /** Every configured worker's queues: depth and finished counts (empty without workers with queues). */
  queues?(): Promise<QueueStats[]>;
  /** Fault injection, as `scaleout chaos` and the control API's `/chaos` routes do it (a supervisor always has it). */
  chaos?: {
    list(): ChaosFault[];
    inject(request: ChaosRequest): Promise<ChaosFault>;
    heal(): Promise<ChaosFault[]>;
  };
}

/** Pages mounted on the control listener under `path`. */
export interface ControlPages extends ExtraRoutes {
  path: string;
}

/** What `scaleout up` prints once everything runs. */
export interface UpSummary {
  appUrl: string;
  /** Every balancer replica's URL (one with a single balancer). */
  appUrls: string[];
  /** Where `dns:` answers for the app's name, when configured. */
  dns?: { name: string; address: string };
  adminUrl: string;
  /** The pages of `controlPages` (the dashboard), when given: log in with the control token. */
  dashboardUrl?: string;
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

/**
 * The `scaleout up` process: owns the deployment and starts and stops everything.
 *
 *     start: build ─► control API ─► engines ─► balancer ─► N instances (each joins the pool once healthy) ─► workers
 *     stop:  drain and stop instances ─► workers (finish or return their jobs) ─► balancer ─► engines ─► control API
 *
 * Its processes are held in groups by role (the engines, the balancer, the app:
 * see `process-group.ts`), each process a `SupervisedProcess` that restarts it with
 * backoff; a crashed balancer is restarted with its pool as the supervisor knows it.
 * Deploys, scaling and builds run one at a time.
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
  readonly #controlPages: ControlPages | undefined;
  readonly #apps: AppGroup;
  /** One group per `workers` entry, in config order. */
  readonly #workers: WorkerGroup[];
  /** The static servers, when the config has `static`. */
  readonly #static: StaticGroup | undefined;
  /** The static tier's folder (`STATIC_DIR`), when the config has `static`. */
  readonly #staticDir: string | undefined;
  #state: SupervisorState = 'starting';
  #secrets: RuntimeSecrets | undefined;
  #engines: EngineSet | undefined;
  readonly #balancer: BalancerGroup;
  #dns: DnsServer | undefined;
  /** Faults injected by `scaleout chaos`, undone by heal, at stop, or at the next start. */
  readonly chaos: Chaos;
  /** keepalived and its guard, when `balancer.vip` is set. */
  #vip: FloatingAddress | undefined;
  #reaper: OrphanReaper | undefined;
  #control: ControlApi | undefined;
  #operation: string | undefined;
  #starting: Promise<UpSummary> | undefined;
  /** The startup steps alone (what a stop waits for), without the cleanup after a failure. */
  #startup: Promise<UpSummary> | undefined;
  #stopping: Promise<void> | undefined;
  #autoscalers: Autoscaler[] = [];
  #queueDepths: QueueDepthReader[] = [];
  /** The dashboard's queue panel: opened on its first read, closed at stop. */
  #queueStats: QueueStatsReader | undefined;

  constructor(options: SupervisorOptions) {
    this.dir = options.dir;
    this.config = options.config;
    this.#env = options.env ?? process.env;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#clock = options.clock ?? systemClock;
    this.events = new EventRing({ clock: this.#clock });
    this.#controlPages = options.controlPages?.(this.#controlHost());
    this.#stateDir = join(this.dir, STATE_DIR_NAME);
    this.#logDir = join(this.#stateDir, 'logs');
    this.#apps = new AppGroup({
      config: options.config,
      admin: () => this.#balancer.admin!,
      spawn: (id, buildId) => this.#spawn(id, buildId),
      assertRunning: () => this.#assertRunning(),
      clock: this.#clock,
      emit: (event) => this.#emit(event),
    });
    this.#workers = Object.entries(options.config.workers).map(([name, worker]) => new WorkerGroup({
      name,
      worker,
      app: options.config.app,
      spawn: (id, buildId, entry, env) => this.#spawn(id, buildId, entry, env),
      assertRunning: () => this.#assertRunning(),
      clock: this.#clock,
      emit: (event) => this.#emit(event),
    }));
    this.chaos = new Chaos({ stateDir: this.#stateDir, status: () => this.status(), emit: (event) => this.#emit(event) });
    this.#staticDir = options.config.static === undefined ? undefined : join(this.#stateDir, STATIC_DIR_NAME);
    this.#static = options.config.static === undefined ? undefined : new StaticGroup({
      config: options.config.static,
      app: options.config.app,
      stopGraceMs: options.config.app.stopGraceMs,
      drainTimeoutMs: options.config.deploy.drainTimeoutMs,
      admin: () => this.#balancer.admin!,
      spawn: (id, env) => this.#spawnStatic(id, env),
      assertRunning: () => this.#assertRunning(),
      clock: this.#clock,
      emit: (event) => this.#emit(event),
    });
    this.#balancer = new BalancerGroup({
      listen: options.config.balancer.listen,
      admin: options.config.balancer.admin,
      workers: options.config.balancer.workers,
      stateDir: this.#stateDir,
      adminToken: this.#adminToken,
      keys: () => this.#secrets!.balancer,
      // After a crash, the instances in service as the supervisor knows them.
      pool: () => ({ name: this.#apps.pool, options: this.#poolOptions(this.#apps.servers()) }),
      extraPools: (): Record<string, PoolOptionsInput> => (this.#static === undefined ? {} : { [STATIC_POOL_NAME]: this.#static.poolOptions() }),
      routes: () => staticRoutes(this.config.static, this.#apps.pool),
      restart: options.config.app.restart,
      clock: this.#clock,
      emit: (event) => this.#emit(event),
    });
  }

  get state(): SupervisorState {
    return this.#state;
  }

  /**
   * Every role's processes, in start order: the engines, the balancer, the app, the
   * workers. A new role is one more group here.
   */
  #groups(): ProcessGroup[] {
    const vip = this.#vip;
    return [...this.#engines?.groups() ?? [], ...vip === undefined ? [] : [{ role: 'keepalived' as const, processes: () => vip.processes() }], this.#balancer, ...this.#static === undefined ? [] : [this.#static], this.#apps, ...this.#workers];
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
    // Faults an earlier run of this app left in force (it was killed before its stop).
    await this.chaos.healLeftovers();
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
    this.#apps.switchTo(image.buildId, this.#apps.pool);
    this.#step(`build ${image.buildId} (${image.fileCount} files, image .scaleout/images/${image.buildId}.tgz${image.created ? '' : ', unchanged'})`);
    this.#assertRunning();

    this.#control = await startControlApi({
      status: () => this.status(),
      build: (report) => this.build(report),
      deploy: (strategy, report) => this.deploy(strategy, report),
      scale: (role, count, report) => this.scale(role, count, report),
      db: (request, report) => this.db(request, report),
      processAction: (id, action, report) => this.processAction(id, action, report),
      events: this.events,
      chaos: {
        list: () => this.chaos.list(),
        inject: async (request, report) => {
          this.#assertChaosAllowed();
          return this.chaos.inject(request, report);
        },
        heal: async (report) => this.chaos.heal(report),
      },
    }, { token: this.#controlToken, ...(this.#controlPages === undefined ? {} : { extraRoutes: this.#controlPages }) });
    await this.#writeFile(null, null);
    this.#step(`control API on ${this.#control.address} (token in .scaleout/supervisor.json)`);

    this.#engines = await startEngines({ dir: this.dir, config, env: this.#env, clock: this.#clock, onStep: (m) => this.#step(m), onEvent: (e) => this.#emit(e) });
    this.#assertRunning();

    const replicas = await this.#balancer.start();
    const balancer = replicas[0]!;
    for (const [i, replica] of replicas.entries()) {
      const name = this.#balancer.replicas()[i]!.id;
      this.#step(`${name} on http://${replica.listeners[0]} (pid ${replica.pid ?? '?'}, admin http://${replica.adminAddress})`);
    }
    this.#assertRunning();

    if (config.dns !== undefined) {
      // In this process: it only probes the balancer and answers packets. The check is an
      // HTTP GET through the balancer, since the listen socket held here accepts even
      // while the balancer process is down.
      this.#dns = await startDnsServer({
        zone: config.dns.name, listen: config.dns.listen, balancers: this.#balancer.listeners(),
        health: { path: config.app.healthPath },
        ...(config.dns.ttlSec === undefined ? {} : { ttlSec: config.dns.ttlSec }),
      }, { log: (event) => this.#emit({ level: event.kind === 'balancer-down' ? 'warn' : 'info', message: formatDnsEvent(event) }) });
      this.#step(`dns for ${config.dns.name} on ${this.#dns.address} (UDP and TCP)`);
    }

    if (this.#static !== undefined) {
      // Before the app: from its first request on, pre-rendered pages are served as files.
      await mkdir(this.#staticDir!, { recursive: true });
      await this.#static.start((event) => this.#emit(event));
      this.#step(`static tier: ${config.static!.paths.join(', ')} from ${this.#staticDir} (${config.static!.instances} static server(s); a page not there goes to the app)`);
    }
    const instances = await this.#apps.start(image.buildId, (instance) => this.#emit(instanceReady(instance)));
    for (const workers of this.#workers) await workers.start(image.buildId);

    if (config.balancer.vip !== undefined) {
      // Last: this machine asks for the floating address only once it can serve.
      const [host, port] = splitHostPort(balancer.listeners[0]!);
      this.#vip = new FloatingAddress({
        vip: config.balancer.vip,
        check: { host: host === '0.0.0.0' ? '127.0.0.1' : host, port, path: config.app.healthPath },
        dir: join(this.#stateDir, 'vip'),
        restart: config.app.restart,
        emit: (event) => this.#emit(event),
      });
      await this.#vip.start();
      this.#step(`keepalived for ${config.balancer.vip.address} on ${config.balancer.vip.interface} (priority ${config.balancer.vip.priority})`);
    }

    this.#state = 'running';
    this.#startAutoscale();
    const summary: UpSummary = {
      appUrl: `http://${balancer.listeners[0]}/`,
      appUrls: replicas.map((r) => `http://${r.listeners[0]}/`),
      ...(this.#dns === undefined || config.dns === undefined ? {} : { dns: { name: config.dns.name, address: this.#dns.address } }),
      adminUrl: `http://${balancer.adminAddress}/`,
      ...(this.#controlPages === undefined ? {} : { dashboardUrl: `http://${this.#control.address}${this.#controlPages.path}` }),
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
      ...(balancer.affinity === 'table' ? { affinity: this.#stickTableOptions() } : {}),
    };
  }

  /** Saved every second to the replica's folder in `.scaleout/`: a SIGKILL loses at most that. */
  #stickTableOptions(): NonNullable<PoolOptionsInput['affinity']> {
    const table = this.config.balancer.stickTable;
    return {
      type: 'table',
      key: table?.key ?? { on: 'ip' },
      saveIntervalMs: STICK_TABLE_SAVE_INTERVAL_MS,
      ...(table?.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: table.idleTimeoutMs }),
      ...(table?.maxEntries === undefined ? {} : { maxEntries: table.maxEntries }),
    };
  }

  // ── instances ────────────────────────────────────────────────────────────────

  /** An app instance, or a worker (`entry`, `extraEnv`) of the same build and environment. */
  async #spawn(id: string, buildId: string, entry = this.config.app.entry, extraEnv: Record<string, string> = {}): Promise<AppProcess> {
    const cwd = await unpackImage(this.dir, buildId);
    const session = this.#secrets!.session;
    return AppProcess.spawn({
      id,
      buildId,
      cwd,
      entry,
      logFile: join(this.#logDir, `${id}.log`),
      env: {
        ...this.#env,
        ...this.config.app.env,
        ...this.#engines?.env(),
        // The instance's id, build, port and host are added by AppProcess.
        ...formatInstanceEnv({ sessionKeys: session, ...(this.#staticDir === undefined ? {} : { staticDir: this.#staticDir }) }),
        ...extraEnv,
      },
    });
  }

  /** A static server: scaleout's own code, the static tier's folder, no engines. */
  async #spawnStatic(id: string, extraEnv: Record<string, string>): Promise<AppProcess> {
    return AppProcess.spawn({
      id,
      buildId: 'scaleout',
      cwd: this.dir,
      entry: staticChildEntry(),
      logFile: join(this.#logDir, `${id}.log`),
      env: { ...this.#env, ...formatInstanceEnv({ staticDir: this.#staticDir! }), ...extraEnv },
    });
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

  /** Chaos runs beside other operations (a fault during a deploy is the point), but not while starting or stopping. */
  #assertChaosAllowed(): void {
    if (this.#state !== 'running') throw this.#state === 'starting' ? new OperationInProgressError('startup') : new SupervisorStoppingError();
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
      const result = await deploy(this.#deployHost(), strategy ?? this.config.deploy.strategy, image.buildId, tee);
      // Workers run the build the instances now run; old workers finish or return their jobs.
      for (const workers of this.#workers) {
        if (workers.buildId === image.buildId) continue;
        const rolled = await workers.roll(image.buildId, tee);
        result.started.push(...rolled.started);
        result.stopped.push(...rolled.stopped);
      }
      return result;
    });
  }

  #deployHost(): DeployHost {
    return {
      buildId: () => this.#apps.buildId!,
      pool: () => this.#apps.pool,
      desired: () => this.#apps.desired,
      active: () => this.#apps.active(),
      createInstance: (buildId, pool) => this.#apps.create(buildId, pool),
      forget: (instance) => this.#apps.forget(instance),
      admin: () => this.#balancer.admin!,
      poolOptions: (servers) => this.#poolOptions(servers),
      switchTo: (buildId, pool) => this.#apps.switchTo(buildId, pool),
      routes: (pool) => staticRoutes(this.config.static, pool) ?? [{ pool }],
      assertRunning: () => this.#assertRunning(),
    };
  }

  /**
   * Starts or stops processes of `role` until `count` run (stopping drains first).
   * Only scalable roles (`app`, `worker:<name>`) may be scaled; the error lists them.
   */
  scale(role: string, count: number, report: (event: RuntimeEvent) => void = () => {}): Promise<ScaleResult> {
    const groups = this.#groups();
    const group = groups.find((g) => g.role === role);
    if (group === undefined || !isScalable(group)) {
      const scalable = groups.filter(isScalable).map((g) => g.role);
      return Promise.reject(new ScaleRequestError(`"${role}" ${group === undefined ? 'is not a role of this deployment' : 'cannot be scaled'}; scalable roles: ${scalable.join(', ')}`));
    }
    try {
      group.checkCount(count);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.#exclusive('scale', report, (tee) => group.scale(count, tee));
  }

  /** `scaleout db rebuild|failover` and `scaleout reshard`, one operation at a time like deploys. */
  db(request: DbRequest, report: (event: RuntimeEvent) => void = () => {}): Promise<unknown> {
    return this.#exclusive(request.action === 'reshard' ? 'reshard' : `db ${request.action}`, report, async (tee) => {
      if (request.action === 'rebuild') return this.#engines!.rebuild(request.node, tee);
      if (request.action === 'failover') return this.#engines!.switchover(tee);
      return reshardApp(this.config.db.shards, this.#engines!.primaryUrl(), request, tee);
    });
  }

  /**
   * Acts on one process by id: `kill` sends SIGKILL and `restart` SIGTERM, and
   * supervision restarts it as after any crash (so both show as exit and restart
   * events); `drain` takes an app instance out of its balancer pool until it restarts.
   */
  async processAction(id: string, action: ProcessAction, report: (event: RuntimeEvent) => void = () => {}): Promise<{ id: string; action: ProcessAction; pid: number | null }> {
    const target = this.status().processes.find((p) => p.id === id);
    if (target === undefined) throw new ProcessActionError(`no process "${id}"; \`scaleout status\` lists the ids`);
    if (target.role === 'supervisor') throw new ProcessActionError('the supervisor cannot act on itself; stop it with Ctrl-C');
    if (action === 'drain') {
      if (target.role !== 'app' || this.#balancer.admin === undefined) throw new ProcessActionError(`only app instances can be drained, not ${target.role} "${id}"`);
      report(this.#emit({ source: id, level: 'info', message: `draining ${id} (out of pool ${target.pool ?? this.#apps.pool} until it restarts)` }));
      await this.#balancer.admin.drain(target.pool ?? this.#apps.pool, id);
      return { id, action, pid: target.pid };
    }
    if (target.pid === null) throw new ProcessActionError(`${id} has no running process (state ${target.state})`);
    const signal = action === 'kill' ? 'SIGKILL' : 'SIGTERM';
    report(this.#emit({ source: id, level: 'warn', message: `${action} ${id}: ${signal} to pid ${target.pid} (supervision restarts it)` }));
    try {
      process.kill(target.pid, signal);
    } catch (err) {
      throw new ProcessActionError(`${id} (pid ${target.pid}) could not be signalled: ${(err as Error).message}`);
    }
    return { id, action, pid: target.pid };
  }

  /** What the pages on the control listener (the dashboard) may read and do. */
  #controlHost(): ControlHost {
    return {
      token: this.#controlToken,
      status: () => this.status(),
      events: this.events,
      balancerSnapshot: async () => this.#balancer.admin?.snapshot(),
      scale: (role, count) => this.scale(role, count),
      deploy: () => this.deploy(undefined),
      processAction: (id, action) => this.processAction(id, action),
      queues: () => this.#readQueueStats(),
      chaos: {
        list: () => this.chaos.list(),
        inject: async (request) => {
          this.#assertChaosAllowed();
          return this.chaos.inject(request);
        },
        heal: () => this.chaos.heal(),
      },
    };
  }

  async #readQueueStats(): Promise<QueueStats[]> {
    const queues = Object.entries(this.config.workers ?? {}).flatMap(([name, worker]) => {
      const names = worker.queues ?? worker.autoscale?.queues ?? [];
      return names.length === 0 ? [] : [{ role: `worker:${name}`, queues: names, prefix: worker.backendPrefix ?? worker.autoscale?.backendPrefix }];
    });
    if (queues.length === 0 || this.#state !== 'running') return [];
    this.#queueStats ??= new QueueStatsReader((prefix) => openCountingBackend(this.#engines?.profile ?? null, this.#engines?.env() ?? {}, prefix));
    return this.#queueStats.read(queues);
  }

  // ── status and stopping ──────────────────────────────────────────────────────

  status(): RuntimeStatus {
    const balancer = this.#balancer.run;
    const processes: ProcessStatus[] = [
      {
        role: 'supervisor', id: 'supervisor', pid: process.pid, address: this.#control?.address ?? null, buildId: this.#apps.buildId ?? null,
        state: this.#state === 'running' ? 'running' : this.#state === 'starting' ? 'starting' : 'stopping',
        detail: `control API, desired app instances: ${this.#apps.desired}`,
      },
      ...this.#groups().flatMap((group) => group.processes()),
    ];
    processes.sort(compareProcesses);
    return {
      dir: this.dir,
      state: this.#state,
      buildId: this.#apps.buildId ?? null,
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
    await Promise.all(this.#autoscalers.splice(0).map((a) => a.stop()));
    await Promise.all(this.#queueDepths.splice(0).map((d) => d.close().catch(() => undefined)));
    await this.#queueStats?.close();
    // First: a peer takes the floating address while this machine still serves.
    await this.#vip?.stop();
    // Stopped processes must run again to stop gracefully.
    await this.chaos.heal().catch(() => undefined);
    const instances = this.#apps.size;
    if (instances > 0) this.#emit({ level: 'info', message: `draining and stopping ${instances} instance(s)` });
    await this.#apps.stop();
    // A startup in progress notices the stop at its next step; wait for it to let go.
    await this.#startup?.catch(() => undefined);
    await this.#apps.stop();
    await this.#dns?.close();
    this.#dns = undefined;
    await this.#static?.stop();
    await Promise.all(this.#workers.map((w) => w.stop()));
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

  /** `autoscale` of the app and of workers: each role follows its metric (see autoscaler.ts). */
  #startAutoscale(): void {
    const { app } = this.config;
    if (app.autoscale !== undefined) {
      const cpu = new CpuSampler();
      const inService = (): Instance[] => this.#apps.active().filter((i) => i.inPool);
      const readCpu = async (): Promise<number | undefined> => {
        const figures = [...cpu.sample(inService().flatMap((i) => (i.pid === undefined ? [] : [i.pid]))).values()];
        return figures.length === 0 ? undefined : figures.reduce((a, b) => a + b, 0) / figures.length;
      };
      // The app pool's p99 over the balancers' last 10 s (with replicas, the slowest
      // replica's). No exchange in the window reads as 0: nothing waits, so scale in.
      const readP99 = async (): Promise<number | undefined> => (await this.#balancer.admin?.snapshot())?.pools[this.#apps.pool]?.latency.p99Ms;
      this.#autoscale(this.#apps.role, app.autoscale, app.autoscale.queues, () => this.#apps.active().length, app.autoscale.target.p99Ms === undefined ? readCpu : readP99);
    }
    for (const workers of this.#workers) {
      const { autoscale, queues, backendPrefix } = this.config.workers[workers.role.slice('worker:'.length)]!;
      if (autoscale !== undefined) {
        const config = { ...autoscale, backendPrefix: autoscale.backendPrefix ?? backendPrefix };
        this.#autoscale(workers.role, config, autoscale.queues ?? queues, () => workers.activeCount, undefined);
      }
    }
  }

  #autoscale(role: string, config: AutoscaleConfig, queues: string[] | undefined, count: () => number, own: (() => Promise<number | undefined>) | undefined): void {
    const metric = config.target.cpu !== undefined ? 'cpu' : config.target.p99Ms !== undefined ? 'p99Ms' : 'queueDepth';
    let read = own;
    if (metric === 'queueDepth') {
      const { profile } = this.#engines ?? { profile: null };
      const opened = openQueueDepth(profile, this.#engines?.env() ?? {}, queues!, config.backendPrefix).then((depth) => {
        // A stop that came first has closed the others already.
        if (this.#state === 'running') this.#queueDepths.push(depth);
        else void depth.close().catch(() => undefined);
        return depth;
      });
      opened.catch((err: unknown) => this.#emit({ level: 'warn', source: role, message: `autoscale ${role} cannot read its queues: ${(err as Error).message}` }));
      // Jobs waiting per process; with none running, the policy sees any waiting job as too many.
      read = async () => {
        const waiting = await (await opened).read();
        const n = count();
        return n === 0 ? waiting : waiting / n;
      };
    }
    const autoscaler = new Autoscaler({
      role, config, metric, count, read: read!,
      scale: (to) => this.scale(role, to),
      clock: this.#clock,
      emit: (event) => this.#emit(event),
    });
    autoscaler.start();
    this.#autoscalers.push(autoscaler);
    const target = metric === 'cpu' ? `cpu ${config.target.cpu}% of a core each` : metric === 'p99Ms' ? `p99 ${config.target.p99Ms} ms through the balancer` : `${config.target.queueDepth} waiting jobs each in ${queues!.join(', ')}`;
    this.#step(`autoscale ${role}: ${config.min}-${config.max}, target ${target}, cooldown ${config.cooldownMs} ms`);
  }

  /** Forced stop: SIGKILL every process now (a second Ctrl-C). Synchronous. */
  kill(): void {
    this.#state = 'stopping';
    for (const autoscaler of this.#autoscalers.splice(0)) void autoscaler.stop();
    for (const depth of this.#queueDepths.splice(0)) void depth.close().catch(() => undefined);
    void this.#queueStats?.close();
    this.#vip?.kill();
    this.chaos.healSync();
    this.#apps.kill();
    for (const workers of this.#workers) workers.kill();
    this.#static?.kill();
    this.#balancer.kill();
    void this.#dns?.close();
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

/** `host:port` (a listener) as host and port. */
function splitHostPort(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon).replace(/^\[|\]$/g, ''), Number(address.slice(colon + 1))];
}
