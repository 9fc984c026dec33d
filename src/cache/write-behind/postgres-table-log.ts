import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import type { Queryable, TransactionClient } from '../../db/index.js';
import { createSchemaUnderLock, openStorePool } from '../../internal/store-connections.js';
import { DEFAULT_WRITE_BEHIND_POSTGRES_LOG, resolvePostgresTableLogOptions } from '../cache-options.js';
import type { AppliedBatch, LoggedWrite, WriteBehindLog } from './write-behind-log.js';

/** @defaultValue */
export const DEFAULT_WRITE_BEHIND_LOG_TABLE = DEFAULT_WRITE_BEHIND_POSTGRES_LOG.table;
/** How often an idle flusher looks for new entries in a PostgreSQL log. */
export const DEFAULT_WRITE_BEHIND_POLL_MS = DEFAULT_WRITE_BEHIND_POSTGRES_LOG.pollMs;
/** How long getting a connection may take before an append fails. */
export const DEFAULT_WRITE_BEHIND_CONNECT_TIMEOUT_MS = DEFAULT_WRITE_BEHIND_POSTGRES_LOG.connectTimeoutMs;
/** How long one append may take before it fails (unacknowledged). */
export const DEFAULT_WRITE_BEHIND_QUERY_TIMEOUT_MS = DEFAULT_WRITE_BEHIND_POSTGRES_LOG.queryTimeoutMs;

export interface PostgresTableLogOptions {
  /**
   * The log table, created if missing. It must live in the database the flusher applies
   * the log to: applying a batch and deleting it from the log is one transaction.
   * Lower-case letters, digits and `_`. @defaultValue {@link DEFAULT_WRITE_BEHIND_LOG_TABLE}
   */
  table?: string;
  /** A pool to append with; it stays open on `close()`. */
  pool?: pg.Pool;
  /** @defaultValue `process.env.DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/postgres` */
  connectionString?: string;
  /** @defaultValue {@link DEFAULT_WRITE_BEHIND_POLL_MS} */
  pollMs?: number;
  /** @defaultValue {@link DEFAULT_WRITE_BEHIND_CONNECT_TIMEOUT_MS} */
  connectTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_WRITE_BEHIND_QUERY_TIMEOUT_MS} */
  queryTimeoutMs?: number;
}

/**
 * Write-behind log in a PostgreSQL table, for the `postgres` profile: an entry is
 * acknowledged once its INSERT commits (with `synchronous_commit` on, once it is in the
 * WAL on disk, and on a synchronous replica if there is one). The flusher deletes a
 * batch from the log and applies it in one transaction, so an entry is applied exactly
 * once without an offsets table, and a flusher killed mid-batch leaves the whole batch
 * in the log.
 *
 * Ids come from a sequence, and a sequence hands out ids before commit: of two writers
 * of one key, the one with the smaller id could commit later and be applied after the
 * other. So an append takes a transaction-scoped advisory lock on its key first: for
 * one key, ids then follow commit order.
 *
 * ```text
 *   append:  lock(key) ─► INSERT (key, value) RETURNING id ─► COMMIT
 *   flusher: BEGIN; lock(log); DELETE oldest batch RETURNING *; apply; COMMIT
 * ```
 */
export class PostgresTableLog implements WriteBehindLog {
  readonly description: string;
  readonly #table: string;
  readonly #lockName: string;
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #pollMs: number;
  #schema: Promise<void> | undefined;
  #closed = false;

  constructor(options: PostgresTableLogOptions = {}) {
    const { table, pollMs, connectTimeoutMs, queryTimeoutMs, connectionString } = resolvePostgresTableLogOptions(options);
    this.#table = `"${table}"`;
    this.#lockName = `scaleout_write_behind_log:${table}`;
    this.description = `postgresql table ${table}`;
    this.#pollMs = pollMs;
    if (options.pool !== undefined) {
      this.#pool = options.pool;
      this.#ownsPool = false;
    } else {
      this.#pool = openStorePool(connectionString, { connectTimeoutMs, queryTimeoutMs });
      this.#ownsPool = true;
    }
    // A broken idle connection emits 'error' on the pool; unhandled it would end the process.
    this.#pool.on('error', () => undefined);
  }

  async append(key: string, text: string): Promise<{ id: string; version: bigint }> {
    await this.#ensureSchema();
    // One statement, so one implicit transaction: the key's lock is taken before the
    // row (and its id) is made, and held until the commit.
    const { rows } = await this.#pool.query<{ id: string }>(
      `WITH locked AS (SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2)))
       INSERT INTO ${this.#table} (key, value) SELECT $2, $3 FROM locked RETURNING id::text AS id`, [this.#lockName, key, text]);
    const id = rows[0]!.id;
    return { id, version: BigInt(id) };
  }

  async pending(): Promise<number> {
    await this.#ensureSchema();
    const { rows } = await this.#pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${this.#table}`);
    return Number(rows[0]!.n);
  }

  async applyOldest(db: Pick<Queryable, 'transaction'>, max: number,
    apply: (tx: TransactionClient, entries: readonly LoggedWrite[]) => Promise<void>,
    committed?: (batch: AppliedBatch) => void): Promise<AppliedBatch> {
    await this.#ensureSchema();
    const { value } = await db.transaction(async (tx): Promise<AppliedBatch> => {
      // One flusher at a time: two would apply batches of one key out of order.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${this.#lockName}:flusher`]);
      const { rows } = await tx.query<{ id: string; key: string; value: string }>(
        `DELETE FROM ${this.#table} WHERE id IN (SELECT id FROM ${this.#table} ORDER BY id LIMIT $1)
         RETURNING id::text AS id, key, value`, [max]);
      if (rows.length === 0) return { read: 0, applied: 0 };
      const entries = rows
        .map((r) => ({ id: r.id, n: BigInt(r.id), key: r.key, value: JSON.parse(r.value) as unknown }))
        .sort((a, b) => (a.n < b.n ? -1 : a.n > b.n ? 1 : 0))
        .map(({ id, key, value }) => ({ id, key, value }));
      await apply(tx, entries);
      return { read: entries.length, applied: entries.length };
    });
    if (value.read > 0) committed?.(value);
    return value;
  }

  async waitForEntries(ms: number): Promise<void> {
    await delay(Math.min(ms, this.#pollMs));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsPool) await this.#pool.end().catch(() => undefined);
  }

  #ensureSchema(): Promise<void> {
    this.#schema ??= this.#createSchema().catch((err: unknown) => {
      this.#schema = undefined; // try again on the next call
      throw err;
    });
    return this.#schema;
  }

  #createSchema(): Promise<void> {
    return createSchemaUnderLock(this.#pool, `${this.#lockName}:schema`, [
      `CREATE TABLE IF NOT EXISTS ${this.#table} (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key text NOT NULL, value text NOT NULL,
        logged_at timestamptz NOT NULL DEFAULT now())`,
    ]);
  }}
