import type { Pool, PoolClient } from 'pg';

/** One result row, as the driver returns it (column name to parsed value). */
export type Row = Record<string, unknown>;

/** Column metadata, when the driver reports it (pg does); the merge uses the type OID to order values. */
export interface FieldInfo {
  readonly name: string;
  readonly dataTypeID: number;
}

/** The part of a query result that sharding reads. */
export interface QueryResult<R = Row> {
  rows: R[];
  rowCount: number | null;
  /** The command tag's verb (`'UPDATE'`, `'DELETE'`, ...), when the driver reports it (pg does). */
  command?: string;
  fields?: readonly FieldInfo[];
}

/** Anything that runs one parameterised statement: a pool, a client inside a transaction, a router handle. */
export interface Queryable {
  query(text: string, params?: readonly unknown[]): Promise<QueryResult>;
}

/**
 * What sharding needs from one physical database. Both a plain `pg.Pool` (through
 * {@link fromPool}) and the replica router's `Database` fit, so a shard can be a
 * primary with replicas without this folder knowing about replication.
 */
export interface ShardBackend extends Queryable {
  /** Runs `fn` inside BEGIN/COMMIT on one connection; rolls back when `fn` throws. */
  transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Adapts a `pg.Pool` to {@link ShardBackend}. `close()` ends the pool.
 *
 * A pool without an `error` listener crashes the process when an idle connection
 * dies (server restart, network cut), so one that only swallows is added when the
 * pool has none; the next query then fails or reconnects normally.
 */
export function fromPool(pool: Pool): ShardBackend {
  if (pool.listenerCount('error') === 0) pool.on('error', () => undefined);
  return {
    query: (text, params) => pool.query(text, params === undefined ? undefined : [...params]),
    async transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
      const client: PoolClient = await pool.connect();
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const scoped: Queryable = { query: (text, params) => client.query(text, params === undefined ? undefined : [...params]) };
        const value = await fn(scoped);
        await client.query('COMMIT');
        return value;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          // The connection itself is gone; it must not go back to the pool.
          broken = rollbackErr;
        }
        throw err;
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
    close: () => pool.end(),
  };
}

/**
 * The parts of the replica router's `Database` (from `createDatabase`) that sharding
 * uses, described by shape so this folder does not depend on the router.
 */
export interface ReplicatedDatabaseLike {
  query(text: string, params?: unknown[], options?: { consistency?: 'primary' }): Promise<QueryResult>;
  transaction<T>(fn: (tx: { query(text: string, params?: unknown[]): Promise<QueryResult> }) => Promise<T>):
    Promise<{ value: T }>;
  close(): Promise<void>;
}

/**
 * Adapts a replicated `Database` to {@link ShardBackend}, so a shard (or the
 * directory) can be a primary with replicas. Every statement goes to the primary:
 * the guard, the copy, the catch-up and the verification must see every committed
 * write, and a write routed by key must find the fence. For replica reads of one
 * shard, query that shard's `Database` directly with the consistency you need.
 */
export function fromDatabase(db: ReplicatedDatabaseLike): ShardBackend {
  return {
    query: (text, params) => db.query(text, params === undefined ? undefined : [...params], { consistency: 'primary' }),
    async transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
      const result = await db.transaction((tx) =>
        fn({ query: (text, params) => tx.query(text, params === undefined ? undefined : [...params]) }));
      return result.value;
    },
    close: () => db.close(),
  };
}
