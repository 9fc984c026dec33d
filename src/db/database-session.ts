import type { QueryResultRow } from 'pg';
import { ConsistencyToken } from './consistency-token.js';
import type {
  Database, DatabaseSession, DbResult, QueryOptions, TokenStore, TransactionClient, TransactionOptions, TransactionResult,
} from './database.js';

/**
 * A scoped handle over one token store: reads default to `session` consistency with
 * the stored token, and every write moves the stored token forward (never back: of
 * two tokens the newer one is kept, so concurrent requests of one user cannot lose a
 * write's token).
 */
export class ScopedSession implements DatabaseSession {
  #db: Pick<Database, 'query' | 'transaction'>;
  #store: TokenStore;

  constructor(db: Pick<Database, 'query' | 'transaction'>, store: TokenStore) {
    this.#db = db;
    this.#store = store;
  }

  get token(): ConsistencyToken | undefined {
    return ConsistencyToken.from(this.#stored());
  }

  async query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[], options?: QueryOptions): Promise<DbResult<R>> {
    const result = await this.#db.query<R>(text, params, {
      consistency: options?.consistency ?? 'session',
      token: options?.token !== undefined ? options.token : this.#stored(),
    });
    if (result.token) this.#advance(result.token);
    return result;
  }

  async transaction<T>(fn: (tx: TransactionClient) => Promise<T>, options?: TransactionOptions): Promise<TransactionResult<T>> {
    const result = await this.#db.transaction(fn, options);
    this.#advance(result.token);
    return result;
  }

  #stored(): ConsistencyToken | string | null | undefined {
    try {
      return this.#store.get();
    } catch {
      // A broken store reads as garbage: the primary answers.
      return 'unreadable';
    }
  }

  #advance(token: ConsistencyToken): void {
    const current = this.token;
    const newest = ConsistencyToken.newest(current, token);
    if (newest !== current) this.#store.set(token);
  }
}
