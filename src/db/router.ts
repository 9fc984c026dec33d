import type pg from 'pg';
import type { QueryResult, QueryResultRow } from 'pg';
import { ConsistencyToken } from './consistency-token.js';
import type {
  Database, DatabaseEvents, DatabaseSession, DbResult, QueryOptions, TokenStore, TransactionClient, TransactionOptions,
  TransactionResult, WriteEvent,
} from './database.js';
import { ScopedSession } from './database-session.js';
import { type Checkout, DbNode } from './db-node.js';
import { beginStatement, isBroken, last, openTransaction, pipelined } from './client-helpers.js';
import { failureKind, toDbError } from './error-mapping.js';
import {
  ConnectionLostError, DatabaseClosedError, DatabaseOptionsError, FailoverInProgressError, NoPrimaryError, QueryError,
  TransactionAbortedError,
} from './errors.js';
import { FunctionVolatility } from './function-volatility.js';
import { type Lsn, parseLsn } from './lsn.js';
import { type DatabaseOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { RouteCache } from './route-cache.js';
import { classifyStatement, type StatementRoute } from './statement-classifier.js';
import { TopologyMonitor } from './topology-monitor.js';
import type { TopologySnapshot } from './topology.js';

// Read in the same session right after the commit, so it is at or past the commit
// record. The insert position (not the write or flush position) is used because with
// synchronous_commit = off the commit record may not be written yet when we ask.
const WAL_LSN_QUERY = { name: 'scaleout_wal_lsn', text: 'SELECT pg_current_wal_insert_lsn()::text AS lsn' };
const REPLAY_LSN_QUERY = { name: 'scaleout_replay_lsn', text: 'SELECT pg_last_wal_replay_lsn()::text AS lsn' };

type LsnRow = { lsn: string | null };

/**
 * Creates a replicated database handle: writes to the primary, reads spread over the
 * replicas that are within the lag bounds, read-your-writes through tokens, and
 * (optionally) automatic failover with fencing of the old primary.
 *
 * @example
 * const db = createDatabase({ primary: process.env.DATABASE_URL!, replicas: [process.env.REPLICA_URL!] });
 * const { rows, token } = await db.query('INSERT INTO orders (item) VALUES ($1) RETURNING id', ['book']);
 * await db.query('SELECT * FROM orders WHERE id = $1', [rows[0].id], { token }); // sees the insert
 */
export function createDatabase(options: DatabaseOptions): Database {
  return new ReplicaRouter(options);
}

class ReplicaRouter implements Database {
  #options: ResolvedOptions;
  #nodes: DbNode[];
  #monitor: TopologyMonitor;
  #routes: RouteCache;
  #volatility = new FunctionVolatility();
  #listeners: { [E in keyof DatabaseEvents]: Set<DatabaseEvents[E]> } = { failover: new Set(), topology: new Set(), write: new Set() };
  #closed = false;
  #turn = 0;

  constructor(options: DatabaseOptions) {
    this.#options = resolveOptions(options);
    const { pool, logger } = this.#options;
    this.#nodes = this.#options.nodes.map((config, i) => new DbNode(config, i, pool, logger));
    const names = new Set<string>();
    for (const node of this.#nodes) {
      if (names.has(node.name)) {
        void Promise.all(this.#nodes.map((n) => n.close()));
        throw new DatabaseOptionsError('replicas', node.name, 'a list of distinct nodes (this one appears twice)');
      }
      names.add(node.name);
    }
    this.#routes = new RouteCache(this.#options.routeCacheSize);
    this.#monitor = new TopologyMonitor(this.#nodes, this.#options, {
      failover: (event) => this.#emit('failover', event),
      topology: (snapshot) => this.#emit('topology', snapshot),
    });
    this.#monitor.start();
  }

  // Not async on purpose: a cached route costs no extra promise layers on the hot path.
  query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[], options?: QueryOptions): Promise<DbResult<R>> {
    if (this.#closed) return Promise.reject(new DatabaseClosedError());
    if (typeof text !== 'string') return Promise.reject(new QueryError('the query text must be a string', {}));
    if (params !== undefined && !Array.isArray(params)) return Promise.reject(new QueryError('query parameters must be an array', {}));
    if (options !== undefined) {
      const invalid = checkQueryOptions(options);
      if (invalid) return Promise.reject(invalid);
    }
    const route = this.#monitor.isReady ? this.#routes.get(text) : undefined;
    if (route === undefined) return this.#routeThenRun<R>(text, params, options);
    return this.#run<R>(route, text, params, options);
  }

  async #routeThenRun<R extends QueryResultRow>(text: string, params: unknown[] | undefined, options: QueryOptions | undefined): Promise<DbResult<R>> {
    if (!this.#monitor.isReady) await this.#monitor.whenReady();
    const route = this.#routes.get(text) ?? await this.#route(text);
    return this.#run<R>(route, text, params, options);
  }

  #run<R extends QueryResultRow>(route: StatementRoute, text: string, params: unknown[] | undefined, options: QueryOptions | undefined): Promise<DbResult<R>> {
    if (route === 'primary') {
      const ran = options?.returnToken === false ? this.#runOnPrimary<R>(text, params) : this.#write<R>(text, params);
      return this.#listeners.write.size === 0 ? ran : this.#afterWrite(ran, text);
    }
    if (options === undefined) return this.#readEventual<R>(text, params);
    const consistency = options.consistency ?? (options.token != null ? 'session' : 'eventual');
    if (consistency === 'primary') return this.#runOnPrimary<R>(text, params);
    if (consistency === 'session' && options.token != null) {
      const token = ConsistencyToken.from(options.token);
      // A token we cannot read stood for some write we cannot place: only the primary is sure to have it.
      return token ? this.#readAfter<R>(token, text, params) : this.#runOnPrimary<R>(text, params);
    }
    return this.#readEventual<R>(text, params);
  }

  async transaction<T>(fn: (tx: TransactionClient) => Promise<T>, options: TransactionOptions = {}): Promise<TransactionResult<T>> {
    if (this.#closed) throw new DatabaseClosedError();
    if (!this.#monitor.isReady) await this.#monitor.whenReady();
    const node = this.#writer();
    const timeline = this.#monitor.timeline;
    const { client, release } = await this.#connect(node);
    let broken: unknown;
    let ended = false;
    // Collected only for write listeners, and announced once the commit is known.
    const statements: string[] | undefined = this.#listeners.write.size === 0 ? undefined : [];
    let committing = false;
    node.outstanding++;
    try {
      await client.query(beginStatement(options));
      const tx: TransactionClient = {
        query: async <Row extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<QueryResult<Row>> => {
          if (ended) throw new QueryError('this transaction has already ended; run statements inside its callback', {});
          statements?.push(text);
          try {
            return last(await client.query<Row>(text, params));
          } catch (err) {
            if (isBroken(err)) broken = err;
            throw this.#mapError(err, node);
          }
        },
      };
      let value: T;
      try {
        value = await fn(tx);
      } catch (err) {
        ended = true;
        if (isBroken(err) || broken !== undefined) broken ??= err;
        else await client.query('ROLLBACK').catch((rollbackErr: unknown) => { broken = rollbackErr; });
        throw err;
      }
      ended = true;
      committing = true;
      const [commit, lsn] = pipelined(client, () => [client.query('COMMIT'), client.query<LsnRow>(WAL_LSN_QUERY)] as const);
      const committed = await commit;
      if (committed.command === 'ROLLBACK') { committing = false; throw new TransactionAbortedError(); }
      const token = await this.#tokenAfterCommit(lsn, node, timeline);
      if (statements !== undefined) await this.#emitWrite({ statements, token });
      committing = false;
      if (!token) throw new ConnectionLostError(node.name);
      return { value, token };
    } catch (err) {
      if (isBroken(err)) broken = err;
      // The connection broke during COMMIT: it may have committed, so listeners hear of it.
      if (committing && statements !== undefined) await this.#emitWrite({ statements });
      throw this.#mapError(err, node);
    } finally {
      ended = true;
      node.outstanding--;
      release(broken);
    }
  }

  withToken(token?: ConsistencyToken | string | null): DatabaseSession {
    let held: ConsistencyToken | string | null | undefined = token;
    return new ScopedSession(this, { get: () => held, set: (next) => { held = next; } });
  }

  session(store: TokenStore): DatabaseSession {
    return new ScopedSession(this, store);
  }

  topology(): TopologySnapshot {
    return this.#monitor.snapshot();
  }

  ready(): Promise<void> {
    return this.#monitor.whenReady();
  }

  on<E extends keyof DatabaseEvents>(event: E, listener: DatabaseEvents[E]): () => void {
    const set = this.#listeners[event] as Set<DatabaseEvents[E]>;
    set.add(listener);
    return () => { set.delete(listener); };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#monitor.stop();
    await Promise.all(this.#nodes.map((n) => n.close()));
  }

  // ---- routing ----

  async #route(text: string): Promise<StatementRoute> {
    const classification = classifyStatement(text);
    if (classification.route === 'primary' || classification.functions.length === 0) {
      this.#routes.set(text, classification.route);
      return classification.route;
    }
    const safe = await this.#volatility.allSafe(classification.functions, (sql, params) => this.#catalogQuery(sql, params));
    const route: StatementRoute = safe === true ? 'replica' : 'primary';
    if (safe !== undefined) this.#routes.set(text, route);
    return route;
  }

  async #catalogQuery(sql: string, params: unknown[]): Promise<{ schema: string; name: string; volatility: string }[]> {
    const targets = [this.#monitor.primary, ...this.#monitor.readable].filter((n): n is DbNode => n !== undefined && n.healthy);
    let lastError: unknown = new NoPrimaryError();
    for (const node of targets) {
      try {
        return (await node.connections.query<{ schema: string; name: string; volatility: string }>(sql, params)).rows;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  /** Least outstanding queries; ties go round robin so equal replicas share evenly. */
  #pick(list: readonly DbNode[]): DbNode | undefined {
    const count = list.length;
    if (count <= 1) return list[0];
    this.#turn = (this.#turn + 1) % 1_000_000_007;
    const start = this.#turn % count;
    let best = list[start] as DbNode;
    for (let i = 1; i < count; i++) {
      const candidate = list[(start + i) % count] as DbNode;
      if (candidate.outstanding < best.outstanding) best = candidate;
    }
    return best;
  }

  #writer(): DbNode {
    if (this.#monitor.failoverInProgress) throw new FailoverInProgressError();
    const primary = this.#monitor.primary;
    if (!primary || primary.fenced) {
      throw this.#options.failover.enabled ? new FailoverInProgressError() : new NoPrimaryError();
    }
    return primary;
  }

  async #connect(node: DbNode): Promise<Checkout> {
    try {
      return await node.checkout();
    } catch (err) {
      throw this.#mapError(err, node);
    }
  }

  #mapError(err: unknown, node: DbNode): unknown {
    const failoverPending = node === this.#monitor.primary && this.#options.failover.enabled;
    return toDbError(err, node.name, { failoverPending });
  }

  // ---- reads ----

  #readEventual<R extends QueryResultRow>(text: string, params: unknown[] | undefined): Promise<DbResult<R>> {
    const node = this.#pick(this.#monitor.readable);
    if (!node) return this.#runOnPrimary<R>(text, params);
    return this.#readOn<R>(node, text, params);
  }

  #readOn<R extends QueryResultRow>(node: DbNode, text: string, params: unknown[] | undefined): Promise<DbResult<R>> {
    node.outstanding++;
    return node.connections.query<R>(text, params).then(
      (result) => { node.outstanding--; return last(result); },
      (err: unknown) => { node.outstanding--; return this.#afterReplicaFailure<R>(err, node, text, params); },
    );
  }

  /**
   * A read failed on a replica. Connection trouble and recovery conflicts (40001 and
   * 40P01 on a standby) are retried once on the primary; a "read" that turned out to
   * write (25006, e.g. a view calling a volatile function) is re-routed for good.
   */
  #afterReplicaFailure<R extends QueryResultRow>(err: unknown, node: DbNode, text: string, params: unknown[] | undefined): Promise<DbResult<R>> {
    const kind = failureKind(err);
    if (kind === 'connect' || kind === 'connection') {
      this.#monitor.suspect(node);
      return this.#runOnPrimary<R>(text, params);
    }
    if (kind === 'conflict') return this.#runOnPrimary<R>(text, params);
    if (kind === 'read-only') {
      this.#routes.set(text, 'primary');
      return this.#listeners.write.size === 0 ? this.#write<R>(text, params) : this.#afterWrite(this.#write<R>(text, params), text);
    }
    throw this.#mapError(err, node);
  }

  #runOnPrimary<R extends QueryResultRow>(text: string, params: unknown[] | undefined): Promise<DbResult<R>> {
    let node: DbNode;
    try {
      node = this.#writer();
    } catch (err) {
      return Promise.reject(err);
    }
    node.outstanding++;
    return node.connections.query<R>(text, params).then(
      (result) => { node.outstanding--; return last(result); },
      (err: unknown) => { node.outstanding--; throw this.#mapError(err, node); },
    );
  }

  /**
   * Read-your-writes: a replica that has replayed past the token, else (after up to
   * `readYourWritesWaitMs`) the primary.
   * 1. A replica already known to be past it (from checks or earlier polls).
   * 2. One optimistic attempt on a replica: its replay position and
   *    the query go out in one round trip; the query's snapshot is taken after the
   *    position was read, so if the position passes, the result includes the write.
   * 3. Polling `pg_last_wal_replay_lsn()` on the replicas until one passes.
   */
  async #readAfter<R extends QueryResultRow>(token: ConsistencyToken, text: string, params: unknown[] | undefined): Promise<DbResult<R>> {
    const monitor = this.#monitor;
    const timeline = monitor.timeline;
    if (timeline === undefined || token.timeline > timeline) {
      // The token is from a primary this router has not seen yet: look again soon.
      if (timeline !== undefined) void monitor.checkNow().catch(() => {});
      return this.#runOnPrimary<R>(text, params);
    }
    let lsn: Lsn = token.lsn;
    if (token.timeline < timeline) {
      // Written before a failover. What survived of it lies before the new timeline's
      // switch point, which is at or before the first position we saw on it.
      if (monitor.timelineStartLsn === undefined) return this.#runOnPrimary<R>(text, params);
      if (monitor.timelineStartLsn < lsn) lsn = monitor.timelineStartLsn;
    }
    const passed = (list: readonly DbNode[]) => list.filter((n) => n.replayLsn !== undefined && n.replayLsn >= lsn);

    const known = this.#pick(passed(monitor.readable));
    if (known) return this.#readOn<R>(known, text, params);

    // Usually every replica is a millisecond behind at most: spread the attempt like any read.
    const target = this.#pick(monitor.readable);
    if (!target) return this.#runOnPrimary<R>(text, params);
    const optimistic = await this.#readIfReplayed<R>(target, lsn, text, params);
    if (optimistic) return optimistic;

    const { clock, readYourWritesWaitMs } = this.#options;
    const deadlineMs = clock.now() + readYourWritesWaitMs;
    const everyMs = Math.min(10, Math.max(1, Math.floor(readYourWritesWaitMs / 40)));
    const maxPolls = Math.ceil(readYourWritesWaitMs / everyMs);
    for (let i = 0; i < maxPolls && clock.now() < deadlineMs; i++) {
      await delay(everyMs);
      const candidates = monitor.readable;
      if (candidates.length === 0) break;
      await Promise.all(candidates.map((n) => n.pollReplay()));
      const ready = this.#pick(passed(candidates));
      if (ready) return this.#readOn<R>(ready, text, params);
    }
    return this.#runOnPrimary<R>(text, params);
  }

  async #readIfReplayed<R extends QueryResultRow>(node: DbNode, lsn: Lsn, text: string, params: unknown[] | undefined): Promise<DbResult<R> | undefined> {
    let client: pg.PoolClient;
    let release: Checkout['release'];
    try {
      ({ client, release } = await node.checkout());
    } catch {
      this.#monitor.suspect(node);
      return undefined;
    }
    node.outstanding++;
    const [check, result] = pipelined(client, () => [client.query<LsnRow>(REPLAY_LSN_QUERY), client.query<R>(text, params)] as const);
    // The connection goes back only once both answers are in, without making the
    // caller wait for a result it will not use.
    let broken: unknown;
    const settled = Promise.allSettled([check, result]).then((outcomes) => {
      for (const outcome of outcomes) if (outcome.status === 'rejected' && isBroken(outcome.reason)) broken = outcome.reason;
      node.outstanding--;
      release(broken);
    });
    let replayed: Lsn | undefined;
    try {
      replayed = parseLsn((await check).rows[0]?.lsn);
    } catch {
      await settled;
      if (broken) this.#monitor.suspect(node);
      return undefined;
    }
    node.noteReplay(replayed);
    if (replayed === undefined || replayed < lsn) return undefined;
    try {
      return last(await result);
    } catch (err) {
      await settled;
      return this.#afterReplicaFailure<R>(err, node, text, params);
    }
  }

  // ---- writes ----

  /**
   * Runs a write on the primary and reads its token, the cheapest correct way for
   * the load at hand:
   * - no other write in flight here: the statement and the position query go out
   *   together (pipeline mode, one Sync each: the statement commits at its own Sync,
   *   then the position is read), one round trip;
   * - other writes in flight: the connection goes back to the pool at once and the
   *   token comes from a position query shared with every write acknowledged before
   *   it was sent (see WalPositionReader), so under load a token costs a fraction
   *   of a statement instead of a whole one.
   */
  async #write<R extends QueryResultRow>(text: string, params: unknown[] | undefined): Promise<DbResult<R>> {
    const node = this.#writer();
    const timeline = this.#monitor.timeline;
    const inSession = node.writesInFlight === 0;
    node.writesInFlight++;
    try {
      let result: DbResult<R>;
      let position: Promise<QueryResult<LsnRow>> | undefined;
      const { client, release } = await this.#connect(node);
      let broken: unknown;
      node.outstanding++;
      try {
        let statement: Promise<QueryResult<R> | QueryResult<R>[]>;
        if (inSession) [statement, position] = pipelined(client, () => [client.query<R>(text, params), client.query<LsnRow>(WAL_LSN_QUERY)] as const);
        else statement = client.query<R>(text, params);
        try {
          result = last(await statement);
        } catch (err) {
          if (isBroken(err)) broken = err;
          throw this.#mapError(err, node);
        }
        if (position) await position.catch(() => {});
        if (openTransaction(client)) broken = true;
      } finally {
        node.outstanding--;
        release(broken);
      }
      const token = await this.#tokenAfterCommit(position, node, timeline);
      if (token) result.token = token;
      return result;
    } finally {
      node.writesInFlight--;
    }
  }

  /**
   * The token from the pipelined position query if there was one (and it answered),
   * else from a shared position query sent after the commit.
   */
  async #tokenAfterCommit(position: Promise<QueryResult<LsnRow>> | undefined, node: DbNode, timeline: number | undefined): Promise<ConsistencyToken | undefined> {
    if (timeline === undefined) return undefined;
    let lsn: Lsn | undefined;
    if (position) {
      try {
        lsn = parseLsn((await position).rows[0]?.lsn);
      } catch {
        // The connection broke after the commit; a fresh read is just as good.
      }
    }
    lsn ??= await node.positions.after();
    return lsn === undefined ? undefined : new ConsistencyToken(timeline, lsn);
  }

  /** Announces a statement that ran on the primary, after it settled either way (a failure may have committed). */
  #afterWrite<R extends QueryResultRow>(ran: Promise<DbResult<R>>, text: string): Promise<DbResult<R>> {
    return ran.then(
      async (result) => { await this.#emitWrite({ statements: [text], token: result.token }); return result; },
      async (err: unknown) => { await this.#emitWrite({ statements: [text] }); throw err; },
    );
  }

  async #emitWrite(event: WriteEvent): Promise<void> {
    const outcomes = await Promise.allSettled([...this.#listeners.write].map(async (listener) => listener(event)));
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        this.#options.logger.error({ event: 'write', err: (outcome.reason as Error)?.message }, 'database write listener failed');
      }
    }
  }

  #emit<E extends keyof DatabaseEvents>(event: E, payload: Parameters<DatabaseEvents[E]>[0]): void {
    for (const listener of this.#listeners[event]) {
      try {
        (listener as (arg: typeof payload) => void)(payload);
      } catch (err) {
        this.#options.logger.error({ event, err: (err as Error).message }, 'database event listener threw');
      }
    }
  }
}

const CONSISTENCIES = new Set(['eventual', 'session', 'primary']);

function checkQueryOptions(options: QueryOptions): DatabaseOptionsError | undefined {
  if (typeof options !== 'object' || options === null) return new DatabaseOptionsError('query options', options, 'an object');
  if (options.consistency !== undefined && !CONSISTENCIES.has(options.consistency)) {
    return new DatabaseOptionsError('consistency', options.consistency, "'eventual', 'session' or 'primary'");
  }
  return undefined;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
