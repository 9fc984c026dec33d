/**
 * `scaleout/db`: a replicated PostgreSQL database for Node. Statements are routed by
 * what they do (reads to replicas within a lag bound, writes to the primary), users
 * read their own writes through consistency tokens, roles are discovered from the
 * servers themselves, and a failed primary is replaced and fenced automatically.
 */
export { createDatabase } from './router.js';
export { ConsistencyToken } from './consistency-token.js';
export { classifyStatement } from './statement-classifier.js';
export type { Classification, RouteReason, StatementRoute } from './statement-classifier.js';
export type {
  Consistency, Database, DatabaseEvents, DatabaseSession, DbResult, Queryable, QueryOptions, TokenStore,
  TransactionClient, TransactionOptions, TransactionResult, WriteEvent,
} from './database.js';
export type { FailoverEvent, NodeRole, NodeStatus, TopologySnapshot } from './topology.js';
export {
  DEFAULT_CHECK_INTERVAL_MS, DEFAULT_CHECK_TIMEOUT_MS, DEFAULT_FAIL_AFTER_CHECKS, DEFAULT_MAX_LAG_MS,
  DEFAULT_POOL_CONNECTION_TIMEOUT_MS, DEFAULT_POOL_IDLE_TIMEOUT_MS, DEFAULT_POOL_MAX, DEFAULT_PROMOTE_TIMEOUT_S,
  DEFAULT_READ_YOUR_WRITES_WAIT_MS, DEFAULT_ROUTE_CACHE_SIZE,
} from './options.js';
export type { DatabaseLogger, DatabaseOptions, FailoverOptions } from './options.js';
export * from './errors.js';

// Read-your-writes across instances: tokens kept in the user's session, carried to every call of a request.
export * from './read-your-writes/index.js';
export { DB_CONSISTENCY_FIELD } from '../internal/wire.js';

// Sharding (buckets, directory, online resharding) and application-side joins and documents.
export * from './sharding/index.js';
export * from './documents/index.js';
