import type { Database, QueryOptions, ShardBackend } from 'scaleout/db';
import { readContext } from './read-your-writes.js';

/**
 * A shard that is itself a primary with replicas: a `ShardBackend` over the replica
 * router. Reads go to a replica (to one that has replayed the request's token for this
 * shard when it carries one, or to the primary inside `withPrimaryReads`); writes and
 * transactions go to the primary and move the request's token forward.
 */
export function replicatedShard(name: string, db: Database): ShardBackend {
  const route = (): { target: Pick<Database, 'query' | 'transaction'>; options: QueryOptions | undefined } => {
    const context = readContext();
    if (context?.primary === true) return { target: db, options: { consistency: 'primary' } };
    if (context?.tokens !== undefined) return { target: db.session(context.tokens.store(name)), options: undefined };
    return { target: db, options: undefined };
  };
  return {
    query(text, params) {
      const { target, options } = route();
      return target.query(text, params === undefined ? undefined : [...params], options);
    },
    async transaction(fn) {
      const { value } = await route().target.transaction((tx) => fn({
        query: (text, params) => tx.query(text, params === undefined ? undefined : [...params]),
      }));
      return value;
    },
    close: () => db.close(),
  };
}

/**
 * A backend whose every statement runs on the primary: for the shard directory, which
 * must never be read behind a switch, and which is created and read back at once.
 */
export function primaryOnly(db: Database): ShardBackend {
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
