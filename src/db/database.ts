import type { QueryResult, QueryResultRow } from 'pg';
import type { ConsistencyToken } from './consistency-token.js';
import type { FailoverEvent, TopologySnapshot } from './topology.js';

/**
 * How fresh a read must be.
 * - `eventual`: any replica within `maxLagMs` (or the primary when none is).
 * - `session`: a node that has replayed the given token's write (read-your-writes);
 *   without a token this is `eventual`.
 * - `primary`: always the primary.
 */
export type Consistency = 'eventual' | 'session' | 'primary';

/** Per-query routing options. */
export interface QueryOptions {
  /** @defaultValue `'session'` when a token is given, else `'eventual'` */
  consistency?: Consistency;
  /**
   * The newest token this caller holds. A string is parsed strictly; one that does
   * not parse is ignored and the read goes to the primary (the safe choice when we
   * cannot tell which write it stood for).
   */
  token?: ConsistencyToken | string | null;
  /**
   * Whether a write reads its token. Reading it costs one small statement after the
   * commit (in the same round trip when the primary is otherwise idle for this
   * router, else shared with concurrent writes); writers that never read back what
   * they wrote (jobs, imports) can skip it and cost exactly what a plain pg write does.
   * @defaultValue true
   */
  returnToken?: boolean;
}

/**
 * A query result. Statements that ran on the primary because they write (or might)
 * carry the `token` of their commit; reads carry none. For a string with several
 * statements (no parameters), this is the result of the last one.
 */
export type DbResult<R extends QueryResultRow = QueryResultRow> = QueryResult<R> & { token?: ConsistencyToken };

/** Transaction isolation and access mode. */
export interface TransactionOptions {
  /** @defaultValue `'read committed'` (the server's default) */
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /** @defaultValue false */
  readOnly?: boolean;
}

/** The handle a transaction callback gets; every statement runs on the primary, in order. */
export interface TransactionClient {
  query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
}

/** What `transaction()` resolves to: the callback's value and the commit's token. */
export interface TransactionResult<T> {
  value: T;
  token: ConsistencyToken;
}

/**
 * Where a session keeps its newest token (e.g. the user's server-side session).
 * `get` may return a serialized token or garbage; garbage sends reads to the primary.
 */
export interface TokenStore {
  get(): ConsistencyToken | string | null | undefined;
  set(token: ConsistencyToken): void;
}

/** Anything that runs queries: the database itself or a scoped session. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[], options?: QueryOptions): Promise<DbResult<R>>;
  transaction<T>(fn: (tx: TransactionClient) => Promise<T>, options?: TransactionOptions): Promise<TransactionResult<T>>;
}

/**
 * A handle whose reads honour one user's newest token and whose writes advance it:
 * that user sees their own writes even when reads go to replicas.
 */
export interface DatabaseSession extends Queryable {
  /** The newest valid token held, if any. */
  readonly token: ConsistencyToken | undefined;
}

/**
 * Statements that ran on the primary outside a read: an autocommit statement routed
 * to the primary (whether it succeeded or failed: a failure may still have committed,
 * e.g. when the connection broke), or every statement of a transaction that
 * committed (a rolled-back transaction emits nothing). Emitted after the commit.
 */
export interface WriteEvent {
  /** The SQL texts, in the order they ran; reads among them (inside a transaction) are included. */
  statements: readonly string[];
  /** The commit's token, when it was read. */
  token?: ConsistencyToken;
}

/** Events a database emits. Listeners must not throw (a throw is logged and ignored). */
export interface DatabaseEvents {
  /** A replica was promoted (by this router or by someone else) and writes moved to it. */
  failover: (event: FailoverEvent) => void;
  /** Roles, health or read eligibility of a node changed. */
  topology: (snapshot: TopologySnapshot) => void;
  /**
   * Something may have been written (see {@link WriteEvent}). The writer's promise
   * resolves only once every listener's returned promise has settled, so a listener
   * that invalidates a cache is done before the writer reads again; a rejection is
   * logged and ignored (the write itself is not undone). Without listeners it costs nothing.
   */
  write: (event: WriteEvent) => void | Promise<void>;
}

/**
 * A replicated PostgreSQL database: one primary, any number of streaming replicas.
 * Statements are routed by what they do; see `createDatabase`.
 */
export interface Database extends Queryable {
  /** A scoped handle keeping its token in memory, starting from `token` (if valid). */
  withToken(token?: ConsistencyToken | string | null): DatabaseSession;
  /** A scoped handle keeping its token in `store` (e.g. the user's session). */
  session(store: TokenStore): DatabaseSession;
  /** The current view of every node. */
  topology(): TopologySnapshot;
  /** Resolves once the first round of checks has found the roles. */
  ready(): Promise<void>;
  /** Subscribes to an event; returns a function that unsubscribes. */
  on<E extends keyof DatabaseEvents>(event: E, listener: DatabaseEvents[E]): () => void;
  /** Stops the checks and closes every connection. */
  close(): Promise<void>;
}
