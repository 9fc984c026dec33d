import pg from 'pg';
import { createSchemaUnderLock, openStorePool } from '../../internal/store-connections.js';
import { CacheClosedError, CacheL2Error, CacheL2UnavailableError } from '../errors.js';
import type { L2Store } from '../l2-store.js';
import { DEFAULT_CACHE_POSTGRES_STORE, resolvePostgresL2StoreOptions } from '../cache-options.js';

/** @defaultValue */
export const DEFAULT_CACHE_POSTGRES_TABLE = DEFAULT_CACHE_POSTGRES_STORE.table;
/** How long getting a connection may take before an operation fails. */
export const DEFAULT_CACHE_POSTGRES_CONNECT_TIMEOUT_MS = DEFAULT_CACHE_POSTGRES_STORE.connectTimeoutMs;
/** How long one query may take before it fails. */
export const DEFAULT_CACHE_POSTGRES_QUERY_TIMEOUT_MS = DEFAULT_CACHE_POSTGRES_STORE.queryTimeoutMs;
/** How often expired rows are deleted; 0 turns the background cleanup off. */
export const DEFAULT_CACHE_POSTGRES_CLEANUP_INTERVAL_MS = DEFAULT_CACHE_POSTGRES_STORE.cleanupIntervalMs;
/** Rows deleted per cleanup statement. */
export const DEFAULT_CACHE_POSTGRES_CLEANUP_BATCH_SIZE = DEFAULT_CACHE_POSTGRES_STORE.cleanupBatchSize;

export interface PostgresL2StoreOptions {
  /** A pool to use instead of opening one; it stays open on `close()`. */
  pool?: pg.Pool;
  /** @defaultValue `process.env.DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/postgres` */
  connectionString?: string;
  /** Table name, optionally `schema.table`; lower-case letters, digits and `_`. @defaultValue {@link DEFAULT_CACHE_POSTGRES_TABLE} */
  table?: string;
  /** @defaultValue {@link DEFAULT_CACHE_POSTGRES_CONNECT_TIMEOUT_MS} */
  connectTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_CACHE_POSTGRES_QUERY_TIMEOUT_MS} */
  queryTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_CACHE_POSTGRES_CLEANUP_INTERVAL_MS} */
  cleanupIntervalMs?: number;
  /** @defaultValue {@link DEFAULT_CACHE_POSTGRES_CLEANUP_BATCH_SIZE} */
  cleanupBatchSize?: number;
}

const MAX_CLEANUP_BATCHES = 20;

/**
 * Cache L2 in PostgreSQL, for the `postgres` profile (no Redis, no Memcached): an
 * UNLOGGED table (no WAL, so writes are cheap, and the table is emptied after a crash:
 * fine for a cache), expiry checked on every read with the database's clock, expired
 * rows deleted in small batches in the background.
 *
 * ```text
 *   <table>(key text primary key, value text, expires_at timestamptz null)
 * ```
 *
 * @example
 * ```ts
 * const l2 = new PostgresL2Store({ connectionString: process.env.DATABASE_URL });
 * ```
 */
export class PostgresL2Store implements L2Store {
  readonly name = 'postgres';
  readonly #connections: pg.Pool;
  readonly #ownsConnections: boolean;
  readonly #table: string;
  readonly #cleanupBatchSize: number;
  #schema: Promise<void> | undefined;
  #cleanupTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: PostgresL2StoreOptions = {}) {
    const { table, connectTimeoutMs, queryTimeoutMs, cleanupBatchSize, cleanupIntervalMs, connectionString } = resolvePostgresL2StoreOptions(options);
    this.#table = table.split('.').map((p) => `"${p}"`).join('.');
    this.#cleanupBatchSize = cleanupBatchSize;
    if (options.pool !== undefined) {
      this.#connections = options.pool;
      this.#ownsConnections = false;
    } else {
      this.#connections = openStorePool(connectionString, { connectTimeoutMs, queryTimeoutMs });
      this.#ownsConnections = true;
    }
    // A broken idle connection emits 'error' on the pool; unhandled it would end the process.
    this.#connections.on('error', () => undefined);
    if (cleanupIntervalMs > 0) {
      this.#cleanupTimer = setInterval(() => { this.cleanup().catch(() => undefined); }, cleanupIntervalMs);
      this.#cleanupTimer.unref();
    }
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    const { rows } = await this.#query<{ key: string; value: string }>(
      `SELECT key, value FROM ${this.#table} WHERE key = ANY($1::text[]) AND (expires_at IS NULL OR expires_at > now())`, [keys]);
    const byKey = new Map(rows.map((r) => [r.key, r.value]));
    return keys.map((k) => byKey.get(k));
  }

  async set(key: string, value: string, ttlMs: number | undefined): Promise<void> {
    await this.#query(`INSERT INTO ${this.#table} (key, value, expires_at) VALUES ($1, $2, ${expiry('$3')})
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`, [key, value, ttlMs ?? null]);
  }

  async add(key: string, value: string, ttlMs: number | undefined): Promise<boolean> {
    // An expired row that cleanup has not removed yet counts as missing.
    const { rowCount } = await this.#query(`INSERT INTO ${this.#table} AS t (key, value, expires_at) VALUES ($1, $2, ${expiry('$3')})
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
      WHERE t.expires_at IS NOT NULL AND t.expires_at <= now()`, [key, value, ttlMs ?? null]);
    return rowCount === 1;
  }

  async setIfNewer(key: string, value: string, ttlMs: number, versionKey: string, version: string, versionTtlMs: number): Promise<boolean> {
    // One statement: the version row's lock is held until the entry is written, so of
    // two racing writers the second waits, then sees the first's version. An expired
    // version row counts as missing.
    const { rowCount } = await this.#query(`WITH newer AS (
        INSERT INTO ${this.#table} AS t (key, value, expires_at) VALUES ($3, $4, ${expiry('$6')})
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
        WHERE t.value COLLATE "C" < EXCLUDED.value COLLATE "C" OR t.expires_at <= now()
        RETURNING 1)
      INSERT INTO ${this.#table} (key, value, expires_at) SELECT $1, $2, ${expiry('$5')} FROM newer
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
    [key, value, versionKey, version, ttlMs, versionTtlMs]);
    return rowCount === 1;
  }

  async delete(key: string): Promise<void> {
    await this.#query(`DELETE FROM ${this.#table} WHERE key = $1`, [key]);
  }

  /** Delete expired rows now, in batches; returns how many. Runs by itself every `cleanupIntervalMs`. */
  async cleanup(): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_CLEANUP_BATCHES; i++) {
      const { rowCount } = await this.#query(`DELETE FROM ${this.#table} WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM ${this.#table} WHERE expires_at <= now() LIMIT $1))`, [this.#cleanupBatchSize]);
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < this.#cleanupBatchSize) break;
    }
    return total;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#cleanupTimer !== undefined) clearInterval(this.#cleanupTimer);
    if (this.#ownsConnections) await this.#connections.end().catch(() => undefined);
  }

  async #query<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.#closed) throw new CacheClosedError('PostgreSQL cache store');
    try {
      await this.#ensureSchema();
      return await this.#connections.query<R>(sql, params);
    } catch (err) {
      throw classify(err);
    }
  }

  #ensureSchema(): Promise<void> {
    this.#schema ??= this.#createSchema().catch((err: unknown) => {
      this.#schema = undefined; // try again on the next call
      throw err;
    });
    return this.#schema;
  }

  #createSchema(): Promise<void> {
    return createSchemaUnderLock(this.#connections, `scaleout_cache:${this.#table}`, [
      `CREATE UNLOGGED TABLE IF NOT EXISTS ${this.#table} (
        key text PRIMARY KEY, value text NOT NULL, expires_at timestamptz)`,
      `CREATE INDEX IF NOT EXISTS "${this.#table.replace(/"/g, '').replace('.', '_')}_expires_at"
        ON ${this.#table} (expires_at) WHERE expires_at IS NOT NULL`,
    ]);
  }}

function expiry(param: string): string {
  return `CASE WHEN ${param}::float8 IS NULL THEN NULL ELSE now() + ${param}::float8 * interval '1 millisecond' END`;
}

const TRANSIENT_SQLSTATE = /^(08|53|57P0|57014|40)/;

function classify(err: unknown): Error {
  if (err instanceof CacheL2UnavailableError || err instanceof CacheL2Error) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !TRANSIENT_SQLSTATE.test(code)) {
    return new CacheL2Error('postgres', { cause: err });
  }
  return new CacheL2UnavailableError('postgres', { cause: err });
}
