export { fromDatabase, fromPool } from './backend.js';
export type {
  FieldInfo as ShardFieldInfo, Queryable as ShardQueryable, QueryResult as ShardQueryResult, ReplicatedDatabaseLike,
  Row as ShardRow, ShardBackend,
} from './backend.js';
export { bucketOf, HASH_ID, keyText, murmur3Text } from './bucket-hash.js';
export type { ShardKey } from './bucket-hash.js';
export { DEFAULT_BUCKETS } from './directory.js';
export type { BucketState } from './directory.js';
export {
  ReshardBusyError, ReshardTimeoutError, ReshardVerifyError, ShardConfigError, ShardDirectoryCorruptError,
  ShardKeyChangedError, ShardKeyError, ShardMetaMismatchError, ShardMovedError, ShardQueryError, ShardTableError,
  ShardUnknownError, SHARDING_ERRORS,
} from './errors.js';
export { compareValues, mergeRows, parseOrderBy, sumMerge } from './merge-rows.js';
export type { MergeOptions, OrderBy, OrderByTerm } from './merge-rows.js';
export { planRebalance } from './rebalance-plan.js';
export {
  DEFAULT_BATCH_BUCKETS, DEFAULT_CATCH_UP_THRESHOLD, DEFAULT_CLEANUP_GRACE_MS, DEFAULT_COPY_BATCH_ROWS, DEFAULT_FENCE_ATTEMPTS,
  DEFAULT_FENCE_WAIT_MS,
  DEFAULT_MAX_CATCH_UP_ROUNDS, DEFAULT_WAIT_TIMEOUT_MS,
} from './reshard.js';
export type { ReshardEvent, ReshardOptions, ReshardProgress, ReshardResult, ReshardStep } from './reshard.js';
export { DEFAULT_RESHARD_POOL_SIZE, runReshard } from './run-reshard.js';
export type { RunReshardOptions } from './run-reshard.js';
export { KEY_CHANGED_SQLSTATE, MOVED_SQLSTATE } from './shard-schema.js';
export type { ShardedTable } from './shard-schema.js';
export {
  createShardedDatabase, DEFAULT_MOVED_RETRY_TIMEOUT_MS, DEFAULT_REFRESH_INTERVAL_MS, ShardedDatabase,
} from './sharded-database.js';
export type {
  KeyHandle, QueryAllOptions, ShardedDatabaseOptions, ShardHandle, ShardResult,
} from './sharded-database.js';
