/**
 * `scaleout/cache`: a two-tier cache of cached objects. L1 in each process, L2 shared
 * (Redis, Memcached or PostgreSQL), single flight and a cross-process lease against
 * stampedes, grace, tags with O(1) invalidation, an L1 kept coherent by a bus plus a
 * bounded check against L2, and a circuit breaker that fails open to the loader.
 */
export { Cache } from './cache.js';
export type { CacheResult, CacheSource, Loader, WarmHandle, WarmOptions } from './cache.js';
export type { WarmRunner, WarmTask } from './warm-runner.js';
export {
  DEFAULT_CACHE_TTL_MS, DEFAULT_CACHE_GRACE_MS, DEFAULT_L1_MAX_ENTRIES, DEFAULT_L1_MAX_BYTES, DEFAULT_L1_MAX_STALE_MS,
  DEFAULT_LEASE_MS, DEFAULT_LEASE_WAIT_MS, DEFAULT_L2_TIMEOUT_MS, DEFAULT_CACHE_CHANNEL,
} from './cache-options.js';
export type { CacheOptions, EntryOptions } from './cache-options.js';
export type { CacheStats } from './cache-metrics.js';
export { cacheKey } from './cache-key.js';
export { DEFAULT_TTL_JITTER_PERCENT } from './entry.js';
export { DEFAULT_BREAKER_FAILURE_THRESHOLD, DEFAULT_BREAKER_COOLDOWN_MS } from './circuit-breaker.js';
export type { BreakerState } from './circuit-breaker.js';
export type { L2Store } from './l2-store.js';
export {
  RedisL2Store, DEFAULT_CACHE_REDIS_KEY_PREFIX, DEFAULT_CACHE_REDIS_CONNECT_TIMEOUT_MS, DEFAULT_CACHE_REDIS_COMMAND_TIMEOUT_MS,
} from './stores/redis-store.js';
export type { RedisL2StoreOptions } from './stores/redis-store.js';
export { MemcachedL2Store, DEFAULT_CACHE_MEMCACHED_KEY_PREFIX, DEFAULT_CACHE_MEMCACHED_TIMEOUT_MS } from './stores/memcached-store.js';
export type { MemcachedL2StoreOptions } from './stores/memcached-store.js';
export {
  PostgresL2Store, DEFAULT_CACHE_POSTGRES_TABLE, DEFAULT_CACHE_POSTGRES_CONNECT_TIMEOUT_MS, DEFAULT_CACHE_POSTGRES_QUERY_TIMEOUT_MS,
  DEFAULT_CACHE_POSTGRES_CLEANUP_INTERVAL_MS, DEFAULT_CACHE_POSTGRES_CLEANUP_BATCH_SIZE,
} from './stores/postgres-store.js';
export type { PostgresL2StoreOptions } from './stores/postgres-store.js';
export type { Bus } from './bus/bus.js';
export { RedisBus } from './bus/redis-bus.js';
export type { RedisBusOptions } from './bus/redis-bus.js';
export { PostgresBus } from './bus/postgres-bus.js';
export type { PostgresBusOptions } from './bus/postgres-bus.js';
export {
  CacheL2UnavailableError, CacheL2Error, CacheBusUnavailableError, CacheOptionsError, CacheKeyError, CacheValueError,
  CacheClosedError, CacheUnsupportedError, WriteBehindUnavailableError,
} from './errors.js';
export { MAX_KEY_CHARS } from './validate.js';
export { TABLE_TAG_PREFIX } from './query-cache.js';
export type { CachedQueryResult, QueryCacheOptions } from './query-cache.js';
export { analyzeRead, writtenTables, MAX_ANALYZED_SQL_CHARS } from './query-tables.js';
export type { ReadAnalysis, WrittenTables } from './query-tables.js';
export { DEFAULT_VERSION_TTL_MS } from './version.js';
export { writeThrough, invalidateOnWrite } from './write-policies.js';
export type { VersionedWrite, Invalidation } from './write-policies.js';
export { WriteBehind } from './write-behind/write-behind.js';
export type { WriteBehindOptions, WriteBehindAck } from './write-behind/write-behind.js';
export {
  WriteBehindFlusher, DEFAULT_WRITE_BEHIND_BATCH_SIZE, DEFAULT_WRITE_BEHIND_MIN_BACKOFF_MS, DEFAULT_WRITE_BEHIND_MAX_BACKOFF_MS,
  DEFAULT_WRITE_BEHIND_BLOCK_MS, DEFAULT_WRITE_BEHIND_OFFSETS_TABLE,
} from './write-behind/write-behind-flusher.js';
export type { CoalescedWrite, WriteBehindFlusherOptions, WriteBehindFlusherStats } from './write-behind/write-behind-flusher.js';
export type { WriteBehindLog, LoggedWrite, AppliedBatch } from './write-behind/write-behind-log.js';
export { RedisStreamLog } from './write-behind/redis-stream-log.js';
export type { RedisStreamLogOptions } from './write-behind/redis-stream-log.js';
export {
  PostgresTableLog, DEFAULT_WRITE_BEHIND_LOG_TABLE, DEFAULT_WRITE_BEHIND_POLL_MS, DEFAULT_WRITE_BEHIND_CONNECT_TIMEOUT_MS,
  DEFAULT_WRITE_BEHIND_QUERY_TIMEOUT_MS,
} from './write-behind/postgres-table-log.js';
export type { PostgresTableLogOptions } from './write-behind/postgres-table-log.js';
