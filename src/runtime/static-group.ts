import { fileURLToPath } from 'node:url';
import type { PoolOptionsInput, RouteOptions } from '../balancer/index.js';
import type { Clock } from '../internal/clock.js';
import type { AppProcess } from './app-process.js';
import type { BalancerAdmin } from './balancer-admin-client.js';
import { MAX_INSTANCES } from './config.js';
import type { RuntimeConfig } from './config.js';
import { ScaleRequestError } from './errors.js';
import type { SupervisorEvent } from './events.js';
import { Instance } from './instance.js';
import type { ScalableGroup, ScaleResult } from './process-group.js';
import type { ProcessStatus } from './status.js';

/** The balancer pool of the static servers. @defaultValue 'static' */
export const STATIC_POOL_NAME = 'static';
/** The static tier's folder inside `.scaleout/`. @defaultValue 'static' */
export const STATIC_DIR_NAME = 'static';
/** Static servers run scaleout's code, not the app's: they have no build of the app. */
const STATIC_BUILD = 'scaleout';

/** The variables the supervisor adds for a static server (besides PORT, HOST, INSTANCE_ID, STATIC_DIR). */
export const STATIC_SERVER_ENV = {
  healthPath: 'STATIC_HEALTH_PATH',
  cacheControl: 'STATIC_CACHE_CONTROL',
} as const;

export type StaticConfig = NonNullable<RuntimeConfig['static']>;

/** The child entry next to this module (`.ts` under tsx, `.js` once built). */
export function staticChildEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return here.replace(/static-group\.([cm]?[jt]s)$/, 'static-child.$1');
}

/**
 * The balancer's routes with a static tier: each pre-rendered prefix goes to the
 * static pool first and falls through to `appPool` on a 404 (nginx's
 * `try_files $uri @app`); everything else goes to the app.
 */
export function staticRoutes(config: StaticConfig | undefined, appPool: string): RouteOptions[] | undefined {
  if (config === undefined) return undefined;
  return [...config.paths.map((pathPrefix) => ({ pathPrefix, pool: STATIC_POOL_NAME, fallthrough: true })), { pool: appPool }];
}

export interface StaticGroupOptions {
  config: StaticConfig;
  app: RuntimeConfig['app'];
  stopGraceMs: number;
  drainTimeoutMs: number;
  admin: () => BalancerAdmin;
  /** Spawns static server `id` (the supervisor's environment plus `env`). */
  spawn: (id: string, env: Record<string, string>) => Promise<AppProcess>;
  assertRunning: () => void;
  clock: Clock;
  emit: (event: SupervisorEvent) => void;
}

/**
 * The `static` role: static servers (`static-<n>`), each an {@link Instance} in the
 * balancer pool `static`: health-checked before it joins, restarted with backoff,
 * drained before it stops. They serve whatever generation the pointer names, so a
 * deploy does not restart them.
 */
export class StaticGroup implements ScalableGroup {
  readonly role = 'static';
  readonly #options: StaticGroupOptions;
  readonly #servers = new Map<string, Instance>();
  #desired: number;
  #nextNumber = 1;

  constructor(options: StaticGroupOptions) {
    this.#options = options;
    this.#desired = options.config.instances;
  }

  /** The pool as the balancer should have it now (a restarted balancer gets it). */
  poolOptions(): PoolOptionsInput {
    const { app } = this.#options;
    return {
      servers: [...this.#servers.values()].filter((s) => s.inPool && s.address !== undefined).map((s) => ({ id: s.id, address: s.address! })),
      health: { path: app.healthPath, intervalMs: 1000, timeoutMs: 1000 },
      // A file server warms up in no time.
      slowStartMs: 0,
      ...(this.#options.config.cache === false ? {} : { cache: this.#options.config.cache }),
    };
  }

  #create(): Instance {
    this.#options.assertRunning();
    const id = `static-${this.#nextNumber++}`;
    const { config, app } = this.#options;
    const env: Record<string, string> = { [STATIC_SERVER_ENV.healthPath]: app.healthPath };
    if (config.cacheControl !== undefined) env[STATIC_SERVER_ENV.cacheControl] = config.cacheControl;
    const server = new Instance(id, STATIC_BUILD, STATIC_POOL_NAME, {
      admin: this.#options.admin,
      spawn: (serverId) => this.#options.spawn(serverId, env),
      healthPath: app.healthPath,
      healthTimeoutMs: app.healthTimeoutMs,
      stopGraceMs: this.#options.stopGraceMs,
      drainTimeoutMs: this.#options.drainTimeoutMs,
      restart: app.restart,
      clock: this.#options.clock,
      emit: this.#options.emit,
      role: 'static',
    });
    this.#servers.set(id, server);
    return server;
  }

  async #startOne(report: (event: SupervisorEvent) => void): Promise<Instance> {
    const server = this.#create();
    try {
      await server.start();
      this.#options.assertRunning();
      await server.join();
    } catch (err) {
      await server.retire();
      this.#servers.delete(server.id);
      throw err;
    }
    report({ kind: 'instance-ready', source: server.id, pool: STATIC_POOL_NAME, address: server.address ?? null, pid: server.pid ?? null, buildId: STATIC_BUILD });
    return server;
  }

  async start(report: (event: SupervisorEvent) => void): Promise<void> {
    const results = await Promise.allSettled(Array.from({ length: this.#desired }, () => this.#startOne(report)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  checkCount(count: number): void {
    if (!Number.isInteger(count) || count < 1 || count > MAX_INSTANCES) {
      throw new ScaleRequestError(`static=${count}: give a whole number from 1 to ${MAX_INSTANCES}`);
    }
  }

  async scale(count: number, report: (event: SupervisorEvent) => void): Promise<ScaleResult> {
    this.checkCount(count);
    const active = [...this.#servers.values()].filter((s) => !s.retiring);
    const from = active.length;
    this.#desired = count;
    if (count > from) {
      const results = await Promise.allSettled(Array.from({ length: count - from }, () => this.#startOne(report)));
      const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) {
        await Promise.all(started.map((s) => this.#retire(s, report)));
        this.#desired = from;
        throw failed.reason;
      }
      return { role: this.role, from, to: count, started: started.map((s) => s.id), stopped: [] };
    }
    const removed = active.slice(count).reverse();
    await Promise.all(removed.map((s) => this.#retire(s, report)));
    return { role: this.role, from, to: count, started: [], stopped: removed.map((s) => s.id) };
  }

  async #retire(server: Instance, report: (event: SupervisorEvent) => void): Promise<void> {
    await server.retire();
    this.#servers.delete(server.id);
    report({ kind: 'instance-stopped', source: server.id, pool: STATIC_POOL_NAME, buildId: STATIC_BUILD });
  }

  processes(): ProcessStatus[] {
    return [...this.#servers.values()].map((s) => ({ ...s.snapshot(), buildId: null, detail: `serves ${this.#options.config.paths.join(', ')}${s.snapshot().detail === undefined ? '' : `, ${s.snapshot().detail}`}` }));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#servers.values()].map((s) => s.retire()));
  }

  kill(): void {
    for (const s of this.#servers.values()) s.kill();
  }
}
