import { DB_CONSISTENCY_FIELD } from '../../internal/wire.js';
import { ConsistencyTokens } from './consistency-tokens.js';
import { readYourWrites } from './read-scope.js';

/**
 * Where a user's tokens are kept between requests: a `scaleout/session` `Session` fits
 * (`request.session`), as does anything with the same two methods.
 */
export interface TokenSession {
  get(field: string): Promise<unknown>;
  set(field: string, value: unknown): Promise<void>;
}

/**
 * Read-your-writes across instances in one call: loads the user's consistency tokens
 * from their session, runs `fn` with them (see {@link readYourWrites}), and saves them
 * back if a write inside moved one. What a user wrote through one instance is in the
 * next page any other instance serves them, even when that page reads a replica.
 *
 * The tokens live in the session field `_db` (`DB_CONSISTENCY_FIELD`). Registering the
 * Fastify plugin with `db` gives the same as `request.db.run(fn)`.
 *
 * @example
 * ```ts
 * import { createDatabase, readYourWritesDatabase, readYourWritesFromSession } from 'scaleout/db';
 *
 * const orders = readYourWritesDatabase('orders', createDatabase({ primary, replicas }));
 * app.post('/orders', (request) => readYourWritesFromSession(request.session, () =>
 *   orders.query('INSERT INTO orders (user_id) VALUES ($1)', [userId])));
 * // The next request, on any instance, reads a replica that already has the order:
 * app.get('/orders', (request) => readYourWritesFromSession(request.session, () =>
 *   orders.query('SELECT * FROM orders WHERE user_id = $1', [userId])));
 * ```
 */
export async function readYourWritesFromSession<T>(session: TokenSession, fn: () => Promise<T>): Promise<T> {
  const tokens = new ConsistencyTokens(await session.get(DB_CONSISTENCY_FIELD));
  const value = await readYourWrites(tokens, fn);
  if (tokens.changed) await session.set(DB_CONSISTENCY_FIELD, tokens.toJSON());
  return value;
}
