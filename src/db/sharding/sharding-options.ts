import { systemClock, type Clock } from '../../internal/clock.js';
import { ShardConfigError, ShardUnknownError } from './errors.js';
import { BUCKET_COLUMN, IDENTIFIER } from './shard-schema.js';
import type { ShardedDatabaseOptions } from './sharded-database.js';

/**
 * The sharded router's defaults, the only copy: {@link resolveShardedDatabaseOptions}
 * applies them once, and the router takes the result.
 */

/**
 * How often a router polls the directory version and reloads when it changed.
 * @defaultValue 1000
 */
export const DEFAULT_REFRESH_INTERVAL_MS = 1000;
/**
 * How long a write waits, refreshing and retrying, for a fenced bucket to finish its move.
 * @defaultValue 10000
 */
export const DEFAULT_MOVED_RETRY_TIMEOUT_MS = 10_000;
/**
 * Connections per database opened by `runReshard`: one for the step in hand,
 * one for waiting on open transactions, spare ones for the copy's writes.
 * @defaultValue 4
 */
export const DEFAULT_RESHARD_POOL_SIZE = 4;

/** {@link ShardedDatabaseOptions} after validation, with every default filled in. */
export interface ResolvedShardedDatabaseOptions extends ShardedDatabaseOptions {
  /** The shard names, in the order given. */
  names: string[];
  initialShards: readonly string[];
  refreshIntervalMs: number;
  movedRetryTimeoutMs: number;
  prepareShards: boolean;
  closeBackends: boolean;
  clock: Clock;
}

/** Checks the router's options once, before anything connects, and applies the defaults. */
export function resolveShardedDatabaseOptions(options: ShardedDatabaseOptions): ResolvedShardedDatabaseOptions {
  const names = Object.keys(options.shards ?? {});
  if (names.length === 0) throw new ShardConfigError('shards is empty; give at least one shard backend by name');
  if (names.length > 65_535) throw new ShardConfigError('more than 65535 shards are not supported');
  for (const n of names) {
    if (n.length === 0 || n.length > 200) throw new ShardConfigError(`shard name "${n}" must be 1 to 200 characters`);
  }
  const tables = Object.entries(options.tables ?? {});
  if (tables.length === 0) throw new ShardConfigError('tables is empty; declare each sharded table with its shardKey');
  for (const [table, spec] of tables) {
    if (!IDENTIFIER.test(table)) throw new ShardConfigError(`table name "${table}" must be a plain SQL identifier`);
    if (typeof spec?.shardKey !== 'string' || !IDENTIFIER.test(spec.shardKey) || spec.shardKey === BUCKET_COLUMN) {
      throw new ShardConfigError(`tables.${table}.shardKey must name a column (a plain identifier other than "${BUCKET_COLUMN}")`);
    }
  }
  for (const n of options.initialShards ?? []) {
    if (!names.includes(n)) throw new ShardUnknownError(n, names);
  }
  if (options.initialShards !== undefined && options.initialShards.length === 0) {
    throw new ShardConfigError('initialShards is empty; name at least one shard to hold the buckets');
  }
  const b = options.buckets;
  if (b !== undefined && (!Number.isInteger(b) || b < 1 || b > 65_536)) {
    throw new ShardConfigError(`buckets is ${String(b)}; it must be an integer from 1 to 65536`);
  }
  const ms = (key: 'refreshIntervalMs' | 'movedRetryTimeoutMs', fallback: number): number => {
    const v = options[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ShardConfigError(`${key} must be a number >= 0`);
    return v;
  };
  return {
    ...options,
    names,
    initialShards: options.initialShards ?? names,
    refreshIntervalMs: ms('refreshIntervalMs', DEFAULT_REFRESH_INTERVAL_MS),
    movedRetryTimeoutMs: ms('movedRetryTimeoutMs', DEFAULT_MOVED_RETRY_TIMEOUT_MS),
    prepareShards: options.prepareShards ?? true,
    closeBackends: options.closeBackends ?? true,
    clock: options.clock ?? systemClock,
  };
}

/** The pool size `runReshard` opens per database, checked. */
export function resolveReshardPoolSize(poolSize: number | undefined): number {
  const max = poolSize ?? DEFAULT_RESHARD_POOL_SIZE;
  if (!Number.isInteger(max) || max < 1) throw new ShardConfigError(`poolSize is ${String(max)}; it must be an integer >= 1`);
  return max;
}
