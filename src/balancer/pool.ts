import { createHash } from 'node:crypto';
import type { Clock } from '../internal/clock.js';
import type { Keyring } from '../internal/keyring.js';
import { CookieAffinity, StickTable } from './affinity/index.js';
import { AdminRequestError } from './errors.js';
import { ActiveChecker, OutlierEjector, StallDetector } from './health/index.js';
import type { FailureKind } from './health/index.js';
import { DEFAULT_COOKIE_AFFINITY, DEFAULT_STICK_TABLE, type PoolOptions } from './options.js';
import { LatencyWindow } from './latency-window.js';
import { ResponseCache } from './cache/response-cache.js';
import type { ProxyPool, SelectRequest } from './proxy/proxy-context.js';
import { Server } from './server.js';
import type { ServerSpec, ServerState } from './server.js';
import { createStrategy } from './strategies/index.js';
import type { PickContext, Strategy } from './strategies/index.js';

const MAX_RAW_TABLE_KEY = 128;

/** Something worth telling an operator: a server changed state. */
export interface PoolEvent {
  pool: string;
  server: string;
  state: ServerState | 'added' | 'removed';
  reason: string;
}

/** Something wrong with the pool itself, not with one server. */
export interface PoolWarning {
  pool: string;
  message: string;
}

export interface PoolDeps {
  clock: Clock;
  /** Signs affinity cookies; shared by every pool of a balancer. */
  keyring: Keyring;
  /** Close idle upstream connections of a server that left or drains. */
  closeIdle(server: Server): void;
  /**
   * The server stopped answering and was taken out: requests waiting for its answer
   * that are safe to send again (idempotent, no response byte yet) go elsewhere.
   */
  retryInFlight(server: Server): void;
  onEvent(event: PoolEvent | PoolWarning): void;
  /**
   * The stick table gave `key` a server (a new client, or its server left): what balancer
   * workers pass to each other and what peers replicate.
   */
  onStick?(pool: string, key: string, serverId: string, expiresAtMs: number): void;
  /**
   * Balancer workers check health once for all: one worker probes (`probe: true`) and
   * reports every state change and load it sees; the others (`probe: false`) run no
   * checks, take states through `applyHealth` / `applyLoad`, and ask the prober to take
   * a server they found silent down (`markDown`). Unset: this pool probes on its own.
   */
  sharedHealth?: {
    probe: boolean;
    onHealth?(serverId: string, healthy: boolean, reason: string, answered: boolean): void;
    onLoad?(serverId: string, load: number): void;
    markDown?(serverId: string, reason: string): void;
  };
}

/**
 * A named set of servers with one strategy, one health policy and one kind of
 * affinity. The pool answers one question per request, `select()`, and learns from
 * every outcome (`recordResponse`, `recordFailure`).
 *
 * The strategy only ever sees eligible servers (healthy, not ejected, not draining):
 * the list is rebuilt on the rare events that change it, never per request.
 */
export class Pool implements ProxyPool {
  readonly name: string;
  /** Every exchange of the pool, whichever server had it (see LatencyWindow). */
  readonly latency = new LatencyWindow();
  /** The pool's response cache (option `cache`), else undefined. */
  readonly cache: ResponseCache | undefined;
  readonly #options: PoolOptions;
  readonly #deps: PoolDeps;
  readonly #servers = new Map<string, Server>();
  readonly #byCookieId = new Map<string, Server>();
  readonly #strategy: Strategy<Server>;
  readonly #pick: PickContext = { hashKey: undefined, exclude: undefined };
  readonly #cookie: CookieAffinity | undefined;
  readonly #table: StickTable | undefined;
  readonly #checker: ActiveChecker | undefined;
  readonly #ejector: OutlierEjector;
  readonly #stalls: StallDetector;
  /** Servers whose silence is being confirmed by a probe. */
  readonly #confirming = new Set<string>();
  #stallTimer: NodeJS.Timeout | undefined;
  #releaseTimer: NodeJS.Timeout | undefined;
  #stopAutosave: (() => Promise<void> | void) | undefined;

  constructor(name: string, options: PoolOptions, deps: PoolDeps) {
    this.name = name;
    this.#options = options;
    this.#deps = deps;
    this.#strategy = createStrategy<Server>(options.strategy as Parameters<typeof createStrategy>[0], {
      hashBalanceFactor: options.hash?.balanceFactor,
    });
    const affinity = options.affinity;
    if (affinity?.type === 'cookie') {
      this.#cookie = new CookieAffinity({
        keyring: deps.keyring, cookieName: affinity.cookieName, maxAgeSec: affinity.maxAgeSec, path: DEFAULT_COOKIE_AFFINITY.path,
        cacheMaxEntries: DEFAULT_COOKIE_AFFINITY.cacheMaxEntries, clock: deps.clock,
      });
    } else if (affinity?.type === 'table') {
      const tableOptions = { idleTimeoutMs: affinity.idleTimeoutMs, maxEntries: affinity.maxEntries, maxKeyLength: DEFAULT_STICK_TABLE.maxKeyLength, clock: deps.clock };
      if (affinity.file !== undefined) {
        const loaded = StickTable.load(affinity.file, tableOptions, deps.clock.now());
        this.#table = loaded.table;
        if (loaded.warning !== undefined) deps.onEvent({ pool: name, message: `stick table not restored: ${loaded.warning}` });
        this.#stopAutosave = this.#table.startAutosave(affinity.file, affinity.saveIntervalMs);
      } else {
        this.#table = new StickTable(tableOptions);
      }
    }
    this.cache = options.cache === undefined ? undefined : new ResponseCache({ ...options.cache, clock: deps.clock });
    this.#ejector = new OutlierEjector({ ...options.outlier, clock: deps.clock });
    this.#stalls = new StallDetector(options.outlier);
    if (options.health !== undefined) {
      this.#checker = new ActiveChecker({
        ...options.health,
        onChange: (id, state, reason, answered) => this.#onHealth(id, state === 'up', reason, answered),
        onLoad: (id, load) => {
          const server = this.#servers.get(id);
          if (server !== undefined) server.load = load;
          deps.sharedHealth?.onLoad?.(id, load);
        },
      });
    }
    for (const spec of options.servers) this.addServer(toSpec(spec));
  }

  start(): void {
    if (this.#deps.sharedHealth?.probe !== false) this.#checker?.start();
    if (this.#stalls.stallMs > 0 && this.#stallTimer === undefined) {
      this.#stallTimer = setInterval(() => this.#watchStalls(), this.#stalls.sampleIntervalMs);
      this.#stallTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.#checker?.stop();
    if (this.#stallTimer !== undefined) clearInterval(this.#stallTimer);
    this.#stallTimer = undefined;
    if (this.#releaseTimer !== undefined) clearTimeout(this.#releaseTimer);
    // An autosave still renaming must not overwrite the final save with an older table.
    await this.#stopAutosave?.();
    if (this.#table !== undefined && this.#options.affinity?.type === 'table' && this.#options.affinity.file !== undefined) {
      await this.#table.save(this.#options.affinity.file);
    }
  }

  get strategy(): string {
    return this.#strategy.name;
  }

  get options(): PoolOptions {
    return this.#options;
  }

  /** The stick table of `affinity: { type: 'table' }`, undefined for other affinities. */
  get stickTable(): StickTable | undefined {
    return this.#table;
  }

  servers(): Server[] {
    return [...this.#servers.values()];
  }

  server(id: string): Server | undefined {
    return this.#servers.get(id);
  }

  // ── per request ──────────────────────────────────────────────────────────────

  select(request: SelectRequest, exclude: Server | undefined): Server | undefined {
    const now = this.#deps.clock.now();
    if (this.#cookie !== undefined) {
      const stuck = this.#cookie.resolve(request.cookieHeader, now);
      if (stuck.opaqueId !== undefined) {
        const server = this.#byCookieId.get(stuck.opaqueId);
        if (server !== undefined && server !== exclude && server.acceptsSticky(now)) {
          if (stuck.needsReissue) request.setCookie = this.#cookie.setCookieHeader(server.cookieId, now, request.secure);
          return server;
        }
      }
      const server = this.#pickFor(request, exclude);
      request.setCookie = server === undefined ? undefined : this.#cookie.setCookieHeader(server.cookieId, now, request.secure);
      return server;
    }
    if (this.#table !== undefined) {
      const key = this.#tableKey(request);
      if (key !== undefined) {
        const id = this.#table.get(key, now);
        const server = id === undefined ? undefined : this.#servers.get(id);
        if (server !== undefined && server !== exclude && server.acceptsSticky(now)) return server;
      }
      const server = this.#pickFor(request, exclude);
      if (server !== undefined && key !== undefined && this.#table.set(key, server.id, now)) {
        this.#deps.onStick?.(this.name, key, server.id, now + (this.#options.affinity as { idleTimeoutMs: number }).idleTimeoutMs);
      }
      return server;
    }
    return this.#pickFor(request, exclude);
  }

  /** A placement another worker made (see `PoolDeps.onStick`); ignored for a server this pool lacks. */
  learnStick(key: string, serverId: string): void {
    if (this.#table === undefined || !this.#servers.has(serverId)) return;
    this.#table.set(key, serverId, this.#deps.clock.now());
  }

  #pickFor(request: SelectRequest, exclude: Server | undefined): Server | undefined {
    const pick = this.#pick;
    pick.exclude = exclude;
    pick.hashKey = this.#options.hash === undefined ? undefined : keyOf(request, this.#options.hash.on, this.#options.hash.name);
    return this.#strategy.pick(pick) as Server | undefined;
  }

  #tableKey(request: SelectRequest): string | undefined {
    const affinity = this.#options.affinity;
    if (affinity?.type !== 'table') return undefined;
    const key = affinity.key.on === 'ip' ? request.clientIp : keyOf(request, affinity.key.on, affinity.key.name);
    // Session tokens such as JWTs can be long; the table bounds key length, so keep a digest.
    return key !== undefined && key.length > MAX_RAW_TABLE_KEY ? createHash('sha256').update(key).digest('base64url') : key;
  }

  /**
   * A 503 is the app's own answer ("not now": its engine is down, or it sheds load), so
   * it counts as a sign of life, not as a failure: ejecting would only move the load.
   */
  recordResponse(server: Server, status: number, load: number | undefined): void {
    server.countResponse(status);
    if (load !== undefined) server.load = load;
    if (status >= 500 && status !== 503) this.recordFailure(server, 'server-error');
    else this.#ejector.recordSuccess(server.id);
  }

  recordFailure(server: Server, kind: FailureKind): void {
    if (!this.#servers.has(server.id)) return;
    const now = this.#deps.clock.now();
    if (!this.#ejector.recordFailure(server.id, kind, this.#othersEligible(server, now))) return;
    server.ejectedUntilMs = this.#ejector.ejectedUntil(server.id, now) ?? now;
    this.#deps.onEvent({ pool: this.name, server: server.id, state: 'ejected', reason: kind === 'stall' ? 'silent while others were not' : `${kind} failures in a row` });
    this.#refresh();
    this.#scheduleRelease();
    if (kind !== 'server-error') this.#retryInFlight(server);
  }

  /** Servers other than `server` that can take new clients now. */
  #othersEligible(server: Server, nowMs: number): number {
    let n = 0;
    for (const other of this.#servers.values()) if (other !== server && other.isEligible(nowMs)) n++;
    return n;
  }

  /**
   * Looks for servers that went silent (see StallDetector). With active checks, a silent
   * server is probed at once with `stallMs` as the timeout and taken down when the
   * probe fails too (HAProxy's `observe` with `on-error`, but on silence rather than on
   * errors); it comes back after `rise` passed probes. Without them, it is ejected, but
   * only while another server is not silent. Never the last server that can take traffic.
   */
  #watchStalls(): void {
    const now = this.#deps.clock.now();
    const stalled = this.#stalls.observe(this.#servers.values(), now);
    for (const id of stalled) {
      const server = this.#servers.get(id);
      if (server === undefined || !server.isEligible(now) || this.#confirming.has(id)) continue;
      if (this.#checker === undefined) {
        const others = this.servers().some((s) => s !== server && s.isEligible(now) && this.#stalls.answering(s.id));
        if (others) this.recordFailure(server, 'stall');
        continue;
      }
      if (this.#othersEligible(server, now) === 0) continue;
      this.#confirming.add(id);
      const checker = this.#checker;
      void checker.probe(id, this.#stalls.stallMs).then((result) => {
        this.#confirming.delete(id);
        if (result === undefined || this.#servers.get(id) !== server) return;
        const at = this.#deps.clock.now();
        if (result.ok) this.#stalls.heard(id, at);
        else if (server.isEligible(at) && this.#othersEligible(server, at) > 0) {
          const reason = `silent for ${this.#stalls.stallMs} ms with requests awaiting an answer, then ${result.reason}`;
          const shared = this.#deps.sharedHealth;
          // A worker that does not probe could take the server down but never see it come back.
          if (shared?.probe === false) shared.markDown?.(id, reason);
          else checker.markDown(id, reason);
        }
      });
    }
  }

  exchangeEnded(server: Server): void {
    if (server.draining && server.inFlight === 0) {
      this.#deps.onEvent({ pool: this.name, server: server.id, state: 'drained', reason: 'nothing in flight' });
    }
  }

  // ── membership and admin ─────────────────────────────────────────────────────

  addServer(spec: ServerSpec): Server {
    if (this.#servers.has(spec.id)) throw new AdminRequestError(409, `server "${spec.id}" is already in pool "${this.name}"; remove it first or use another id`);
    const server = new Server(spec, this.#deps.clock, this.#deps.keyring.derive(`server\u0000${this.name}\u0000${spec.id}`));
    this.#servers.set(server.id, server);
    this.#byCookieId.set(server.cookieId, server);
    this.#ejector.setMembers(this.#servers.keys());
    this.#checker?.add({ id: server.id, host: server.host, port: server.port });
    this.#refresh();
    this.#deps.onEvent({ pool: this.name, server: server.id, state: 'added', reason: server.address });
    return server;
  }

  removeServer(id: string): Server {
    const server = this.#require(id);
    this.#servers.delete(id);
    this.#byCookieId.delete(server.cookieId);
    this.#ejector.setMembers(this.#servers.keys());
    this.#stalls.forget(id);
    this.#checker?.remove(id);
    this.#table?.deleteServer(id);
    // In-flight requests finish on their own connections; idle ones go now.
    server.draining = true;
    this.#deps.closeIdle(server);
    this.#refresh();
    this.#deps.onEvent({ pool: this.name, server: id, state: 'removed', reason: 'removed' });
    return server;
  }

  /** No new clients; sticky clients move on their next request unless `stickyMs` lets them stay. */
  drain(id: string, stickyMs = this.#options.drainStickyMs): Server {
    const server = this.#require(id);
    server.draining = true;
    server.drainStickyUntilMs = stickyMs > 0 ? this.#deps.clock.now() + stickyMs : 0;
    this.#deps.closeIdle(server);
    this.#refresh();
    this.#deps.onEvent({ pool: this.name, server: id, state: server.state(this.#deps.clock.now()), reason: 'drain requested' });
    return server;
  }

  undrain(id: string): Server {
    const server = this.#require(id);
    server.draining = false;
    server.drainStickyUntilMs = 0;
    this.#refresh();
    this.#deps.onEvent({ pool: this.name, server: id, state: server.state(this.#deps.clock.now()), reason: 'undrain requested' });
    return server;
  }

  setWeight(id: string, weight: number): Server {
    if (!(weight > 0 && weight <= 1000)) throw new AdminRequestError(400, `weight must be a number in (0, 1000]; got ${weight}`);
    const server = this.#require(id);
    server.configuredWeight = weight;
    this.#refresh();
    return server;
  }

  /** Probe a server now (after it was restarted, say) instead of waiting for the interval. */
  checkNow(id: string): void {
    this.#require(id);
    if (this.#deps.sharedHealth?.probe !== false) void this.#checker?.checkNow(id);
  }

  /** A state change the probing worker saw (see `PoolDeps.sharedHealth`). */
  applyHealth(id: string, healthy: boolean, reason: string, answered: boolean): void {
    this.#onHealth(id, healthy, reason, answered);
  }

  /** A load the probing worker's checks reported. */
  applyLoad(id: string, load: number): void {
    const server = this.#servers.get(id);
    if (server !== undefined) server.load = load;
  }

  /** Takes a server down now (it comes back after `rise` passed probes); false when it was not up or is not checked. */
  markDown(id: string, reason: string): boolean {
    return this.#checker?.markDown(id, reason) ?? false;
  }

  #require(id: string): Server {
    const server = this.#servers.get(id);
    if (server === undefined) throw new AdminRequestError(404, `no server "${id}" in pool "${this.name}"; list servers with GET /servers`);
    return server;
  }

  #onHealth(id: string, healthy: boolean, reason: string, answered: boolean): void {
    const server = this.#servers.get(id);
    if (server === undefined || server.healthy === healthy) return;
    server.healthy = healthy;
    server.lastHealthReason = reason;
    if (healthy) server.beginSlowStart(this.#options.slowStartMs);
    this.#refresh();
    this.#deps.onEvent({ pool: this.name, server: id, state: server.state(this.#deps.clock.now()), reason });
    if (this.#deps.sharedHealth?.probe === true) this.#deps.sharedHealth.onHealth?.(id, healthy, reason, answered);
    // A server that answers its probe with a 503 is alive: what it has in flight may finish.
    if (!healthy && !answered) this.#retryInFlight(server);
  }

  /**
   * After the current call: the failure that took the server out is often reported by
   * the very exchange it ends, which must finish its own handling first.
   */
  #retryInFlight(server: Server): void {
    queueMicrotask(() => this.#deps.retryInFlight(server));
  }

  #scheduleRelease(): void {
    if (this.#releaseTimer !== undefined) clearTimeout(this.#releaseTimer);
    const at = this.#ejector.nextReleaseMs();
    if (at === undefined) return;
    this.#releaseTimer = setTimeout(() => {
      this.#releaseTimer = undefined;
      for (const id of this.#ejector.releaseExpired(this.#deps.clock.now())) {
        const server = this.#servers.get(id);
        if (server === undefined) continue;
        server.ejectedUntilMs = 0;
        server.beginSlowStart(this.#options.slowStartMs);
        this.#deps.onEvent({ pool: this.name, server: id, state: server.state(this.#deps.clock.now()), reason: 'ejection ended' });
      }
      this.#refresh();
      this.#scheduleRelease();
    }, Math.max(0, at - this.#deps.clock.now()) + 1);
    this.#releaseTimer.unref();
  }

  #refresh(): void {
    const now = this.#deps.clock.now();
    const eligible: Server[] = [];
    for (const server of this.#servers.values()) if (server.isEligible(now)) eligible.push(server);
    this.#strategy.update(eligible);
  }
}

function toSpec(spec: { id: string; address: string; weight: number }): ServerSpec {
  const colon = spec.address.lastIndexOf(':');
  let host = spec.address.slice(0, colon);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { id: spec.id, host, port: Number(spec.address.slice(colon + 1)), weight: spec.weight };
}

export { toSpec as serverSpecFromAddress };

/** The value of a named cookie in a Cookie header, without allocating for the others. */
function keyOf(request: SelectRequest, on: 'header' | 'cookie' | 'ip', name: string | undefined): string | undefined {
  if (on === 'ip') return request.clientIp;
  if (name === undefined) return undefined;
  if (on === 'header') return request.header(name.toLowerCase());
  const cookies = request.cookieHeader;
  if (cookies === undefined) return undefined;
  let at = 0;
  while (at < cookies.length) {
    while (cookies.charCodeAt(at) === 32) at++;
    const eq = cookies.indexOf('=', at);
    if (eq < 0) return undefined;
    const end = cookies.indexOf(';', eq);
    if (eq - at === name.length && cookies.startsWith(name, at)) return cookies.slice(eq + 1, end < 0 ? cookies.length : end);
    if (end < 0) return undefined;
    at = end + 1;
  }
  return undefined;
}
