import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Clock } from '../internal/clock.js';
import { systemClock } from '../internal/clock.js';
import { Keyring } from '../internal/keyring.js';
import { resolveChunkedScannerOptions } from './http/index.js';
import { StickPeers } from './affinity/stick-peers.js';
import { DEFAULT_STICK_IDLE_TIMEOUT_MS } from './affinity/stick-table.js';
import type { PeerPush, PeerPushAnswer, PeerSnapshot } from './affinity/stick-peers.js';
import { startAdminApi } from './admin-api.js';
import type { AdminApi } from './admin-api.js';
import { AdminRequestError, BalancerConfigError } from './errors.js';
import { splitAddress } from './address.js';
import { parseBalancerOptions, parsePoolOptions, parseServerOptions, poolInputOf } from './options.js';
import type { BalancerOptions, BalancerOptionsInput, BalancerWorkersOptionsInput, PoolOptionsInput, RouteOptions, ServerOptionsInput } from './options.js';
import { Pool, serverSpecFromAddress } from './pool.js';
import type { BalancerEvent } from './events.js';
import { ClientConnection } from './proxy/client-connection.js';
import type { ProxyContext, ProxyPool } from './proxy/proxy-context.js';
import { IdleUpstreams } from './proxy/upstream.js';
import type { LatencySummary } from './latency-window.js';
import type { ResponseCacheSnapshot } from './cache/response-cache.js';
import { RouteTable } from './route-table.js';
import { BalancerWorkers } from './workers/balancer-workers.js';
import type { RouteRule } from './route-table.js';
import type { Server, ServerState } from './server.js';

export interface BalancerDeps {
  clock?: Clock;
  /** Operator-facing events (server state changes, pool warnings, shutdown). @defaultValue nothing */
  log?: (event: BalancerEvent) => void;
  /**
   * Sockets already bound elsewhere, by listener index, to listen on instead of
   * binding the listener's address: a process that outlives the balancer (the
   * runtime's supervisor) keeps the socket across balancer restarts, so clients
   * queue in the kernel instead of being refused. Anything `server.listen(handle)`
   * takes: a handle received over IPC, a `net.Server`, `{ fd }`.
   */
  listenHandles?: ReadonlyArray<object | undefined>;
  /** A stick table placed a client on a server (balancer workers share placements). */
  onStick?: (pool: string, key: string, serverId: string) => void;
  /** Health checked once for all balancer workers (see `PoolDeps.sharedHealth`), per pool. */
  sharedHealth?: {
    probe: boolean;
    onHealth?(pool: string, serverId: string, healthy: boolean, reason: string, answered: boolean): void;
    onLoad?(pool: string, serverId: string, load: number): void;
    markDown?(pool: string, serverId: string, reason: string): void;
  };
}

/** What the admin API and `scaleout status` show of one server. */
export interface ServerSnapshot {
  id: string;
  address: string;
  state: ServerState;
  weight: number;
  effectiveWeight: number;
  inFlight: number;
  load: number;
  slowStart: boolean;
  ejectedUntil: string | undefined;
  counters: Server['counters'];
  /** p50/p99 of its exchanges over the last `windowMs` (about 10 s): what autoscaling reads. */
  latency: LatencySummary;
}

/** One pool in the admin API (`GET /pools/:name`) and `scaleout status`. */
export interface PoolSnapshot {
  strategy: string;
  affinity: string;
  /** p50/p99 of every exchange of the pool over the last `windowMs`. */
  latency: LatencySummary;
  /**
   * Client exchanges that ended in this pool, whatever their end (the balancer's own
   * 502/503/504 and clients that left included): what a load generator's count is
   * checked against.
   */
  exchanges: number;
  servers: ServerSnapshot[];
  /** The pool's response cache (option `cache`): hits, misses, stores, bytes. */
  cache?: ResponseCacheSnapshot;
}

/**
 * What a balancer started now needs to serve as this one does: its pools with the
 * servers they have now (admin changes included), the routes, and the drains. Balancer
 * workers start from it, so a worker that replaces a crashed one knows every change.
 */
export interface BalancerLiveConfig {
  pools: Record<string, PoolOptionsInput>;
  routes: RouteOptions[];
  drains: Array<{ pool: string; id: string; stickyMs: number }>;
}

export interface BalancerSnapshot {
  listeners: string[];
  routes: RouteRule[];
  pools: Record<string, PoolSnapshot>;
  connections: number;
  /** Stick table peers (option `peers`), how far each is in sync. */
  peers?: PeerSnapshot[];
}

/**
 * A running balancer: listeners, pools, routes and its live state. Everything the
 * admin API can do is a method here, so embedding apps need no HTTP round trip.
 */
export class Balancer {
  readonly #options: BalancerOptions;
  readonly #clock: Clock;
  readonly #log: NonNullable<BalancerDeps['log']>;
  readonly #listenHandles: ReadonlyArray<object | undefined>;
  readonly #onStick: BalancerDeps['onStick'];
  readonly #sharedHealth: BalancerDeps['sharedHealth'];
  readonly #keyring: Keyring;
  readonly #pools = new Map<string, Pool>();
  readonly #upstreams: IdleUpstreams;
  readonly #connections = new Set<ClientConnection>();
  readonly #listeners: net.Server[] = [];
  readonly #ctx: ProxyContext;
  readonly #requestIdPrefix = randomBytes(6).toString('hex');
  #requestCount = 0;
  #routes: RouteTable;
  #sweepTimer: NodeJS.Timeout | undefined;
  #admin: AdminApi | undefined;
  readonly #peers: StickPeers | undefined;
  #closing: Promise<void> | undefined;
  /** Exchanges that ended, per pool, by status class (index 0: no status / 1xx, 1: 2xx ... 4: 5xx), for /metrics. */
  readonly exchanges = new Map<string, number[]>();

  constructor(options: BalancerOptions, deps: BalancerDeps = {}) {
    this.#options = options;
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.log ?? (() => {});
    this.#listenHandles = deps.listenHandles ?? [];
    this.#onStick = deps.onStick;
    this.#sharedHealth = deps.sharedHealth;
    this.#keyring = options.keys === undefined ? Keyring.random() : new Keyring(options.keys);
    this.#upstreams = new IdleUpstreams({
      maxIdlePerServer: options.limits.maxIdlePerServer,
      idleTimeoutMs: options.timeouts.upstreamIdleMs,
      connectTimeoutMs: options.timeouts.connectMs,
    });
    if (options.peers !== undefined && options.admin !== undefined) {
      this.#peers = new StickPeers({
        peers: options.peers.addresses,
        token: options.admin.token,
        self: () => this.adminAddress,
        syncIntervalMs: options.peers.syncIntervalMs,
        tables: () => this.#stickTables(),
        refreshMs: () => {
          let shortest = DEFAULT_STICK_IDLE_TIMEOUT_MS;
          for (const pool of this.#pools.values()) if (pool.options.affinity?.type === 'table') shortest = Math.min(shortest, pool.options.affinity.idleTimeoutMs);
          return shortest / 2;
        },
        now: () => this.#clock.now(),
        log: (message) => this.#log({ at: this.#clock.now(), source: 'balancer', kind: 'peer-state', message }),
      });
    }
    for (const [name, pool] of Object.entries(options.pools)) this.#pools.set(name, this.#makePool(name, pool));
    this.#routes = new RouteTable(options.routes ?? [{ pool: Object.keys(options.pools)[0]! }]);
    const routes = (): RouteTable => this.#routes;
    const pools = this.#pools;
    const exchanges = this.exchanges;
    this.#ctx = {
      limits: options.limits,
      chunkLimits: resolveChunkedScannerOptions({ maxLineBytes: options.limits.maxChunkLineBytes, maxTrailerBytes: options.limits.maxTrailerBytes }),
      timeouts: options.timeouts,
      upstreams: this.#upstreams,
      nowMs: this.#clock.now(),
      closing: false,
      route(host, target, method): ProxyPool | undefined {
        const name = routes().match(host, target, method);
        return name === undefined ? undefined : pools.get(name);
      },
      fallthrough(host, target): ProxyPool | undefined {
        const name = routes().fallthrough(host, target);
        return name === undefined ? undefined : pools.get(name);
      },
      nextRequestId: () => `${this.#requestIdPrefix}-${(this.#requestCount++).toString(36)}`,
      countExchange(pool, _server, status) {
        let counts = exchanges.get(pool.name);
        if (counts === undefined) exchanges.set(pool.name, counts = [0, 0, 0, 0, 0]);
        counts[status >= 200 && status < 600 ? ((status / 100) | 0) - 1 : 0]!++;
      },
    };
  }

  #makePool(name: string, given: BalancerOptions['pools'][string]): Pool {
    const dir = this.#options.stickTableDir;
    const options = given.affinity?.type === 'table' && given.affinity.file === undefined && dir !== undefined
      ? { ...given, affinity: { ...given.affinity, file: join(dir, `stick-${name}.json`) } }
      : given;
    const shared = this.#sharedHealth;
    // A placement goes to the other workers of this balancer (through the primary) and to
    // the peer balancers; either may be absent.
    const toWorkers = this.#onStick;
    const peers = this.#peers;
    const onStick = toWorkers === undefined && peers === undefined ? undefined
      : (pool: string, key: string, serverId: string, expiresAtMs: number): void => {
          toWorkers?.(pool, key, serverId);
          peers?.record(pool, key, serverId, expiresAtMs);
        };
    return new Pool(name, options, {
      ...(onStick === undefined ? {} : { onStick }),
      ...(shared === undefined ? {} : {
        sharedHealth: {
          probe: shared.probe,
          onHealth: (id, healthy, reason, answered) => shared.onHealth?.(name, id, healthy, reason, answered),
          onLoad: (id, load) => shared.onLoad?.(name, id, load),
          markDown: (id, reason) => shared.markDown?.(name, id, reason),
        },
      }),
      clock: this.#clock,
      keyring: this.#keyring,
      closeIdle: (server) => this.#upstreams.closeServer(server),
      retryInFlight: (server) => {
        for (const conn of this.#connections) conn.serverLost(server);
      },
      onEvent: (event) => {
        const at = this.#clock.now();
        this.#log('message' in event
          ? { at, source: name, kind: 'pool-warning', pool: name, message: event.message }
          : { at, source: event.server, kind: 'server-state', ...event });
      },
    });
  }

  /** Bind every listener, start health checks, then the admin API when `admin` is set. */
  async listen(): Promise<void> {
    for (const [index, listener] of this.#options.listen.entries()) {
      const { host, port } = splitAddress(listener.address);
      const handle = this.#listenHandles[index];
      const secure = listener.tls !== undefined;
      const onSocket = (socket: net.Socket): void => {
        const conn = new ClientConnection(socket, this.#ctx, secure);
        this.#connections.add(conn);
        socket.once('close', () => this.#connections.delete(conn));
      };
      const server = secure
        ? tls.createServer({ cert: readFileSync(listener.tls!.cert), key: readFileSync(listener.tls!.key) }, onSocket)
        : net.createServer({ noDelay: true }, onSocket);
      // Never crash on a bad socket; the connection's own handlers report what matters.
      server.on('tlsClientError', (_err, socket) => socket.destroy());
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new BalancerConfigError(`cannot listen on ${listener.address}: ${(err as Error).message}; pick a free port`, { cause: err })));
        if (handle !== undefined) server.listen(handle, () => resolve());
        else server.listen(port, host, () => resolve());
      });
      this.#listeners.push(server);
    }
    for (const pool of this.#pools.values()) pool.start();
    const sweepMs = Math.min(1000, Math.max(10, Math.floor(Math.min(
      this.#options.timeouts.headMs, this.#options.timeouts.serverMs, this.#options.timeouts.clientBodyMs, this.#options.timeouts.keepAliveMs,
    ) / 4)));
    this.#sweepTimer = setInterval(() => this.#sweep(), sweepMs);
    this.#sweepTimer.unref();
    // Last: an admin API that answers means the balancer it manages serves.
    if (this.#options.admin !== undefined) this.#admin = await startAdminApi(this, this.#options.admin);
    this.#peers?.start();
  }

  *#stickTables(): Generator<[string, NonNullable<Pool['stickTable']>]> {
    for (const pool of this.#pools.values()) if (pool.stickTable !== undefined) yield [pool.name, pool.stickTable];
  }

  /**
   * Stick table entries from a peer balancer (`POST /peers/stick`, checked by
   * `parsePeerPush`). Entries of a pool this balancer does not have, or that has no
   * stick table, are ignored: membership reaches every balancer separately.
   */
  applyPeerPush(push: PeerPush): PeerPushAnswer {
    if (push.hello !== undefined) this.#peers?.greeted(push.hello);
    const now = this.#clock.now();
    let applied = 0;
    let ignored = 0;
    for (const [poolName, key, serverId, ttlMs] of push.updates) {
      const table = this.#pools.get(poolName)?.stickTable;
      if (table !== undefined && table.merge(key, serverId, now + ttlMs, now)) applied++;
      else ignored++;
    }
    return { bootId: this.#peers?.bootId ?? this.#requestIdPrefix, applied, ignored };
  }

  #sweep(): void {
    const now = this.#clock.now();
    this.#ctx.nowMs = now;
    for (const conn of this.#connections) conn.sweep(now);
    this.#upstreams.sweep(now);
  }

  /** The addresses the listeners are bound to (with the real port when 0 was asked). */
  get addresses(): string[] {
    return this.#listeners.map((server) => {
      const address = server.address() as net.AddressInfo;
      return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
    });
  }

  /** Where the admin API of the `admin` option listens (the real port when 0 was asked); undefined without one. */
  get adminAddress(): string | undefined {
    return this.#admin?.address;
  }

  get options(): BalancerOptions {
    return this.#options;
  }

  pools(): Pool[] {
    return [...this.#pools.values()];
  }

  pool(name: string): Pool {
    const pool = this.#pools.get(name);
    if (pool === undefined) throw new AdminRequestError(404, `no pool "${name}"; pools: ${[...this.#pools.keys()].join(', ')}`);
    return pool;
  }

  /** Validated as a server of the config is (a BalancerConfigError names the field, the value and what is allowed). */
  addServer(poolName: string, server: ServerOptionsInput): Server {
    const pool = this.pool(poolName);
    return pool.addServer(serverSpecFromAddress(parseServerOptions(server)));
  }

  addPool(name: string, input: PoolOptionsInput): Pool {
    if (this.#pools.has(name)) throw new AdminRequestError(409, `pool "${name}" exists; remove it first`);
    const pool = this.#makePool(name, parsePoolOptions(input));
    this.#pools.set(name, pool);
    if (this.#listeners.length > 0) pool.start();
    return pool;
  }

  async removePool(name: string): Promise<void> {
    const pool = this.pool(name);
    if (this.#routes.rules.some((rule) => rule.pool === name)) {
      throw new AdminRequestError(409, `pool "${name}" is used by a route; change the routes first`);
    }
    this.#pools.delete(name);
    await pool.stop();
    // A table file this balancer named itself goes with its pool (blue-green deploys make a pool per build).
    const dir = this.#options.stickTableDir;
    const affinity = pool.options.affinity;
    if (dir !== undefined && affinity?.type === 'table' && affinity.file === join(dir, `stick-${name}.json`)) await rm(affinity.file, { force: true });
    for (const server of pool.servers()) this.#upstreams.closeServer(server);
  }

  /**
   * Empties the pool's response cache, or removes the answers whose path starts with
   * `pathPrefix` (any host). Answers stored later come from the servers again.
   * @returns how many answers were removed
   */
  purgeCache(poolName: string, pathPrefix?: string): number {
    const pool = this.pool(poolName);
    if (pool.cache === undefined) throw new AdminRequestError(409, `pool "${poolName}" has no response cache; set cache: {} in its options to have one`);
    return pool.cache.purge(pathPrefix);
  }

  /** Replace every route at once: requests see the old table or the new, never a mix. */
  setRoutes(rules: RouteOptions[]): void {
    for (const rule of rules) {
      if (!this.#pools.has(rule.pool)) throw new AdminRequestError(400, `route names unknown pool "${rule.pool}"; create it first`);
    }
    this.#routes = new RouteTable(rules);
  }

  liveConfig(): BalancerLiveConfig {
    const now = this.#clock.now();
    const pools: BalancerLiveConfig['pools'] = {};
    const drains: BalancerLiveConfig['drains'] = [];
    for (const pool of this.#pools.values()) {
      pools[pool.name] = {
        ...poolInputOf(pool.options),
        servers: pool.servers().map((s) => ({ id: s.id, address: s.address, weight: s.configuredWeight })),
      };
      for (const s of pool.servers()) {
        if (s.draining) drains.push({ pool: pool.name, id: s.id, stickyMs: Math.max(0, s.drainStickyUntilMs - now) });
      }
    }
    return { pools, routes: this.#routes.rules, drains };
  }

  /** Applies the drains of a {@link liveConfig} (its pools and routes are options). */
  applyDrains(drains: BalancerLiveConfig['drains']): void {
    for (const { pool, id, stickyMs } of drains) this.pool(pool).drain(id, stickyMs);
  }

  /** A server state the probing worker saw; see `BalancerDeps.sharedHealth`. */
  applyHealth(pool: string, serverId: string, healthy: boolean, reason: string, answered: boolean): void {
    this.#pools.get(pool)?.applyHealth(serverId, healthy, reason, answered);
  }

  applyLoad(pool: string, serverId: string, load: number): void {
    this.#pools.get(pool)?.applyLoad(serverId, load);
  }

  /** Takes a server down now in the probing worker, for a worker that found it silent. */
  markDown(pool: string, serverId: string, reason: string): void {
    this.#pools.get(pool)?.markDown(serverId, reason);
  }

  /** A stick-table placement made elsewhere (another worker); see `BalancerDeps.onStick`. */
  learnStick(pool: string, key: string, serverId: string): void {
    this.#pools.get(pool)?.learnStick(key, serverId);
  }

  snapshot(): BalancerSnapshot {
    const now = this.#clock.now();
    // The latency windows run on the clock the proxy records with, not the injected one.
    const latencyNow = performance.now();
    const pools: BalancerSnapshot['pools'] = {};
    for (const pool of this.#pools.values()) {
      pools[pool.name] = {
        strategy: pool.strategy,
        affinity: pool.options.affinity?.type ?? 'none',
        latency: pool.latency.summary(latencyNow),
        exchanges: (this.exchanges.get(pool.name) ?? []).reduce((a, b) => a + b, 0),
        servers: pool.servers().map((s) => ({
          id: s.id,
          address: s.address,
          state: s.state(now),
          weight: s.configuredWeight,
          effectiveWeight: s.weight,
          inFlight: s.inFlight,
          load: s.load,
          slowStart: s.inSlowStart,
          ejectedUntil: s.ejectedUntilMs > now ? new Date(s.ejectedUntilMs).toISOString() : undefined,
          counters: { ...s.counters },
          latency: s.latency.summary(latencyNow),
        })),
        ...(pool.cache === undefined ? {} : { cache: pool.cache.snapshot() }),
      };
    }
    return {
      listeners: this.addresses, routes: this.#routes.rules, pools, connections: this.#connections.size,
      ...(this.#peers === undefined ? {} : { peers: this.#peers.snapshot() }),
    };
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight exchanges finish (up to
   * `timeouts.shutdownMs`), then close what is left.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#ctx.closing = true;
    // First: nothing may add servers to a balancer that is going away.
    await this.#admin?.close();
    await this.#peers?.close();
    const closed = this.#listeners.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const conn of this.#connections) conn.closeWhenIdle();
    const deadline = Date.now() + this.#options.timeouts.shutdownMs;
    while (this.#connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const conn of this.#connections) conn.closeWhenIdle();
    }
    for (const conn of this.#connections) conn.destroy();
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    await Promise.all([...this.#pools.values()].map((pool) => pool.stop()));
    this.#upstreams.closeAll();
    await Promise.all(closed);
    this.#log({ at: this.#clock.now(), source: 'balancer', kind: 'balancer-stopped', message: 'balancer stopped' });
  }
}

/**
 * Start a balancer: validate the options (a BalancerConfigError names the field, the
 * value and what is allowed), bind the listeners, start health checks, and start the
 * admin API when `admin: { address, token }` is given (closed by `close()`). With
 * `workers: N | 'auto'`, N processes share the listeners (see {@link BalancerWorkers}).
 *
 * @example
 * const balancer = await startBalancer({
 *   listen: '127.0.0.1:8080',
 *   pools: { web: { servers: [{ id: 'a', address: '127.0.0.1:9001' }, { id: 'b', address: '127.0.0.1:9002' }],
 *                   affinity: { type: 'cookie' }, health: { path: '/healthz' } } },
 * });
 */
export async function startBalancer(input: BalancerWorkersOptionsInput, deps?: BalancerDeps): Promise<BalancerWorkers>;
export async function startBalancer(input: BalancerOptionsInput & { workers?: undefined }, deps?: BalancerDeps): Promise<Balancer>;
export async function startBalancer(input: BalancerOptionsInput & { workers?: number | 'auto' | undefined }, deps?: BalancerDeps): Promise<Balancer | BalancerWorkers>;
export async function startBalancer(input: BalancerOptionsInput & { workers?: number | 'auto' | undefined }, deps: BalancerDeps = {}): Promise<Balancer | BalancerWorkers> {
  const options = parseBalancerOptions(input);
  if (options.workers !== undefined) return BalancerWorkers.start(options, deps);
  const balancer = new Balancer(options, deps);
  try {
    await balancer.listen();
  } catch (err) {
    await balancer.close();
    throw err;
  }
  return balancer;
}

export { splitAddress } from './address.js';
