import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Queryable, TransactionClient } from '../../db/index.js';
import { CacheOptionsError } from '../errors.js';
import { cacheRedisUrl } from '../cache-options.js';
import { STREAM_NAME } from './write-behind.js';

/** Entries applied per database transaction. */
export const DEFAULT_WRITE_BEHIND_BATCH_SIZE = 100;
/** First pause after a failed batch; it doubles up to the maximum. */
export const DEFAULT_WRITE_BEHIND_MIN_BACKOFF_MS = 50;
/** @defaultValue */
export const DEFAULT_WRITE_BEHIND_MAX_BACKOFF_MS = 5_000;
/** How long one wait for new entries blocks (also how long `stop()` may wait for it). */
export const DEFAULT_WRITE_BEHIND_BLOCK_MS = 1_000;
/** @defaultValue */
export const DEFAULT_WRITE_BEHIND_OFFSETS_TABLE = 'scaleout_write_behind_offsets';

export interface WriteBehindFlusherOptions<T> {
  stream: string;
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
  /** @defaultValue {@link DEFAULT_WRITE_BEHIND_OFFSETS_TABLE} */
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

interface LogEntry { id: string; ms: bigint; seq: bigint; key: string; value: unknown }

/**
 * Applies a write-behind log to the database, in log order, one transaction per
 * batch. Exactly once: the batch's newest entry id is recorded in the offsets table
 * in the same transaction as its writes, and entries at or below it are skipped, so
 * an entry read again after a crash (between the commit and the removal from the
 * stream) or by a second flusher does nothing. Several writes to one key in a batch
 * are coalesced into one. A failed batch is retried with a growing pause.
 *
 * ```text
 *   XRANGE batch ─► BEGIN; lock offset row; skip ids ≤ offset; apply per key; offset := last id; COMMIT ─► XDEL batch
 * ```
 */
export class WriteBehindFlusher<T = unknown> {
  readonly #o: Required<Omit<WriteBehindFlusherOptions<T>, 'client' | 'url' | 'onError' | 'apply' | 'applyBatch'>> &
    Pick<WriteBehindFlusherOptions<T>, 'onError'> & { applyBatch: NonNullable<WriteBehindFlusherOptions<T>['applyBatch']> };
  readonly #client: Redis;
  readonly #ownsClient: boolean;
  readonly #table: string;
  #schema: Promise<void> | undefined;
  #running: Promise<void> | undefined;
  #stopping = false;
  readonly #stats: WriteBehindFlusherStats = { applied: 0, skipped: 0, batches: 0, failures: 0, lastError: undefined };

  constructor(options: WriteBehindFlusherOptions<T>) {
    if (typeof options?.stream !== 'string' || !STREAM_NAME.test(options.stream)) {
      throw new CacheOptionsError(`write-behind stream must be 1 to 200 letters, digits or _ : . -, got ${String(options?.stream)}`);
    }
    if ((typeof options.apply === 'function') === (typeof options.applyBatch === 'function')) {
      throw new CacheOptionsError('write-behind flusher needs one of apply(tx, key, value, ids) or applyBatch(tx, writes)');
    }
    const apply = options.apply;
    const applyBatch = options.applyBatch ?? (async (tx: TransactionClient, writes: readonly CoalescedWrite<T>[]) => {
      for (const w of writes) await apply!(tx, w.key, w.value, w.ids);
    });
    if (typeof options.db?.transaction !== 'function') throw new CacheOptionsError('write-behind flusher needs db: a scaleout/db Database');
    const table = options.offsetsTable ?? DEFAULT_WRITE_BEHIND_OFFSETS_TABLE;
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) throw new CacheOptionsError(`offsetsTable must be lower-case letters, digits and _, got ${table}`);
    this.#table = `"${table}"`;
    const positive = (name: string, v: number | undefined, d: number): number => {
      const value = v ?? d;
      if (!Number.isSafeInteger(value) || value <= 0) throw new CacheOptionsError(`${name} must be a positive integer, got ${String(v)}`);
      return value;
    };
    this.#o = {
      stream: options.stream, db: options.db, applyBatch, coalesce: options.coalesce ?? ((values) => values[values.length - 1]!),
      batchSize: positive('batchSize', options.batchSize, DEFAULT_WRITE_BEHIND_BATCH_SIZE),
      minBackoffMs: positive('minBackoffMs', options.minBackoffMs, DEFAULT_WRITE_BEHIND_MIN_BACKOFF_MS),
      maxBackoffMs: positive('maxBackoffMs', options.maxBackoffMs, DEFAULT_WRITE_BEHIND_MAX_BACKOFF_MS),
      blockMs: positive('blockMs', options.blockMs, DEFAULT_WRITE_BEHIND_BLOCK_MS),
      offsetsTable: table, onError: options.onError,
    };
    if (options.client !== undefined) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = new Redis(cacheRedisUrl(options.url), { maxRetriesPerRequest: 1, connectTimeout: 1_000 });
      this.#ownsClient = true;
    }
    this.#client.on('error', () => undefined);
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
    if (this.#ownsClient) await this.#client.quit().catch(() => { this.#client.disconnect(); });
  }

  stats(): WriteBehindFlusherStats {
    return { ...this.#stats };
  }

  /** Apply one batch now; returns how many entries it read (0: the log is empty). */
  async flushOnce(): Promise<number> {
    await this.#ensureSchema();
    const reply = await this.#client.xrange(this.#o.stream, '-', '+', 'COUNT', this.#o.batchSize);
    if (reply.length === 0) return 0;
    const entries = reply.map(([id, fields]) => parseEntry(id, fields));
    await this.#o.db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${this.#table} (stream) VALUES ($1) ON CONFLICT DO NOTHING`, [this.#o.stream]);
      const { rows } = await tx.query<{ ms: string; seq: string }>(
        `SELECT last_ms::text AS ms, last_seq::text AS seq FROM ${this.#table} WHERE stream = $1 FOR UPDATE`, [this.#o.stream]);
      const doneMs = BigInt(rows[0]!.ms);
      const doneSeq = BigInt(rows[0]!.seq);
      const fresh = entries.filter((e) => e.ms > doneMs || (e.ms === doneMs && e.seq > doneSeq));
      const byKey = new Map<string, LogEntry[]>();
      for (const e of fresh) {
        const list = byKey.get(e.key);
        if (list === undefined) byKey.set(e.key, [e]);
        else list.push(e);
      }
      const writes = [...byKey].map(([key, list]) => ({ key, value: this.#o.coalesce(list.map((e) => e.value as T)), ids: list.map((e) => e.id) }));
      if (writes.length > 0) await this.#o.applyBatch(tx, writes);
      const newest = entries[entries.length - 1]!;
      if (fresh.length > 0) {
        await tx.query(`UPDATE ${this.#table} SET last_ms = $2, last_seq = $3 WHERE stream = $1`,
          [this.#o.stream, newest.ms.toString(), newest.seq.toString()]);
      }
      this.#stats.skipped += entries.length - fresh.length;
      this.#stats.applied += fresh.length;
    });
    this.#stats.batches++;
    // After the commit: a crash before this line only means the entries are read and skipped again.
    await this.#client.xdel(this.#o.stream, ...entries.map((e) => e.id));
    return entries.length;
  }

  async #loop(): Promise<void> {
    let backoffMs = this.#o.minBackoffMs;
    while (!this.#stopping) {
      try {
        const count = await this.flushOnce();
        backoffMs = this.#o.minBackoffMs;
        if (count === 0 && !this.#stopping) {
          // Wakes as soon as an entry arrives (applied ones were removed, so any entry is new).
          await this.#client.xread('COUNT', 1, 'BLOCK', this.#o.blockMs, 'STREAMS', this.#o.stream, '0-0');
        }
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

  #ensureSchema(): Promise<void> {
    this.#schema ??= this.#o.db.transaction(async (tx) => {
      // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`scaleout_write_behind:${this.#table}`]);
      await tx.query(`CREATE TABLE IF NOT EXISTS ${this.#table} (
        stream text PRIMARY KEY, last_ms bigint NOT NULL DEFAULT 0, last_seq bigint NOT NULL DEFAULT 0)`);
    }).then(() => undefined, (err: unknown) => {
      this.#schema = undefined;
      throw err;
    });
    return this.#schema;
  }
}

function parseEntry(id: string, fields: string[]): LogEntry {
  const [ms, seq] = id.split('-');
  let key = '';
  let value: unknown = null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'k') key = fields[i + 1]!;
    else if (fields[i] === 'v') value = JSON.parse(fields[i + 1]!);
  }
  return { id, ms: BigInt(ms!), seq: BigInt(seq!), key, value };
}
