import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Queryable, TransactionClient } from '../../db/index.js';
import { CacheOptionsError } from '../errors.js';
import { DEFAULT_WRITE_BEHIND_OFFSETS_TABLE, RedisStreamLog } from './redis-stream-log.js';
import type { LoggedWrite, WriteBehindLog } from './write-behind-log.js';

export { DEFAULT_WRITE_BEHIND_OFFSETS_TABLE } from './redis-stream-log.js';

/** Entries applied per database transaction. */
export const DEFAULT_WRITE_BEHIND_BATCH_SIZE = 100;
/** First pause after a failed batch; it doubles up to the maximum. */
export const DEFAULT_WRITE_BEHIND_MIN_BACKOFF_MS = 50;
/** @defaultValue */
export const DEFAULT_WRITE_BEHIND_MAX_BACKOFF_MS = 5_000;
/** How long one wait for new entries blocks (also how long `stop()` may wait for it). */
export const DEFAULT_WRITE_BEHIND_BLOCK_MS = 1_000;

export interface WriteBehindFlusherOptions<T> {
  /**
   * The log to apply (it stays open on `close()`); a `PostgresTableLog` must be in
   * `db`'s database. Without it, `stream` names a Redis stream log opened here.
   */
  log?: WriteBehindLog;
  /** The Redis stream that is the log (without `log`). */
  stream?: string;
  /** The database (a `scaleout/db` Database: its writes then invalidate cached queries too). */
  db: Pick<Queryable, 'query' | 'transaction'>;
  /**
   * Apply one key's writes of a batch (coalesced into one value) inside the batch's
   * transaction. `ids` are the log entries it stands for, oldest first.
   */
  apply?: (tx: TransactionClient, key: string, value: T, ids: readonly string[]) => Promise<void>;
  /**
   * Apply a whole batch (one coalesced write per key, in log order) in one go, e.g.
   * with one set-based statement: far fewer round trips than `apply` per key. Give
   * `apply` or `applyBatch`.
   */
  applyBatch?: (tx: TransactionClient, writes: readonly CoalescedWrite<T>[]) => Promise<void>;
  /** Turn several values of one key in one batch into one, oldest first. @defaultValue the last one */
  coalesce?: (values: T[]) => T;
  /** The Redis connection of the stream (without `log`); it stays open on `close()`. */
  client?: Redis;
  /** @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379` */
  url?: string;
  /** @defaultValue {@link DEFAULT_WRITE_BEHIND_BATCH_SIZE} */
  batchSize?: number;
  /** @defaultValue {@link DEFAULT_WRITE_BEHIND_MIN_BACKOFF_MS} */
  minBackoffMs?: number;
  /** @defaultValue {@link DEFAULT_WRITE_BEHIND_MAX_BACKOFF_MS} */
  maxBackoffMs?: number;
  /** @defaultValue {@link DEFAULT_WRITE_BEHIND_BLOCK_MS} */
  blockMs?: number;
  /** The Redis stream's offsets table (without `log`). @defaultValue {@link DEFAULT_WRITE_BEHIND_OFFSETS_TABLE} */
  offsetsTable?: string;
  /** Told of every failed batch before the pause (the batch is retried). */
  onError?: (err: unknown) => void;
}

/** One key's writes of a batch, coalesced. */
export interface CoalescedWrite<T> {
  key: string;
  value: T;
  /** The log entries it stands for, oldest first. */
  ids: readonly string[];
}

export interface WriteBehindFlusherStats {
  /** Log entries applied to the database. */
  applied: number;
  /** Entries read again after a crash or retry and skipped, as already applied. */
  skipped: number;
  /** Committed batches. */
  batches: number;
  /** Failed batches (each retried after a pause). */
  failures: number;
  lastError: string | undefined;
}

/**
 * Applies a write-behind log to the database, in log order per key, one transaction
 * per batch, exactly once (how depends on the log: an offsets row for a Redis stream,
 * deleting the batch in the applying transaction for a PostgreSQL table). Several
 * writes to one key in a batch are coalesced into one. A failed batch is retried
 * whole, with a growing pause.
 */
export class WriteBehindFlusher<T = unknown> {
  readonly #o: Required<Omit<WriteBehindFlusherOptions<T>, 'client' | 'url' | 'onError' | 'apply' | 'applyBatch' | 'log' | 'stream' | 'offsetsTable'>> &
    Pick<WriteBehindFlusherOptions<T>, 'onError'> & { applyBatch: NonNullable<WriteBehindFlusherOptions<T>['applyBatch']> };
  readonly #log: WriteBehindLog;
  readonly #ownsLog: boolean;
  #running: Promise<void> | undefined;
  #stopping = false;
  readonly #stats: WriteBehindFlusherStats = { applied: 0, skipped: 0, batches: 0, failures: 0, lastError: undefined };

  constructor(options: WriteBehindFlusherOptions<T>) {
    if ((typeof options?.apply === 'function') === (typeof options?.applyBatch === 'function')) {
      throw new CacheOptionsError('write-behind flusher needs one of apply(tx, key, value, ids) or applyBatch(tx, writes)');
    }
    const apply = options.apply;
    const applyBatch = options.applyBatch ?? (async (tx: TransactionClient, writes: readonly CoalescedWrite<T>[]) => {
      for (const w of writes) await apply!(tx, w.key, w.value, w.ids);
    });
    if (typeof options.db?.transaction !== 'function') throw new CacheOptionsError('write-behind flusher needs db: a scaleout/db Database');
    const positive = (name: string, v: number | undefined, d: number): number => {
      const value = v ?? d;
      if (!Number.isSafeInteger(value) || value <= 0) throw new CacheOptionsError(`${name} must be a positive integer, got ${String(v)}`);
      return value;
    };
    this.#o = {
      db: options.db, applyBatch, coalesce: options.coalesce ?? ((values) => values[values.length - 1]!),
      batchSize: positive('batchSize', options.batchSize, DEFAULT_WRITE_BEHIND_BATCH_SIZE),
      minBackoffMs: positive('minBackoffMs', options.minBackoffMs, DEFAULT_WRITE_BEHIND_MIN_BACKOFF_MS),
      maxBackoffMs: positive('maxBackoffMs', options.maxBackoffMs, DEFAULT_WRITE_BEHIND_MAX_BACKOFF_MS),
      blockMs: positive('blockMs', options.blockMs, DEFAULT_WRITE_BEHIND_BLOCK_MS),
      onError: options.onError,
    };
    if (options.log !== undefined) {
      if (options.stream !== undefined || options.client !== undefined || options.url !== undefined || options.offsetsTable !== undefined) {
        throw new CacheOptionsError('write-behind flusher takes a log, or a Redis stream (stream, client, url, offsetsTable), not both');
      }
      this.#log = options.log;
      this.#ownsLog = false;
    } else {
      this.#log = new RedisStreamLog({
        stream: options.stream as string,
        offsetsTable: options.offsetsTable ?? DEFAULT_WRITE_BEHIND_OFFSETS_TABLE,
        ...(options.client === undefined ? {} : { client: options.client }),
        ...(options.url === undefined ? {} : { url: options.url }),
      });
      this.#ownsLog = true;
    }
  }

  /** Run until `stop()`: apply batches while there are entries, wait for more otherwise. */
  start(): void {
    if (this.#running !== undefined) return;
    this.#stopping = false;
    this.#running = this.#loop();
  }

  /** Finish the batch in flight (if any) and stop. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#running;
    this.#running = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
    if (this.#ownsLog) await this.#log.close();
  }

  stats(): WriteBehindFlusherStats {
    return { ...this.#stats };
  }

  /** Apply one batch now; returns how many entries it read (0: the log is empty). */
  async flushOnce(): Promise<number> {
    const batch = await this.#log.applyOldest(this.#o.db, this.#o.batchSize, async (tx, entries) => {
      const byKey = new Map<string, LoggedWrite[]>();
      for (const e of entries) {
        const list = byKey.get(e.key);
        if (list === undefined) byKey.set(e.key, [e]);
        else list.push(e);
      }
      const writes = [...byKey].map(([key, list]) => ({ key, value: this.#o.coalesce(list.map((e) => e.value as T)), ids: list.map((e) => e.id) }));
      await this.#o.applyBatch(tx, writes);
    }, (committed) => {
      this.#stats.batches++;
      this.#stats.applied += committed.applied;
      this.#stats.skipped += committed.read - committed.applied;
    });
    return batch.read;
  }

  async #loop(): Promise<void> {
    let backoffMs = this.#o.minBackoffMs;
    while (!this.#stopping) {
      try {
        const count = await this.flushOnce();
        backoffMs = this.#o.minBackoffMs;
        if (count === 0 && !this.#stopping) await this.#log.waitForEntries(this.#o.blockMs);
      } catch (err) {
        this.#stats.failures++;
        this.#stats.lastError = (err as Error)?.message ?? String(err);
        try {
          this.#o.onError?.(err);
        } catch {
          // a throwing listener must not stop the flusher
        }
        await delay(backoffMs);
        backoffMs = Math.min(backoffMs * 2, this.#o.maxBackoffMs);
      }
    }
  }
}
