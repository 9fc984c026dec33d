import { defineErrorCatalogue } from '../../internal/error-catalogue.js';
import { ScaleoutError } from '../../internal/errors.js';

/** Invalid options given to `createShardedDatabase`, `reshard` or `runReshard`. */
export class ShardConfigError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_CONFIG';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ShardConfigError.code, message, options);
  }
}

/**
 * The directory was created with another bucket count or hash function. Both are fixed
 * for the life of the data: every stored row's bucket was computed with them.
 */
export class ShardMetaMismatchError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_META_MISMATCH';
  constructor(field: 'buckets' | 'hash', stored: string, requested: string) {
    super(ShardMetaMismatchError.code,
      `the shard directory was created with ${field}=${stored} but ${field}=${requested} was asked for; ` +
      `${field} cannot change after creation: pass ${field}: ${stored} (or omit it), or move the data into a new directory`);
  }
}

/** The directory table does not map every bucket to exactly one shard, or its meta row is unreadable. */
export class ShardDirectoryCorruptError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_DIRECTORY_CORRUPT';
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super(ShardDirectoryCorruptError.code,
      `the shard directory is inconsistent (${detail}); restore scaleout_shard_directory and scaleout_shard_meta ` +
      'from a backup or repair the named rows; no router starts on a directory it cannot trust', options);
  }
}

/** The directory names a shard that the router was not given a backend for. */
export class ShardUnknownError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_UNKNOWN';
  constructor(shard: string, known: readonly string[]) {
    super(ShardUnknownError.code,
      `shard "${shard}" is not configured (configured: ${known.join(', ') || 'none'}); ` +
      'add it to the shards option of every router and of the reshard command');
  }
}

/** A sharded table is missing on a shard, has no primary key, or lacks its shard key column. */
export class ShardTableError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_TABLE';
  constructor(table: string, shard: string, problem: string) {
    super(ShardTableError.code,
      `table "${table}" on shard "${shard}" ${problem}; create the same table on every shard ` +
      '(with a primary key and the declared shard key column) before opening the sharded database');
  }
}

/** A shard key that cannot be hashed: not a string, a safe integer or a bigint. */
export class ShardKeyError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_KEY';
  constructor(detail: string) {
    super(ShardKeyError.code,
      `invalid shard key (${detail}); pass a string, a safe integer or a bigint, as PostgreSQL prints the shard key column`);
  }
}

/** An UPDATE changed a row's shard key so that it would belong to another bucket. */
export class ShardKeyChangedError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_KEY_CHANGED';
  constructor(options: { cause?: unknown } = {}) {
    super(ShardKeyChangedError.code,
      'an UPDATE changed a shard key to a value in another bucket; delete the row and insert it again through forKey(newKey)',
      options);
  }
}

/**
 * A write kept hitting a bucket that is fenced for a move for longer than the router
 * waits. Retriable: the move either finishes or is aborted, and both end the fence.
 */
export class ShardMovedError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_MOVED';
  readonly bucket: number | undefined;
  constructor(bucket: number | undefined, waitedMs: number, options: { cause?: unknown } = {}) {
    super(ShardMovedError.code,
      `bucket ${bucket ?? '?'} stayed fenced for a move for ${waitedMs} ms; retry later, ` +
      'or run `scaleout reshard --recover` if no reshard is running (a crashed move leaves its fence)',
      { ...options, retriable: true });
    this.bucket = bucket;
  }
}

/** One shard failed during a scatter-gather read; no partial result is returned. */
export class ShardQueryError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_QUERY_FAILED';
  readonly shard: string;
  constructor(shard: string, options: { cause?: unknown } = {}) {
    super(ShardQueryError.code,
      `shard "${shard}" failed during a scatter-gather query; see the cause, check that shard, then retry`,
      { ...options, retriable: true });
    this.shard = shard;
  }
}

/** Another reshard holds the directory's reshard lock. */
export class ReshardBusyError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_RESHARD_BUSY';
  constructor() {
    super(ReshardBusyError.code,
      'another reshard is running against this directory; wait for it to finish (only one runs at a time)',
      { retriable: true });
  }
}

/**
 * Source and target disagreed after the final catch-up. The move was aborted: the
 * directory still names the source, the fence is lifted, the copy on the target is deleted.
 */
export class ReshardVerifyError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_VERIFY_MISMATCH';
  readonly buckets: readonly number[];
  readonly table: string;
  readonly source: { rows: number; checksum: string };
  readonly target: { rows: number; checksum: string };
  constructor(buckets: readonly number[], table: string,
    source: { rows: number; checksum: string }, target: { rows: number; checksum: string }) {
    super(ReshardVerifyError.code,
      `verification of buckets ${buckets.join(',')} failed on table "${table}" (source ${source.rows} rows, ` +
      `target ${target.rows} rows, checksums ${source.checksum} vs ${target.checksum}); the move was aborted and ` +
      'the buckets stay on their source: look for writes to the target that bypass the router, then run the reshard again');
    this.buckets = buckets;
    this.table = table;
    this.source = source;
    this.target = target;
  }
}

/** A move waited too long for transactions that were open on the source shard. */
export class ReshardTimeoutError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SHARD_WAIT_TIMEOUT';
  constructor(shard: string, waitedMs: number, pids: readonly number[]) {
    super(ReshardTimeoutError.code,
      `shard "${shard}" still had transactions open after ${waitedMs} ms (backend pids ${pids.join(', ')}); ` +
      'the move was aborted; end or shorten those transactions (pg_stat_activity) and run the reshard again',
      { retriable: true });
  }
}

/** Every code of sharding: what it means and what to do. */
export const SHARDING_ERRORS = defineErrorCatalogue('db/sharding', [
  { errorClass: ShardConfigError,
    meaning: 'Invalid options given to `createShardedDatabase`, `reshard` or `runReshard`; the message names the option.',
    action: 'Fix the named option.' },
  { errorClass: ShardMetaMismatchError,
    meaning: 'The shard directory was created with another bucket count or hash function. Both are fixed for the life of the data, since every stored row\'s bucket was computed with them.',
    action: 'Pass the stored value (or omit the option), or move the data into a new directory.' },
  { errorClass: ShardDirectoryCorruptError,
    meaning: 'The shard directory does not map every bucket to exactly one shard, or its meta row is unreadable. No router starts on a directory it cannot trust.',
    action: 'Restore `scaleout_shard_directory` and `scaleout_shard_meta` from a backup, or repair the rows the message names.' },
  { errorClass: ShardUnknownError,
    meaning: 'The directory names a shard that the router was not given a backend for.',
    action: 'Add that shard to the `shards` option of every router and of the reshard command.' },
  { errorClass: ShardTableError,
    meaning: 'A sharded table is missing on a shard, has no primary key, or lacks its shard key column.',
    action: 'Create the same table on every shard, with a primary key and the declared shard key column, before opening the sharded database.' },
  { errorClass: ShardKeyError,
    meaning: 'A shard key that cannot be hashed: not a string, a safe integer or a bigint.',
    action: 'Pass the key as a string, a safe integer or a bigint, as PostgreSQL prints the shard key column.' },
  { errorClass: ShardKeyChangedError,
    meaning: 'An UPDATE changed a row\'s shard key so that the row would belong to another bucket.',
    action: 'Delete the row and insert it again through `forKey(newKey)`.' },
  { errorClass: ShardMovedError,
    meaning: 'A write kept hitting a bucket fenced for a move for longer than the router waits. Retriable: the move either finishes or is aborted, and both end the fence.',
    action: 'Retry later. If no reshard is running, a crashed move left its fence: run `scaleout reshard --recover`.' },
  { errorClass: ShardQueryError,
    meaning: 'One shard failed during a scatter-gather read; no partial result is returned.',
    action: 'See the cause, check that shard, then retry.' },
  { errorClass: ReshardBusyError,
    meaning: 'Another reshard holds the directory\'s reshard lock; only one runs at a time.',
    action: 'Wait for the other reshard to finish, then run this one.' },
  { errorClass: ReshardVerifyError,
    meaning: 'Source and target disagreed after the final catch-up of a bucket move. The move was aborted: the directory still names the source, the fence is lifted and the copy on the target is deleted.',
    action: 'Look for writes to the target that bypass the router, then run the reshard again.' },
  { errorClass: ReshardTimeoutError,
    meaning: 'A bucket move waited too long for transactions that were open on the source shard, and was aborted.',
    action: 'End or shorten those transactions (`pg_stat_activity` shows them by pid) and run the reshard again.' },
]);
