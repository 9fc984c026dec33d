import type { BalancerSnapshot, LatencySummary, PoolOptionsInput, RouteOptions, ServerSnapshot } from '../balancer/index.js';
import { freePorts } from './engines/free-port.js';
import type { BalancerAdmin } from './balancer-admin-client.js';
import type { BalancerProcess } from './balancer-process.js';
import { BalancerAdminError } from './errors.js';
import type { SupervisorEvent } from './events.js';
import type { ProcessGroup } from './process-group.js';
import { RuntimeBalancer } from './runtime-balancer.js';
import type { RuntimeBalancerOptions } from './runtime-balancer.js';
import type { ProcessStatus } from './status.js';

/** A restarted replica's pool is compared with the supervisor's again after this. @defaultValue 1000 */
const RECONCILE_AGAIN_MS = 1_000;

export interface BalancerGroupOptions extends Omit<RuntimeBalancerOptions, 'id' | 'listen' | 'admin' | 'peers'> {
  /** One client address per replica (`balancer.listen` once the config is validated). */
  listen: string[];
  /** The first replica's admin address; the next ones take the next ports (port 0: free ones). */
  admin: string;
}

/**
 * The `balancer` role: one balancer, or `balancer.replicas` of them, each its own
 * process (a {@link RuntimeBalancer}: its client socket held here, restarts, a spare)
 * on its own address. DNS (`dns:`) or a floating address spreads clients over them.
 *
 *     supervisor ─► balancer-1 (127.0.0.2:8080) ◄─┐ stick table peers:
 *                ─► balancer-2 (127.0.0.3:8080) ◄─┘ each pushes to the other's admin API
 *
 * Every replica gets the same pools, routes and cookie keys; membership changes go to
 * all of them through {@link BalancerAdminGroup}. One replica keeps the id `balancer`
 * and everything as before.
 */
export class BalancerGroup implements ProcessGroup {
  readonly role = 'balancer';
  readonly #options: BalancerGroupOptions;
  #replicas: RuntimeBalancer[] = [];

  constructor(options: BalancerGroupOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#options.listen.length;
  }

  /** Binds every client address, picks the admin addresses and checks they are free. */
  async bind(): Promise<void> {
    const { listen } = this.#options;
    const admins = listen.length === 1 ? [this.#options.admin] : await replicaAdminAddresses(this.#options.admin, listen.length);
    // Peers replicate stick tables: without one there is nothing to send.
    const peers = this.#options.pool().options.affinity?.type === 'table';
    this.#replicas = listen.map((address, i) => new RuntimeBalancer({
      ...this.#options,
      emit: listen.length === 1 ? this.#options.emit : (event) => this.#onReplicaEvent(`balancer-${i + 1}`, event),
      id: listen.length === 1 ? 'balancer' : `balancer-${i + 1}`,
      listen: address,
      admin: admins[i]!,
      peers: peers ? admins.filter((_, j) => j !== i) : [],
    }));
    for (const replica of this.#replicas) await replica.bind();
  }

  /** Starts every replica under supervision; resolves once all serve. */
  async start(): Promise<BalancerProcess[]> {
    const started = await Promise.allSettled(this.#replicas.map((r) => r.start()));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return started.map((s) => (s as PromiseFulfilledResult<BalancerProcess>).value);
  }

  #onReplicaEvent(id: string, event: SupervisorEvent): void {
    // Each replica checks the servers itself: say whose view a server's new state is.
    this.#options.emit('kind' in event && event.kind === 'server-state' ? { ...event, reason: `${event.reason}, seen by ${id}` } : event);
    if (!('kind' in event) || event.kind !== 'process-restarted') return;
    const replica = this.#replicas.find((r) => r.id === event.source);
    // Once now and once a little later: an instance that joined while the replica was down
    // may have been missing from the pool it was started with, and may still be in flight now.
    for (const delayMs of [0, RECONCILE_AGAIN_MS]) {
      setTimeout(() => {
        if (replica !== undefined) void this.#reconcile(replica);
      }, delayMs).unref();
    }
  }

  /**
   * Adds to a restarted replica the servers the supervisor has in the pool and the
   * replica lacks (it missed their join while it was down). Never removes: a server
   * joining right now is on some replicas before the supervisor counts it in.
   */
  async #reconcile(replica: RuntimeBalancer): Promise<void> {
    const admin = replica.admin;
    if (admin === undefined) return;
    const pool = this.#options.pool();
    try {
      const have = new Set((await admin.snapshot()).pools[pool.name]?.servers.map((s) => s.id) ?? []);
      for (const server of pool.options.servers ?? []) {
        if (have.has(server.id)) continue;
        await admin.addServer(pool.name, { id: server.id, address: String(server.address) });
        this.#options.emit({ level: 'info', source: replica.id, message: `${server.id} added to ${replica.id}, which missed its join while it was down` });
      }
    } catch (err) {
      // 409: it arrived meanwhile. Anything else: the next restart tries again.
      if (!(err instanceof BalancerAdminError && err.status === 409)) {
        this.#options.emit({ level: 'warn', source: replica.id, message: `could not bring ${replica.id}'s pool up to date: ${(err as Error).message}` });
      }
    }
  }

  replicas(): readonly RuntimeBalancer[] {
    return this.#replicas;
  }

  /** The first replica's process: the app's URL in `scaleout status` points at it. */
  get run(): BalancerProcess | undefined {
    return this.#replicas[0]?.run;
  }

  /** Every replica's client address, in order (what DNS answers with). */
  listeners(): string[] {
    return this.#replicas.map((r) => r.run?.listeners[0] ?? this.#options.listen[this.#replicas.indexOf(r)]!);
  }

  /** Every replica's admin API at once; the replica's own client when there is one. Undefined before the first start. */
  get admin(): BalancerAdmin | undefined {
    if (this.#replicas.length === 1) return this.#replicas[0]!.admin;
    if (this.#replicas.every((r) => r.admin === undefined)) return undefined;
    return new BalancerAdminGroup(this.#replicas, this.#options.emit);
  }

  processes(): ProcessStatus[] {
    const pool = this.#options.pool().name;
    return this.#replicas.flatMap((r) => {
      const status = r.status(pool);
      return status === undefined ? [] : [status];
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.#replicas.map((r) => r.stop()));
  }

  kill(): void {
    for (const replica of this.#replicas) replica.kill();
  }
}

/**
 * Admin addresses of `count` replicas: from the configured port up, or free ports
 * picked now when it is 0 (the replicas must know each other's before they start:
 * they are each other's stick table peers).
 */
async function replicaAdminAddresses(first: string, count: number): Promise<string[]> {
  const colon = first.lastIndexOf(':');
  const host = first.slice(0, colon);
  const port = Number(first.slice(colon + 1));
  const ports = port === 0 ? await freePorts(count, host.replace(/^\[(.*)\]$/, '$1')) : Array.from({ length: count }, (_, i) => port + i);
  return ports.map((p) => `${host}:${p}`);
}

/** A replica that cannot be reached (stopped, or restarting) as opposed to one that refused the request. */
function unreachable(err: unknown): boolean {
  return err instanceof BalancerAdminError && err.status === 0;
}

/**
 * One admin request to every replica. A replica that is down (being restarted) is
 * passed over with a warning: a restarted balancer gets the pool as the supervisor
 * knows it. Any other failure, or no replica answering, fails the request.
 */
export class BalancerAdminGroup implements BalancerAdmin {
  readonly #replicas: readonly RuntimeBalancer[];
  readonly #emit: (event: SupervisorEvent) => void;

  constructor(replicas: readonly RuntimeBalancer[], emit: (event: SupervisorEvent) => void) {
    this.#replicas = replicas;
    this.#emit = emit;
  }

  async #all<T>(what: string, call: (admin: NonNullable<RuntimeBalancer['admin']>) => Promise<T>, quiet = false): Promise<T[]> {
    const targets = this.#replicas.filter((r) => r.admin !== undefined);
    const settled = await Promise.allSettled(targets.map((r) => call(r.admin!)));
    const values: T[] = [];
    let firstError: unknown;
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') {
        values.push(s.value);
        return;
      }
      if (!unreachable(s.reason)) {
        firstError ??= s.reason;
        return;
      }
      if (!quiet) this.#emit({ level: 'warn', source: targets[i]!.id, message: `${targets[i]!.id} missed "${what}" (${(s.reason as Error).message}); it gets the pool as the supervisor knows it when it restarts` });
    });
    if (firstError !== undefined) throw firstError;
    if (values.length === 0) throw (settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined)?.reason ?? new BalancerAdminError(0, `${what}: no balancer is running`);
    return values;
  }

  /** The replicas' snapshots as one: counters and in-flight requests added up per server. */
  async snapshot(): Promise<BalancerSnapshot> {
    return mergeSnapshots(await this.#all('GET /servers', (a) => a.snapshot(), true));
  }

  /** The server as every replica sees it: in flight added up, drained only when drained everywhere. */
  async serverState(pool: string, id: string): Promise<ServerSnapshot | undefined> {
    const views = (await this.#all(`state of ${id}`, (a) => a.serverState(pool, id), true)).filter((v): v is ServerSnapshot => v !== undefined);
    if (views.length === 0) return undefined;
    const open = views.find((v) => v.state !== 'drained') ?? views[0]!;
    return { ...open, inFlight: views.reduce((n, v) => n + v.inFlight, 0) };
  }

  async addServer(pool: string, server: { id: string; address: string; weight?: number }): Promise<void> {
    await this.#all(`add ${server.id} to ${pool}`, (a) => a.addServer(pool, server));
  }

  async removeServer(pool: string, id: string): Promise<void> {
    await this.#all(`remove ${id} from ${pool}`, (a) => a.removeServer(pool, id));
  }

  async drain(pool: string, id: string): Promise<void> {
    await this.#all(`drain ${id}`, (a) => a.drain(pool, id));
  }

  async addPool(name: string, options: PoolOptionsInput): Promise<void> {
    await this.#all(`add pool ${name}`, (a) => a.addPool(name, options));
  }

  async removePool(name: string): Promise<void> {
    await this.#all(`remove pool ${name}`, (a) => a.removePool(name));
  }

  async setRoutes(routes: RouteOptions[]): Promise<void> {
    await this.#all('set routes', (a) => a.setRoutes(routes));
  }
}

/** Several balancers' snapshots as one deployment's: the listeners of all, counters summed. */
/**
 * Two replicas' latency windows as one. Quantiles cannot be added: this keeps the
 * slower replica's (an upper bound of the true merged quantile), and sums the counts.
 */
function mergeLatency(a: LatencySummary, b: LatencySummary): LatencySummary {
  if (a.count === 0) return { ...b };
  if (b.count === 0) return { ...a };
  return { p50Ms: Math.max(a.p50Ms, b.p50Ms), p99Ms: Math.max(a.p99Ms, b.p99Ms), count: a.count + b.count, windowMs: a.windowMs };
}

export function mergeSnapshots(snapshots: BalancerSnapshot[]): BalancerSnapshot {
  const [first, ...rest] = snapshots;
  if (first === undefined) throw new Error('mergeSnapshots needs at least one snapshot');
  const merged: BalancerSnapshot = structuredClone(first);
  for (const other of rest) {
    merged.listeners.push(...other.listeners);
    merged.connections += other.connections;
    for (const [name, pool] of Object.entries(other.pools)) {
      const into = merged.pools[name];
      if (into === undefined) {
        merged.pools[name] = structuredClone(pool);
        continue;
      }
      into.exchanges += pool.exchanges;
      into.latency = mergeLatency(into.latency, pool.latency);
      for (const server of pool.servers) {
        const same = into.servers.find((s) => s.id === server.id);
        if (same === undefined) {
          into.servers.push(structuredClone(server));
          continue;
        }
        same.inFlight += server.inFlight;
        same.latency = mergeLatency(same.latency, server.latency);
        for (const [key, value] of Object.entries(server.counters)) {
          (same.counters as unknown as Record<string, number>)[key] = ((same.counters as unknown as Record<string, number>)[key] ?? 0) + value;
        }
      }
    }
  }
  return merged;
}
