import type { QueryResultRow } from 'pg';
import type {
  Database, DbResult, Queryable as DatabaseQueryable, QueryOptions, TransactionClient, TransactionOptions, TransactionResult,
} from '../database.js';
import type { ShardBackend } from '../sharding/backend.js';
import { currentReadScope } from './read-scope.js';

/**
 * A view of `db` that follows the read scope it is called in: inside
 * {@link readYourWrites} reads go to a node that has replayed the scope's token for
 * `name` and writes move that token forward; inside {@link withPrimaryReads} reads go
 * to the primary; outside both it is `db` itself. `name` is the key of this database
 * in the user's tokens: unique per database.
 */
export function readYourWritesDatabase(name: string, db: Database): DatabaseQueryable {
  const route = (): { target: Pick<Database, 'query' | 'transaction'>; options: QueryOptions | undefined } => {
    const scope = currentReadScope();
    if (scope?.primary === true) return { target: db, options: { consistency: 'primary' } };
    if (scope?.tokens !== undefined) return { target: db.session(scope.tokens.store(name)), options: undefined };
    return { target: db, options: undefined };
  };
  return {
    query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[], options?: QueryOptions): Promise<DbResult<R>> {
      const { target, options: routed } = route();
      // What the caller asks for explicitly wins over the scope.
      return target.query<R>(text, params, options ?? routed);
    },
    transaction<T>(fn: (tx: TransactionClient) => Promise<T>, options?: TransactionOptions): Promise<TransactionResult<T>> {
      return route().target.transaction(fn, options);
    },
  };
}

/**
 * A shard that is itself a primary with replicas: a `ShardBackend` over
 * {@link readYourWritesDatabase}, for `createShardedDatabase({ shards })`. Reads go
 * to a replica (one that has replayed the scope's token for this shard), writes and
 * transactions to the primary. `close()` closes `db`.
 */
export function replicatedShard(name: string, db: Database): ShardBackend {
  const view = readYourWritesDatabase(name, db);
  return {
    query: (text, params) => view.query(text, params === undefined ? undefined : [...params]),
    async transaction(fn) {
      const { value } = await view.transaction((tx) => fn({
        query: (text, params) => tx.query(text, params === undefined ? undefined : [...params]),
      }));
      return value;
    },
    close: () => db.close(),
  };
}

/**
 * A `ShardBackend` whose every statement runs on the primary: for a shard directory,
 * which must never be read behind a switch, and which is created and read back at once.
 */
export function primaryShard(db: Database): ShardBackend {
  return {
    query: (text, params) => db.query(text, params === undefined ? undefined : [...params], { consistency: 'primary' }),
    async transaction(fn) {
      const { value } = await db.transaction((tx) => fn({
        query: (text, params) => tx.query(text, params === undefined ? undefined : [...params]),
      }));
      return value;
    },
    close: () => db.close(),
  };
}
