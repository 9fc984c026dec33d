import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../../internal/clock.js';
import { systemClock } from '../../internal/clock.js';
import { StickTable } from '../affinity/index.js';
import { joinAddress, splitAddress } from '../address.js';
import type { BalancerDeps, BalancerLiveConfig } from '../balancer.js';
import { BalancerWorkersError } from '../errors.js';
import type { BalancerEvent } from '../events.js';
import type { BalancerOptions, BalancerOptionsInput, PoolOptionsInput } from '../options.js';
import { resolveStickTableOptions } from '../options.js';
import { startWorkersAdmin } from './workers-admin.js';
import type { WorkersAdmin } from './workers-admin.js';
import { bindWithoutListening } from './bound-socket.js';
import type { TcpHandle } from './bound-socket.js';
import type { PrimaryMessage, WorkerMessage } from './messages.js';

/** The worker that checks the servers' health for all (see `PoolDeps.sharedHealth`). */
const PROBER_SLOT = 0;
/** A worker must be serving within this time of its fork. @defaultValue 30000 */
export const WORKER_START_TIMEOUT_MS = 30_000;
/** A worker that crashes again within this time of its start is restarted after a growing pause. @defaultValue 10000 */
const CRASH_LOOP_WINDOW_MS = 10_000;
/** Longest pause before restarting a worker that keeps crashing. @defaultValue 5000 */
const MAX_RESTART_PAUSE_MS = 5_000;
/** The same server-state event from several workers within this time is logged once. @defaultValue 5000 */
const EVENT_DEDUPE_MS = 5_000;

/** One worker process, as its primary sees it. */
export interface WorkerSlot {
  readonly index: number;
  child: ChildProcess | undefined;
  /** Its own admin API (loopback), once it serves. */
  admin: string | undefined;
  startedAtMs: number;
  /** Crashes in a row, each within {@link CRASH_LOOP_WINDOW_MS} of its start. */
  quickCrashes: number;
  restarts: number;
}

/** The worker entry next to this module (`.ts` under tsx, `.js` once built). */
function workerEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return { file: here.replace(/balancer-workers\.ts$/, 'worker-main.ts'), execArgv: ['--import', import.meta.resolve('tsx')] };
  return { file: here.replace(/balancer-workers\.js$/, 'worker-main.js'), execArgv: [] };
}

/**
 * A balancer on several cores: this process (the primary) binds the listening sockets
 * and hands them to N worker processes, each a whole balancer (`worker-main.ts`).
 *
 *     primary: sockets, admin API, live config, stick-table copy, restarts
 *        ├─ worker 0: listens on the shared sockets, probes, proxies
 *        └─ worker 1: the same
 *
 *  - Accepts: every worker waits in accept on the same socket and the kernel gives each
 *    connection to one of them (nginx's model); the primary never accepts, so it costs
 *    no CPU per request (node:cluster's default hands every connection over IPC).
 *  - Admin: one API, the primary's; a change goes to every worker and is answered once
 *    all applied it. `GET /servers` and `/metrics` sum the workers.
 *  - A worker that exits is started again from the live config (admin changes included)
 *    and the stick-table copy; the others keep accepting meanwhile.
 *  - Health: worker 0 checks the servers for all and the primary passes what it sees to
 *    the others (one prober, as with one balancer; see docs/balancing.md).
 */
export class BalancerWorkers {
  readonly #options: BalancerOptions;
  readonly #workerOptions: BalancerOptionsInput;
  readonly #token: string;
  readonly #clock: Clock;
  readonly #log: NonNullable<BalancerDeps['log']>;
  readonly #handles: object[];
  readonly #ownHandles: TcpHandle[];
  readonly #slots: WorkerSlot[] = [];
  readonly #sticks = new Map<string, StickTable>();
  readonly #stopSaves: Array<() => Promise<void>> = [];
  readonly #recentEvents = new Map<string, number>();
  /** Servers the prober last reported down, by `pool\0server`: what a worker started now begins with. */
  readonly #down = new Map<string, { pool: string; server: string; reason: string }>();
  #live: BalancerLiveConfig;
  #addresses: string[] = [];
  #admin: WorkersAdmin | undefined;
  #serial: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  private constructor(options: BalancerOptions, deps: BalancerDeps, handles: object[], ownHandles: TcpHandle[]) {
    this.#options = options;
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.log ?? (() => {});
    this.#handles = handles;
    this.#ownHandles = ownHandles;
    this.#token = options.admin?.token ?? randomBytes(24).toString('base64url');
    // Workers must sign affinity cookies with the same keys, or a cookie one set is refused by the other.
    const keys = options.keys ?? [{ id: randomBytes(4).toString('hex'), secret: randomBytes(32).toString('base64url') }];
    const pools: Record<string, PoolOptionsInput> = {};
    for (const [name, pool] of Object.entries(options.pools)) {
      if (pool.affinity?.type === 'table') {
        // One writer for the file: the primary, from its copy of every worker's placements.
        const { file, ...affinity } = pool.affinity;
        const tableOptions = resolveStickTableOptions({ idleTimeoutMs: affinity.idleTimeoutMs, maxEntries: affinity.maxEntries });
        let table = new StickTable(tableOptions);
        if (file !== undefined) {
          const loaded = StickTable.load(file, tableOptions, this.#clock.now());
          table = loaded.table;
          if (loaded.warning !== undefined) this.#log({ at: this.#clock.now(), source: name, kind: 'pool-warning', pool: name, message: `stick table not restored: ${loaded.warning}` });
          this.#stopSaves.push(table.startAutosave(file, affinity.saveIntervalMs));
          this.#stopSaves.push(() => table.save(file));
        }
        this.#sticks.set(name, table);
        pools[name] = { ...configHealth(pool), affinity };
      } else {
        pools[name] = configHealth(pool);
      }
    }
    const { workers: _workers, admin: _admin, ...rest } = options;
    this.#workerOptions = { ...rest, keys, pools, admin: { address: '127.0.0.1:0', token: this.#token } };
    this.#live = { pools, routes: options.routes ?? [{ pool: Object.keys(options.pools)[0]! }], drains: [] };
  }

  /** Binds (or takes) the sockets, starts every worker, then the admin API. */
  static async start(options: BalancerOptions, deps: BalancerDeps = {}): Promise<BalancerWorkers> {
    const count = options.workers === 'auto' ? availableParallelism() : options.workers ?? 1;
    const handles: object[] = [];
    const own: TcpHandle[] = [];
    try {
      for (const [index, listener] of options.listen.entries()) {
        const given = deps.listenHandles?.[index];
        if (given !== undefined) {
          handles.push(given);
          continue;
        }
        const { host, port } = splitAddress(listener.address);
        const ip = net.isIP(host) !== 0 ? host : (await lookup(host)).address;
        const handle = bindWithoutListening(joinAddress(ip, port));
        own.push(handle);
        handles.push(handle);
      }
    } catch (err) {
      for (const handle of own) handle.close();
      throw err;
    }
    const group = new BalancerWorkers(options, deps, handles, own);
    try {
      for (let index = 0; index < count; index++) group.#slots.push({ index, child: undefined, admin: undefined, startedAtMs: 0, quickCrashes: 0, restarts: 0 });
      // One after the other: two workers loading at once on two cores only share them.
      for (const slot of group.#slots) await group.#serially(() => group.#startWorker(slot));
      if (options.admin !== undefined) group.#admin = await startWorkersAdmin(group, options.admin);
    } catch (err) {
      await group.close();
      throw err;
    }
    return group;
  }

  /** The addresses the workers listen on (with the real port when 0 was asked). */
  get addresses(): string[] {
    return this.#addresses;
  }

  /** The admin API, the primary's (undefined without the `admin` option). */
  get adminAddress(): string | undefined {
    return this.#admin?.address;
  }

  get options(): BalancerOptions {
    return this.#options;
  }

  /** The token the workers' own admin APIs take. */
  get token(): string {
    return this.#token;
  }

  /** The worker processes now (a slot being restarted has no pid). */
  workers(): Array<{ index: number; pid: number | undefined; admin: string | undefined; restarts: number }> {
    return this.#slots.map((s) => ({ index: s.index, pid: s.admin === undefined ? undefined : s.child?.pid, admin: s.admin, restarts: s.restarts }));
  }

  /**
   * Runs `fn` when no admin change and no worker start is under way, so that a worker
   * that starts gets every change: either in its start config or from the fan-out.
   */
  serially<T>(fn: () => Promise<T>): Promise<T> {
    return this.#serially(fn);
  }

  #serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  /** After an admin change all workers applied: what a worker started from now on gets. */
  setLiveConfig(live: BalancerLiveConfig): void {
    this.#live = live;
    for (const [key, { pool, server }] of this.#down) {
      if (live.pools[pool]?.servers?.some((s) => s.id === server) !== true) this.#down.delete(key);
    }
    for (const [pool, table] of this.#sticks) {
      const members = new Set(live.pools[pool]?.servers?.map((s) => s.id) ?? []);
      for (const entry of [...table.entries()]) if (!members.has(entry.serverId)) table.deleteServer(entry.serverId);
    }
  }

  #startWorker(slot: WorkerSlot): Promise<void> {
    if (this.#closing !== undefined) return Promise.resolve();
    const entry = workerEntry();
    const child = fork(entry.file, [], { execArgv: entry.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    slot.child = child;
    slot.admin = undefined;
    slot.startedAtMs = Date.now();
    child.on('error', () => {});
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      /** It served: its exit is a crash to restart from here; before that, the caller of this start decides. */
      let served = false;
      const timer = setTimeout(() => fail(new BalancerWorkersError(503, `a balancer worker did not start within ${WORKER_START_TIMEOUT_MS} ms`)), WORKER_START_TIMEOUT_MS);
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(err);
      };
      child.on('message', (message: WorkerMessage) => {
        switch (message?.type) {
          case 'loaded': {
            this.#handles.forEach((handle, index) => child.send({ type: 'listener', index } satisfies PrimaryMessage, handle as net.Server));
            const sticks: Record<string, Array<[string, string]>> = {};
            for (const [pool, table] of this.#sticks) sticks[pool] = [...table.entries()].map((e) => [e.key, e.serverId]);
            child.send({
              type: 'start', options: this.#workerOptions, live: this.#live, sticks, probe: slot.index === PROBER_SLOT, down: [...this.#down.values()],
            } satisfies PrimaryMessage);
            break;
          }
          case 'ready':
            if (settled) break;
            settled = true;
            served = true;
            clearTimeout(timer);
            slot.admin = message.admin;
            if (this.#addresses.length === 0) this.#addresses = message.addresses;
            resolve();
            break;
          case 'failed':
            fail(new BalancerWorkersError(503, `a balancer worker could not start: ${message.message} [${message.code}]`));
            break;
          case 'event':
            this.#onEvent(message.event);
            break;
          case 'stick':
            this.#onStick(slot, message);
            break;
          case 'health':
          case 'load':
            if (slot.index === PROBER_SLOT) this.#onHealth(message);
            break;
          case 'mark-down':
            this.#toSlot(PROBER_SLOT, message);
            break;
          default:
            break;
        }
      });
      child.once('exit', (code, signal) => {
        slot.admin = undefined;
        if (!settled) {
          fail(new BalancerWorkersError(503, `a balancer worker exited while starting (${signal ?? `code ${code}`})`));
          return;
        }
        if (!served || this.#closing !== undefined || slot.child !== child) return;
        this.#restartLater(slot, `balancer worker ${child.pid} exited (${signal ?? `code ${code}`}); starting another`);
      });
    });
  }

  #restartLater(slot: WorkerSlot, message: string): void {
    const now = Date.now();
    slot.quickCrashes = now - slot.startedAtMs < CRASH_LOOP_WINDOW_MS ? slot.quickCrashes + 1 : 0;
    // The first crash is restarted at once: the other workers carry the load meanwhile.
    const pauseMs = slot.quickCrashes === 0 ? 0 : Math.min(MAX_RESTART_PAUSE_MS, 100 * 2 ** slot.quickCrashes);
    slot.restarts++;
    this.#log({ at: this.#clock.now(), source: 'balancer', kind: 'worker-exit', pid: slot.child?.pid ?? 0, message });
    setTimeout(() => {
      void this.#serially(() => this.#startWorker(slot)).catch((err: unknown) => {
        if (this.#closing === undefined) this.#restartLater(slot, `a balancer worker could not start: ${(err as Error).message}`);
      });
    }, pauseMs).unref();
  }

  #onStick(from: WorkerSlot, message: Extract<WorkerMessage, { type: 'stick' }>): void {
    if (typeof message.pool !== 'string' || typeof message.key !== 'string' || typeof message.server !== 'string') return;
    this.#sticks.get(message.pool)?.set(message.key, message.server, this.#clock.now());
    for (const slot of this.#slots) {
      if (slot !== from && slot.child?.connected === true) slot.child.send(message satisfies PrimaryMessage);
    }
  }

  /** The prober's view goes to every other worker, and is kept for workers started later. */
  #onHealth(message: Extract<WorkerMessage, { type: 'health' | 'load' }>): void {
    if (typeof message.pool !== 'string' || typeof message.server !== 'string') return;
    if (message.type === 'health') {
      const key = `${message.pool}\u0000${message.server}`;
      if (message.healthy) this.#down.delete(key);
      else this.#down.set(key, { pool: message.pool, server: message.server, reason: String(message.reason) });
    }
    for (const slot of this.#slots) if (slot.index !== PROBER_SLOT) this.#toSlot(slot.index, message);
  }

  #toSlot(index: number, message: PrimaryMessage): void {
    const child = this.#slots[index]?.child;
    if (child?.connected === true) child.send(message);
  }

  /** Every worker logs a server's state change; the operator is told once. */
  #onEvent(event: BalancerEvent): void {
    // The primary says once that the balancer stopped.
    if (event.kind === 'balancer-stopped') return;
    if (event.kind === 'server-state') {
      const now = Date.now();
      const key = `${event.pool}\u0000${event.server}\u0000${event.state}\u0000${event.reason}`;
      const seen = this.#recentEvents.get(key);
      if (seen !== undefined && now - seen < EVENT_DEDUPE_MS) return;
      if (this.#recentEvents.size > 1000) {
        for (const [k, at] of this.#recentEvents) if (now - at >= EVENT_DEDUPE_MS) this.#recentEvents.delete(k);
      }
      this.#recentEvents.set(key, now);
    }
    this.#log(event);
  }

  /** Stops accepting (admin first), lets every worker finish what it has in flight, then frees the sockets. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#admin?.close();
    // Wait for a start under way, so that its worker is stopped too.
    await this.#serial;
    const graceMs = this.#options.timeouts.shutdownMs + 5_000;
    await Promise.all(this.#slots.map(async (slot) => {
      const child = slot.child;
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }));
    for (const handle of this.#ownHandles) handle.close();
    for (const stop of this.#stopSaves) await stop();
    this.#log({ at: this.#clock.now(), source: 'balancer', kind: 'balancer-stopped', message: 'balancer stopped' });
  }
}

/**
 * A pool whose `health` holds only what a config may set: workers parse the pools again,
 * and the strict health schema refuses the fields resolving added (jitter, initial state,
 * body bound), which the worker's own resolving puts back.
 */
function configHealth<P extends { health?: { path: string; intervalMs: number; timeoutMs: number; fastIntervalMs: number; rise: number; fall: number } | undefined }>(pool: P): P {
  if (pool.health === undefined) return pool;
  const { path, intervalMs, timeoutMs, fastIntervalMs, rise, fall } = pool.health;
  return { ...pool, health: { path, intervalMs, timeoutMs, fastIntervalMs, rise, fall } };
}
