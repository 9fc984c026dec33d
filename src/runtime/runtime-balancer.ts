import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BalancerEvent, PoolOptionsInput, RouteOptions } from '../balancer/index.js';
import type { Clock } from '../internal/clock.js';
import type { SigningKey } from './secrets.js';
import { BalancerAdminClient } from './balancer-admin-client.js';
import { BalancerProcess } from './balancer-process.js';
import type { LoadedBalancer } from './balancer-process.js';
import { fromBalancerEvent } from './events.js';
import type { SupervisorEvent } from './instance.js';
import { ListenSocket } from './listen-socket.js';
import { assertPortFree } from './port-check.js';
import { writePrivateFile } from './private-file.js';
import type { ProcessGroup } from './process-group.js';
import { SupervisedProcess } from './supervised-process.js';
import type { ProcessStatus } from './status.js';

/** The balancer gets this long to finish in-flight requests when it stops. @defaultValue 5000 */
export const BALANCER_SHUTDOWN_MS = 5_000;
/**
 * A crashed balancer is an outage: the first crashes of a series restart it at once,
 * only then does it back off (`app.restart`). @defaultValue 3
 */
export const BALANCER_IMMEDIATE_RESTARTS = 3;

export interface RuntimeBalancerOptions {
  /** Its id in `scaleout status` and the name of its files. @defaultValue 'balancer' */
  id?: string;
  /** A `balancer.listen` address and the admin address of the config. */
  listen: string;
  admin: string;
  /** `balancer.workers`: processes sharing the client socket, under the balancer child; unset: the child serves alone. */
  workers?: number | 'auto' | undefined;
  /** `.scaleout/`: where `<id>.json` is written, `logs/<id>.log` and `<id>/` (its stick tables). */
  stateDir: string;
  /** Admin addresses of the other replicas, its stick table peers (see balancer-group.ts). */
  peers?: string[];
  adminToken: string;
  /** Keys of the sticky cookie, kept across restarts. */
  keys: () => SigningKey[];
  /** The pool as the supervisor knows it now: what a balancer (re)started now gets. */
  pool: () => { name: string; options: PoolOptionsInput };
  /** More pools (the static tier's), as the supervisor knows them now. @defaultValue none */
  extraPools?: () => Record<string, PoolOptionsInput>;
  /** The routes, when there is more than the app's pool (which then takes everything). */
  routes?: () => RouteOptions[] | undefined;
  /** Restart backoff after the immediate restarts (`app.restart`). */
  restart: { initialMs: number; maxMs: number };
  clock: Clock;
  emit: (event: SupervisorEvent) => void;
}

/**
 * The balancer of `scaleout up`: its client socket, bound here and kept across
 * restarts (see `listen-socket.ts`); the balancer child, restarted when it crashes
 * (at once for the first {@link BALANCER_IMMEDIATE_RESTARTS}); and a spare child with
 * its code loaded, so that a restart skips Node's start.
 *
 *     bind ─► start ─► running ─crash─► restart in the spare (socket kept) ─► running ...
 *                                             └─► load the next spare
 */
export class RuntimeBalancer implements ProcessGroup {
  readonly role = 'balancer';
  readonly id: string;
  readonly #options: RuntimeBalancerOptions;
  readonly #logFile: string;
  #socket: ListenSocket | undefined;
  #supervised: SupervisedProcess<BalancerProcess> | undefined;
  #admin: BalancerAdminClient | undefined;
  #spare: Promise<LoadedBalancer | undefined> | undefined;
  #spareLoaded = false;
  #stopped = false;

  constructor(options: RuntimeBalancerOptions) {
    this.#options = options;
    this.id = options.id ?? 'balancer';
    this.#logFile = join(options.stateDir, 'logs', `${this.id}.log`);
  }

  /** Binds the client address (a taken one fails here) and checks the admin address is free. */
  async bind(): Promise<void> {
    this.#socket = ListenSocket.bind(this.#options.listen);
    if (this.#socket === undefined) await assertPortFree('balancer.listen', this.#options.listen);
    await assertPortFree('balancer.admin', this.#options.admin);
  }

  /** Starts the balancer under supervision. */
  start(): Promise<BalancerProcess> {
    this.#supervised = new SupervisedProcess<BalancerProcess>({
      name: this.id === 'balancer' ? 'the balancer' : this.id,
      source: this.id,
      start: () => this.#spawn(),
      restart: this.#options.restart,
      immediate: BALANCER_IMMEDIATE_RESTARTS,
      restartNote: `on the same addresses${this.#socket === undefined ? '' : '; new clients wait for it'}`,
      emit: this.#options.emit,
      clock: this.#options.clock,
    });
    return this.#supervised.start();
  }

  /** The current balancer's admin API (undefined before the first start). */
  get admin(): BalancerAdminClient | undefined {
    return this.#admin;
  }

  /** The current balancer (the last one while it is being restarted). */
  get run(): BalancerProcess | undefined {
    return this.#supervised?.run;
  }

  async #spawn(): Promise<BalancerProcess> {
    // After a crash: the addresses the last one had.
    const last = this.#supervised?.run;
    const pool = this.#options.pool();
    const configFile = join(this.#options.stateDir, `${this.id}.json`);
    const stickTableDir = join(this.#options.stateDir, this.id);
    await mkdir(stickTableDir, { recursive: true, mode: 0o700 });
    const peers = this.#options.peers ?? [];
    const routes = this.#options.routes?.();
    await writePrivateFile(configFile, `${JSON.stringify({
      listen: last?.listeners[0] ?? this.#socket?.address ?? this.#options.listen,
      admin: last?.adminAddress ?? this.#options.admin,
      keys: this.#options.keys(),
      timeouts: { shutdownMs: BALANCER_SHUTDOWN_MS },
      ...(this.#options.workers === undefined ? {} : { workers: this.#options.workers }),
      pools: { [pool.name]: pool.options, ...this.#options.extraPools?.() },
      ...(routes === undefined ? {} : { routes }),
      stickTableDir,
      ...(peers.length === 0 ? {} : { peers: { addresses: peers } }),
    }, null, 2)}\n`);
    const spare = await this.#spare;
    this.#spare = undefined;
    this.#spareLoaded = false;
    const { adminToken } = this.#options;
    const onEvent = (event: BalancerEvent): void => {
      const mapped = fromBalancerEvent(event);
      // Which replica said it, when there are several.
      if (mapped !== undefined) this.#options.emit(mapped.source === 'balancer' ? { ...mapped, source: this.id } : mapped);
    };
    const balancer = await BalancerProcess.start({ configFile, adminToken, logFile: this.#logFile, listenSocket: this.#socket, loaded: spare, onEvent });
    this.#admin = new BalancerAdminClient(balancer.adminAddress, adminToken);
    if (!this.#stopped) {
      const loading = BalancerProcess.load({ adminToken, logFile: this.#logFile }).catch(() => undefined);
      this.#spare = loading;
      void loading.then((loaded) => {
        if (this.#spare === loading) this.#spareLoaded = loaded !== undefined;
        if (this.#stopped) loaded?.child.kill('SIGKILL');
      });
    }
    return balancer;
  }

  processes(): ProcessStatus[] {
    const status = this.status(this.#options.pool().name);
    return status === undefined ? [] : [status];
  }

  /** Its line in `scaleout status`, `pool` named in the detail. */
  status(pool: string): ProcessStatus | undefined {
    const supervised = this.#supervised;
    const balancer = supervised?.run;
    if (supervised === undefined || balancer === undefined) return undefined;
    const lastExit = supervised.lastExit;
    return {
      role: 'balancer', id: this.id, pid: balancer.running ? balancer.pid ?? null : null, address: balancer.listeners[0] ?? null, buildId: null,
      state: supervised.state,
      detail: `admin ${balancer.adminAddress}, pool ${pool}${this.#options.workers === undefined ? '' : `, ${this.#options.workers} workers`}${this.#spareLoaded ? ', spare loaded' : ''}${lastExit === undefined ? '' : `, last exit: ${lastExit}`}`,
      restarts: supervised.restarts,
    };
  }

  /**
   * Graceful stop. The client socket goes first: once the balancer closes its
   * listener on SIGTERM, new clients are refused at once instead of waiting for a
   * balancer that is not coming back.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#socket?.close();
    (await this.#spare)?.child.kill('SIGKILL');
    await this.#supervised?.stop();
  }

  /** SIGKILL now (synchronous). */
  kill(): void {
    this.#stopped = true;
    this.#supervised?.kill();
    void this.#spare?.then((spare) => spare?.child.kill('SIGKILL'));
    this.#socket?.close();
  }
}
