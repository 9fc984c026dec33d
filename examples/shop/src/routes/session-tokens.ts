import type { FastifyRequest } from 'fastify';
import { DB_CONSISTENCY_FIELD } from 'scaleout/session';
import { TokenBag, withTokens } from '../data/read-your-writes.js';
import type { Visitor } from '../http.js';

/**
 * Runs `fn` with the visitor's consistency tokens and saves them to the session if a
 * write moved one: what a user wrote through one instance is in the next page served
 * by any other, even when that page reads from a replica.
 */
export async function withSessionTokens<T>(request: FastifyRequest, v: Visitor, fn: () => Promise<T>): Promise<T> {
  const bag = new TokenBag(v.fields[DB_CONSISTENCY_FIELD]);
  const value = await withTokens(bag, fn);
  if (bag.changed) await request.session.set(DB_CONSISTENCY_FIELD, bag.toJSON());
  return value;
}
