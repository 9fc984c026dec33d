import { createDatabase, DEFAULT_FAIL_AFTER_CHECKS } from '../db/index.js';
import type { Database, DatabaseLogger, FailoverEvent } from '../db/index.js';
import type { Clock } from '../internal/clock.js';
import { systemClock } from '../internal/clock.js';
import type { PostgresReplicaSet, PostgresExit, PostgresNode } from './engines/index.js';
import { DbFailoverError, DbRequestError } from './errors.js';
import type { SupervisorEvent } from './events.js';
import { SupervisedProcess, type ProcessRun } from './supervised-process.js';
import type { ProcessState } from './status.js';

/**
 * Interval of the supervisor's checks of the embedded nodes. A dead primary is
 * replaced after {@link DEFAULT_FAIL_AFTER_CHECKS} failed checks: about 1.5 s.
 * @defaultValue 500
 */
export const DB_FAILOVER_CHECK_INTERVAL_MS = 500;
/** How long `scaleout db failover` waits for a promotion once the primary is stopped. @defaultValue 30000 */
export const SWITCHOVER_TIMEOUT_MS = 30_000;

export interface PostgresGuardOptions {
  replicaSet: PostgresReplicaSet;
  /** Promote a replica when the primary stays down (needs a replica). */
  failover: boolean;
  /** The promoted primary waits for a replica on every commit (as the replica set did). */
  synchronous: boolean;
  /** Restart backoff of a crashed node, like an instance's. */
  restart: { initialMs: number; maxMs: number };
  /** @defaultValue systemClock */
  clock?: Clock;
  emit: (event: SupervisorEvent) => void;
}

/** What `scaleout db failover` did. */
export interface SwitchoverResult {
  from: string;
  to: string;
  timeline: number;
  /** From stopping the old primary to the router's promotion of the new one. */
  durationMs: number;
  /** The old primary streams from the new one again. */
  rebuilt: boolean;
}

/** What `scaleout db rebuild` did. */
export interface RebuildResult {
  node: string;
  primary: string;
  durationMs: number;
}

/** A node's run, as its {@link SupervisedProcess} holds it. */
interface NodeRun extends ProcessRun {
  readonly exited: Promise<PostgresExit>;
}

interface Watched {
  readonly node: PostgresNode;
  /** Its restarts (with backoff) and rebuilds: the runtime's one supervision. */
  readonly process: SupervisedProcess<NodeRun>;
  /** What its start is doing, for `scaleout status`. */
  activity: 'restarting' | 'rebuilding' | undefined;
  /** The last recovery started by a failover (the switchover waits for it). */
  recovery: Promise<void> | undefined;
  /** Its next start replaces its data by a copy of the primary's: an old primary, or a replica that would not start. */
  rebuild: boolean;
  /** What its last rebuild did. */
  rebuilt: RebuildResult | undefined;
  /** A dead primary, waiting for the router to promote a replica. */
  awaitingFailover: boolean;
}

const firstLine = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0] ?? '';

/**
 * Keeps the embedded PostgreSQL nodes of `scaleout up` serving. Each node is a
 * {@link SupervisedProcess} whose start restarts it, or rebuilds it when its data must
 * go; the guard adds only what is PostgreSQL's: a dead primary's restart is held until
 * a replica is promoted, and then it comes back rebuilt.
 *
 *     replica exits ──backoff──► restart (a replica that does not start: rebuild)
 *     primary exits ──► the router promotes the most advanced replica after
 *                       failAfterChecks missed checks ──► failover event ──►
 *                       refresh the replica set's roles ──► rebuild the old primary
 *                       as a replica of the new one (its restart)
 *
 * One process, one driver: the supervisor's router is the only one with failover
 * enabled; app instances' routers only follow the roles they discover. The old
 * primary is never started with its own data after a failover: that would bring
 * back a writable node on the old timeline (fenced by every router, but writable
 * for anyone connecting directly). Without failover (no replica, or
 * `engines.postgres.failover: false`) a dead primary is restarted in place.
 */
export class PostgresGuard {
  /** The supervisor's router: roles, lag and the failover. */
  readonly database: Database;
  readonly #replicaSet: PostgresReplicaSet;
  readonly #failover: boolean;
  readonly #emit: (event: SupervisorEvent) => void;
  readonly #clock: Clock;
  readonly #watched: Watched[];
  readonly #unsubscribe: Array<() => void> = [];
  readonly #failoverWaiters = new Set<(event: FailoverEvent) => void>();
  #stopped = false;
  #lastLog = '';
  /** Where the steps of a rebuild go while `scaleout db failover` or `db rebuild` waits for it. */
  #report: ((event: SupervisorEvent) => void) | undefined;

  constructor(options: PostgresGuardOptions) {
    const { replicaSet } = options;
    this.#replicaSet = replicaSet;
    this.#failover = options.failover && replicaSet.nodes.length > 1;
    this.#emit = options.emit;
    this.#clock = options.clock ?? systemClock;
    this.database = createDatabase({
      primary: replicaSet.primary.url(),
      replicas: replicaSet.replicas.map((n) => n.url()),
      checkIntervalMs: DB_FAILOVER_CHECK_INTERVAL_MS,
      pool: { max: 1 },
      failover: { enabled: this.#failover, synchronous: options.synchronous },
      logger: this.#logger(),
    });
    this.#unsubscribe.push(this.database.on('failover', (event) => this.#onFailover(event)));
    this.#watched = replicaSet.nodes.map((node) => this.#watchNode(node, options));
    for (const w of this.#watched) {
      // The nodes run already: the first start adopts them.
      w.process.start().catch((err: unknown) => this.#emit({ level: 'warn', source: w.node.name, message: `postgres ${w.node.name} is not watched: ${firstLine(err)}` }));
    }
  }

  #watchNode(node: PostgresNode, options: PostgresGuardOptions): Watched {
    const w: Watched = {
      node, activity: undefined, recovery: undefined, rebuild: false, rebuilt: undefined, awaitingFailover: false,
      process: new SupervisedProcess<NodeRun>({
        name: `postgres ${node.name}`,
        source: node.name,
        start: () => this.#startNode(w),
        restart: options.restart,
        restartNote: () => (w.rebuild ? 'rebuilt from the primary (its data is replaced)' : 'on the same port, with its data'),
        holdRestart: (_run, exit) => this.#holdRestart(w, exit as PostgresExit),
        emit: this.#emit,
        clock: this.#clock,
      }),
    };
    return w;
  }

  /** Whether a dead primary is replaced by a replica. */
  get failoverEnabled(): boolean {
    return this.#failover;
  }

  /** The node that takes writes: the router's answer when it has one, else the replica set's last view. */
  primaryNode(): PostgresNode {
    const name = this.database.topology().primary;
    const viaRouter = name === null ? undefined : this.#byAddress(name);
    return viaRouter?.isRunning() === true ? viaRouter : this.#replicaSet.primary;
  }

  /** Every node, the primary first: instances get all of them, so their routers can follow any promotion. */
  urls(database?: string): { primary: string; replicas: string[] } {
    const primary = this.primaryNode();
    return { primary: primary.url(database), replicas: this.#replicaSet.nodes.filter((n) => n !== primary).map((n) => n.url(database)) };
  }

  /** A node's line in `scaleout status`. */
  describe(node: PostgresNode): { state: ProcessState; detail: string } {
    const w = this.#watch(node);
    const running = node.isRunning();
    let detail = node === this.primaryNode() ? 'primary' : 'replica';
    if (w?.awaitingFailover === true) detail = 'primary, down: a replica is being promoted';
    else if (w?.activity === 'rebuilding') detail = 'replica, rebuilding from the primary';
    else if (w?.rebuild === true) detail = 'old primary, to be rebuilt as a replica';
    const lastExit = w?.process.lastExit;
    if (!running && lastExit !== undefined) detail += `, last exit ${lastExit}`;
    const supervised = w?.process.state ?? 'stopped';
    const state: ProcessState = running ? (w?.activity === 'rebuilding' ? 'starting' : 'running')
      : supervised === 'running' ? 'stopped' : supervised;
    return { state, detail };
  }

  // ── crashes ──────────────────────────────────────────────────────────────────

  /** A run that exits is restarted with backoff, unless we stopped it or it was the primary (a replica takes over). */
  #holdRestart(w: Watched, exit: PostgresExit): boolean {
    if (this.#stopped || exit.requested) return true;
    if (!this.#failover || w.node !== this.primaryNode()) return false;
    w.awaitingFailover = true;
    const how = exit.signal ?? `code ${exit.code ?? '?'}`;
    this.#emit({
      level: 'warn',
      source: w.node.name,
      message: `postgres ${w.node.name} (the primary) exited (${how}); a replica is promoted once it misses ${DEFAULT_FAIL_AFTER_CHECKS} checks`,
    });
    return true;
  }

  /** A node's start: adopts it when it runs, else restarts it, or rebuilds it from the primary. */
  async #startNode(w: Watched): Promise<NodeRun> {
    const { node } = w;
    if (!w.rebuild && node.isRunning()) return runOf(node);
    try {
      if (w.rebuild) {
        w.rebuilt = await this.#rebuild(w, this.#report ?? this.#emit);
      } else {
        w.activity = 'restarting';
        await node.start();
      }
    } catch (err) {
      // A replica that does not come back as it was is copied afresh next time.
      if (node !== this.primaryNode()) w.rebuild = true;
      throw err;
    } finally {
      w.activity = undefined;
    }
    if (!node.isRunning()) throw new Error('it exited again right after it started');
    return runOf(node);
  }

  async #rebuild(w: Watched, report: (event: SupervisorEvent) => void): Promise<RebuildResult> {
    const startedMs = this.#clock.now();
    w.activity = 'rebuilding';
    // With the old primary dead exactly one node is writable; otherwise the router's view decides.
    await this.#replicaSet.refreshRoles().catch(() => undefined);
    const primary = this.primaryNode();
    if (primary === w.node) {
      throw new DbRequestError('INVALID', `${w.node.name} is the primary; rebuild a replica, or run \`scaleout db failover\` first`);
    }
    report({ level: 'step', message: `postgres ${w.node.name}: rebuilding as a replica of ${primary.name} (its data is replaced by a copy of the primary's)` });
    await this.#replicaSet.rebuildAsReplica(w.node, primary);
    w.rebuild = false;
    w.awaitingFailover = false;
    const durationMs = this.#clock.now() - startedMs;
    report({ level: 'step', message: `postgres ${w.node.name} rebuilt: streams from ${primary.name} (${durationMs} ms)` });
    return { node: w.node.name, primary: primary.name, durationMs };
  }

  // ── failover ─────────────────────────────────────────────────────────────────

  #onFailover(event: FailoverEvent): void {
    for (const waiter of this.#failoverWaiters) waiter(event);
    const from = event.from === null ? undefined : this.#byAddress(event.from);
    const to = this.#byAddress(event.to);
    this.#emit({
      level: 'warn',
      source: to?.name ?? 'postgres',
      message: `postgres: failover to ${to?.name ?? event.to} (timeline ${event.timeline}${event.promotedByThisRouter ? '' : ', promoted by someone else'}), ` +
        `${event.durationMs} ms after ${from?.name ?? event.from ?? 'the primary'} stopped answering`,
    });
    const w = from === undefined ? undefined : this.#watch(from);
    if (w === undefined || this.#stopped) {
      void this.#replicaSet.refreshRoles().catch(() => undefined);
      return;
    }
    w.awaitingFailover = false;
    w.rebuild = true;
    // A failed rebuild is retried with backoff by its supervision.
    w.recovery = w.process.restartNow().then(() => undefined, () => undefined);
  }

  #nextFailover(timeoutMs: number): { event: Promise<FailoverEvent>; cancel(): void } {
    let cancel = (): void => {};
    const event = new Promise<FailoverEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#failoverWaiters.delete(waiter);
        reject(new DbFailoverError(`no replica was promoted within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (e: FailoverEvent): void => {
        clearTimeout(timer);
        this.#failoverWaiters.delete(waiter);
        resolve(e);
      };
      this.#failoverWaiters.add(waiter);
      cancel = () => {
        clearTimeout(timer);
        this.#failoverWaiters.delete(waiter);
      };
    });
    event.catch(() => undefined);
    return { event, cancel };
  }

  /**
   * A planned failover (switchover): stops the primary with a fast shutdown, which
   * sends its last WAL to the replicas before it exits, so nothing acknowledged is
   * lost even with asynchronous replication; the router then promotes the most
   * advanced replica as after a crash, and the old primary is rebuilt as its replica.
   * Writes fail (retriable) from the stop until the promotion, about 2 s.
   */
  async switchover(report: (event: SupervisorEvent) => void): Promise<SwitchoverResult> {
    if (!this.#failover) {
      throw new DbRequestError('INVALID', 'a failover needs a replica and engines.postgres.failover: true; set engines.postgres.replicas to 1 or more and restart scaleout up');
    }
    const old = this.primaryNode();
    const w = this.#watch(old)!;
    const healthy = this.database.topology().nodes.filter((n) => n.role === 'replica' && n.healthy);
    if (healthy.length === 0) {
      throw new DbRequestError('INVALID', `no healthy replica can take over from ${old.name}; wait until \`scaleout status\` shows one, then try again`);
    }
    if (w.activity !== undefined || w.awaitingFailover || !old.isRunning()) throw new DbRequestError('INVALID', `${old.name} is being restarted or replaced; try again once it runs`);
    const startedMs = this.#clock.now();
    this.#report = report;
    try {
      return await this.#switchover(old, w, startedMs, report);
    } finally {
      this.#report = undefined;
    }
  }

  async #switchover(old: PostgresNode, w: Watched, startedMs: number, report: (event: SupervisorEvent) => void): Promise<SwitchoverResult> {
    const promoted = this.#nextFailover(SWITCHOVER_TIMEOUT_MS);
    report({ level: 'step', message: `stopping ${old.name}, the primary (fast shutdown: the replicas receive its last WAL first)` });
    w.awaitingFailover = true;
    try {
      await old.stop('fast');
    } catch (err) {
      promoted.cancel();
      w.awaitingFailover = false;
      throw new DbFailoverError(`${old.name} did not stop: ${firstLine(err)}`, { cause: err });
    }
    report({ level: 'step', message: `${old.name} stopped; a replica is promoted after ${DEFAULT_FAIL_AFTER_CHECKS} missed checks` });
    let event: FailoverEvent;
    try {
      event = await promoted.event;
    } catch (err) {
      // Nobody took over: the old primary takes the writes again.
      w.awaitingFailover = false;
      await w.process.restartNow().catch(() => undefined);
      throw err;
    }
    const to = this.#byAddress(event.to)?.name ?? event.to;
    const durationMs = this.#clock.now() - startedMs;
    report({ level: 'step', message: `${to} promoted (timeline ${event.timeline}) in ${durationMs} ms; rebuilding ${old.name} as its replica` });
    await w.recovery;
    const rebuilt = !w.rebuild && old.isRunning();
    if (!rebuilt) report({ level: 'warn', message: `${old.name} was not rebuilt yet; the supervisor retries with backoff (see \`scaleout status\`)` });
    return { from: old.name, to, timeline: event.timeline, durationMs, rebuilt };
  }

  /** Replaces a replica's (or a fenced old primary's) data with a fresh copy of the primary's. */
  async rebuild(name: string, report: (event: SupervisorEvent) => void): Promise<RebuildResult> {
    const w = this.#watched.find((x) => x.node.name === name);
    if (w === undefined) {
      throw new DbRequestError('NODE_UNKNOWN', `no PostgreSQL node "${name}"; the nodes are ${this.#watched.map((x) => x.node.name).join(', ')}`);
    }
    if (w.node === this.primaryNode()) {
      throw new DbRequestError('INVALID', `${name} is the primary; rebuild a replica, or run \`scaleout db failover\` first to make ${name} one`);
    }
    w.rebuild = true;
    this.#report = report;
    try {
      // When it fails, its supervision tries again with backoff.
      await w.process.restartNow();
      return w.rebuilt!;
    } finally {
      this.#report = undefined;
    }
  }

  // ── helpers ──────────────────────────────────────────────────────────────────

  #watch(node: PostgresNode): Watched | undefined {
    return this.#watched.find((w) => w.node === node);
  }

  #byAddress(name: string): PostgresNode | undefined {
    return this.#replicaSet.nodes.find((n) => `${n.host}:${n.port}` === name);
  }

  /** The router's warnings as supervisor events, each once in a row (a failing step repeats every check). */
  #logger(): DatabaseLogger {
    const say = (obj: object, msg: string | undefined): void => {
      const fields = Object.entries(obj).map(([k, v]) => `${k} ${String(v)}`).join(', ');
      const message = `db: ${msg ?? ''}${fields === '' ? '' : ` (${fields})`}`;
      if (message === this.#lastLog || this.#stopped) return;
      this.#lastLog = message;
      this.#emit({ level: 'warn', message });
    };
    return { info: () => {}, warn: say, error: say };
  }

  /** Stops watching (no more restarts), closes the router, and lets a rebuild in progress end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unwatch();
    await this.database.close().catch(() => undefined);
    await Promise.all(this.#watched.map((w) => w.process.stopRestarts()));
  }

  /** Stops watching at once (the nodes are about to be killed). */
  kill(): void {
    this.#stopped = true;
    this.#unwatch();
  }

  #unwatch(): void {
    for (const w of this.#watched) void w.process.stopRestarts();
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    for (const waiter of this.#failoverWaiters) this.#failoverWaiters.delete(waiter);
  }
}

/** The node as a run: its next exit, whoever asked for it (the hold decides what it means). */
function runOf(node: PostgresNode): NodeRun {
  let unsubscribe = (): void => {};
  const exited = new Promise<PostgresExit>((resolve) => {
    unsubscribe = node.onExit((exit) => {
      unsubscribe();
      resolve(exit);
    });
  });
  return { pid: node.pid, exited, stop: () => node.stop(), kill: () => node.kill() };
}
