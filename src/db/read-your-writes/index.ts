/**
 * Read-your-writes across instances: a user's consistency tokens (one per database),
 * the async scope that carries them to every database call of a request, views and
 * shard backends that follow that scope, and the one-call helper that keeps the
 * tokens in the user's session.
 */
export { ConsistencyTokens, MAX_TOKEN_CHARS, MAX_TOKEN_DATABASES } from './consistency-tokens.js';
export { currentReadScope, readYourWrites, withPrimaryReads } from './read-scope.js';
export type { ReadScope } from './read-scope.js';
export { primaryShard, readYourWritesDatabase, replicatedShard } from './replicated-backend.js';
export { readYourWritesFromSession } from './from-session.js';
export type { TokenSession } from './from-session.js';
