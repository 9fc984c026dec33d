import type { Queryable, TransactionClient } from '../../db/index.js';

/** One logged write, as a flusher reads it back. */
export interface LoggedWrite {
  /** The log's id of the entry: orders the writes of one key. */
  id: string;
  key: string;
  value: unknown;
}

/** What one {@link WriteBehindLog.applyOldest} did. */
export interface AppliedBatch {
  /** Entries read from the log (0: it is empty). */
  read: number;
  /** Of those, entries applied now (the others had been applied before a crash, and were skipped). */
  applied: number;
}

/**
 * The durable log of write-behind: `WriteBehind` appends to it, `WriteBehindFlusher`
 * applies it to the database. Two kinds: a Redis stream (`RedisStreamLog`) and a
 * PostgreSQL table (`PostgresTableLog`). What each can lose is in docs/caching.md.
 */
export interface WriteBehindLog {
  /** How errors name the log, e.g. `redis stream orders`. */
  readonly description: string;
  /**
   * Make the write durable. Resolves with the entry's id and a version that grows with
   * each entry of the same key (what the cache's versioned set compares).
   */
  append(key: string, text: string): Promise<{ id: string; version: bigint }>;
  /** Entries not applied yet. */
  pending(): Promise<number>;
  /**
   * Read the oldest entries (at most `max`) and call `apply` with the ones not applied
   * yet, oldest first, inside one transaction of `db`, so that each entry is applied
   * exactly once even if the process dies at any point. `committed` is called once the
   * transaction has committed (before any clean-up of the log that may still fail).
   */
  applyOldest(db: Pick<Queryable, 'transaction'>, max: number,
    apply: (tx: TransactionClient, entries: readonly LoggedWrite[]) => Promise<void>,
    committed?: (batch: AppliedBatch) => void): Promise<AppliedBatch>;
  /** Resolve when an entry may have arrived, or after at most `ms`. */
  waitForEntries(ms: number): Promise<void>;
  close(): Promise<void>;
}
