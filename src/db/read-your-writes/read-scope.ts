import { AsyncLocalStorage } from 'node:async_hooks';
import type { ConsistencyTokens } from './consistency-tokens.js';

/** How reads made inside {@link readYourWrites} or {@link withPrimaryReads} are routed. */
export interface ReadScope {
  /** The tokens reads must honour and writes move forward; undefined: reads may go anywhere. */
  tokens: ConsistencyTokens | undefined;
  /** Read the primary: for what must not miss a row written a moment ago by anyone. */
  primary: boolean;
}

const current = new AsyncLocalStorage<ReadScope>();

/**
 * Runs `fn` with `tokens` as the consistency tokens of every database call made inside
 * it through {@link readYourWritesDatabase} or {@link replicatedShard}. Handles built
 * once per process reach the request's tokens through the async context rather than
 * through arguments, so data functions keep their signatures.
 */
export function readYourWrites<T>(tokens: ConsistencyTokens, fn: () => Promise<T>): Promise<T> {
  return current.run({ tokens, primary: false }, fn);
}

/** Runs `fn` with every read on the primary (writes still move the tokens). */
export function withPrimaryReads<T>(fn: () => Promise<T>): Promise<T> {
  return current.run({ tokens: current.getStore()?.tokens, primary: true }, fn);
}

/** How the code running now wants its reads routed, if it said. */
export function currentReadScope(): ReadScope | undefined {
  return current.getStore();
}
