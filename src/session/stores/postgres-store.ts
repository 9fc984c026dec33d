import pg from 'pg';
import { createSchemaUnderLock, openStorePool } from '../../internal/store-connections.js';
import {
  SessionFieldNotIntegerError, SessionStoreError, SessionStoreUnavailableError,
} from '../errors.js';
import {
  assertFieldName, assertFieldNames, assertId, assertIncrement, assertTtlMs, encodeFields,
} from '../fields.js';
import type { RegenerateOptions, SessionFields, SessionStore, StoredSession } from '../store.js';
import { DEFAULT_POSTGRES_SESSION_STORE, resolvePostgresSessionStoreOptions } from '../options.js';
import { classifyPgError } from './postgres-errors.js';

/** @defaultValue 'scaleout_sessions' */
export const DEFAULT_POSTGRES_SESSION_TABLE = DEFAULT_POSTGRES_SESSION_STORE.table;
/** How long getting a connection may take before an operation fails. */
export const DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS = DEFAULT_POSTGRES_SESSION_STORE.connectTimeoutMs;
/** How long one query may take before it fails (the request gets a 503, not a hang). */
export const DEFAULT_POSTGRES_QUERY_TIMEOUT_MS = DEFAULT_POSTGRES_SESSION_STORE.queryTimeoutMs;
/** How often expired rows are deleted; 0 turns the background cleanup off. */
export const DEFAULT_POSTGRES_CLEANUP_INTERVAL_MS = DEFAULT_POSTGRES_SESSION_STORE.cleanupIntervalMs;
/** Rows deleted per cleanup statement, so no statement holds many row locks for long. */
export const DEFAULT_POSTGRES_CLEANUP_BATCH_SIZE = DEFAULT_POSTGRES_SESSION_STORE.cleanupBatchSize;

export interface PostgresSessionStoreOptions {
  /** A pool to use instead of opening one; it stays open on `close()`. */
  pool?: pg.Pool;
  /**
   * Where PostgreSQL is, when the store opens its own pool.
   * @defaultValue `process.env.DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/postgres`
   */
  connectionString?: string;
  /** Extra options for the store's own pool (the timeouts below win). */
  poolOptions?: pg.PoolConfig;
  /**
   * Table name, optionally `schema.table`; lower-case letters, digits and `_`.
   * @defaultValue {@link DEFAULT_POSTGRES_SESSION_TABLE}
   */
  table?: string;
  /**
   * Create the table and its indexes on first use (idempotent, safe from many instances).
   * @defaultValue true
   */
  createTable?: boolean;
  /** @defaultValue {@link DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS} */
  connectTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_POSTGRES_QUERY_TIMEOUT_MS} */
  queryTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_POSTGRES_CLEANUP_INTERVAL_MS} */
  cleanupIntervalMs?: number;
  /** @defaultValue {@link DEFAULT_POSTGRES_CLEANUP_BATCH_SIZE} */
  cleanupBatchSize?: number;
}

// Cleanup stops after this many full batches per run, so one run stays short; the
// next run continues where it stopped.
const MAX_CLEANUP_BATCHES = 20;
const TTL = `now() + $TTL::float8 * interval '1 millisecond'`;

/**
 * Sessions in PostgreSQL: one row per session, fields in a `jsonb` column changed per
 * field by jsonb operators inside single UPDATE statements (the row lock makes each
 * atomic; two writers of different fields both keep their change). Expiry is checked
 * on every read (`expires_at > now()`, the database's clock, so instances with skewed
 * clocks agree) and expired rows are deleted in small batches in the background.
 *
 * ```text
 *   <table>(id text primary key, fields jsonb, user_id text, expires_at timestamptz)
 *     index on user_id (log out everywhere), index on expires_at (cleanup)
 * ```
 *
 * @example
 * ```ts
 * const store = new PostgresSessionStore({ connectionString: process.env.DATABASE_URL });
 * ```
 */
export class PostgresSessionStore implements SessionStore {
  readonly name = 'postgres';
  readonly #connections: pg.Pool;
  readonly #ownsConnections: boolean;
  readonly #table: string;
  readonly #createTable: boolean;
  readonly #cleanupBatchSize: number;
  readonly #sql: Readonly<Record<'getAll' | 'create' | 'setFields' | 'deleteFields' | 'increment' | 'touch' |
    'destroy' | 'destroyAll' | 'regenerate' | 'cleanup', string>>;
  readonly #ddl: readonly string[];
  readonly #lockKey: string;
  #schema: Promise<void> | undefined;
  #cleanupTimer: NodeJS.Timeout | undefined;
  #cleaning = false;
  #closed = false;

  constructor(options: PostgresSessionStoreOptions = {}) {
    const resolved = resolvePostgresSessionStoreOptions(options);
    const parts = resolved.table.split('.');
    this.#table = parts.map((p) => `"${p}"`).join('.');
    const baseName = parts[parts.length - 1]!;
    this.#createTable = resolved.createTable;
    const { connectTimeoutMs, queryTimeoutMs, cleanupIntervalMs } = resolved;
    this.#cleanupBatchSize = resolved.cleanupBatchSize;

    if (options.pool !== undefined) {
      this.#connections = options.pool;
      this.#ownsConnections = false;
    } else {
      this.#connections = openStorePool(resolved.connectionString, {
        connectTimeoutMs, queryTimeoutMs, ...(options.poolOptions === undefined ? {} : { poolOptions: options.poolOptions }),
      });
      this.#ownsConnections = true;
    }
    // An idle connection that breaks emits 'error' on the pool; unhandled, it would
    // end the process. The next query gets a fresh connection.
    this.#connections.on('error', () => undefined);

    const t = this.#table;
    const live = 'id = $1 AND expires_at > now()';
    this.#sql = {
      getAll: `SELECT fields, user_id, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS expires_in_ms FROM ${t} WHERE ${live}`,
      create: `INSERT INTO ${t} (id, fields, user_id, expires_at) VALUES ($1, $2::jsonb, $3, ${TTL.replace('$TTL', '$4')})`,
      setFields: `UPDATE ${t} SET fields = fields || $2::jsonb WHERE ${live}`,
      deleteFields: `UPDATE ${t} SET fields = fields - $2::text[] WHERE ${live}`,
      // A present value that is not a JSON integer is turned into text that cannot be
      // cast, so the statement fails (22P02) the way Redis' HINCRBY does.
      increment: `UPDATE ${t} SET fields = jsonb_set(fields, ARRAY[$2::text], to_jsonb(COALESCE((CASE
          WHEN NOT fields ? $2::text OR jsonb_typeof(fields -> $2::text) = 'number' THEN fields ->> $2::text
          ELSE 'not an integer' END)::bigint, 0) + $3::bigint))
        WHERE ${live} RETURNING fields ->> $2::text AS value`,
      touch: `UPDATE ${t} SET expires_at = ${TTL.replace('$TTL', '$2')} WHERE ${live}`,
      destroy: `DELETE FROM ${t} WHERE id = $1`,
      destroyAll: `WITH d AS (DELETE FROM ${t} WHERE user_id = $1 RETURNING expires_at)
        SELECT (count(*) FILTER (WHERE expires_at > now()))::int AS n FROM d`,
      regenerate: `UPDATE ${t} SET id = $2, user_id = CASE WHEN $3::boolean THEN $4 ELSE user_id END,
          fields = fields || $5::jsonb, expires_at = ${TTL.replace('$TTL', '$6')} WHERE ${live}`,
      // SKIP LOCKED: several instances cleaning at once take different rows, and rows a
      // request is updating right now are left for the next run.
      cleanup: `DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} WHERE expires_at <= now()
        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    };
    this.#ddl = [
      `CREATE TABLE IF NOT EXISTS ${t} (id text PRIMARY KEY, fields jsonb NOT NULL DEFAULT '{}',
        user_id text, expires_at timestamptz NOT NULL) WITH (fillfactor = 80)`,
      `CREATE INDEX IF NOT EXISTS "${baseName}_user_idx" ON ${t} (user_id) WHERE user_id IS NOT NULL`,
      `CREATE INDEX IF NOT EXISTS "${baseName}_expires_idx" ON ${t} (expires_at)`,
    ];
    this.#lockKey = `scaleout-session-table:${t}`;

    if (cleanupIntervalMs > 0) {
      this.#cleanupTimer = setInterval(() => void this.cleanupExpired().catch(() => undefined), cleanupIntervalMs);
      this.#cleanupTimer.unref();
    }
  }

  async create(id: string, fields: SessionFields, ttlMs: number, userId?: string): Promise<void> {
    assertId(id);
    assertTtlMs(ttlMs);
    if (userId !== undefined) assertId(userId, 'user id');
    await this.#query(this.#sql.create, [id, jsonObject(encodeFields(fields)), userId ?? null, ttlMs]);
  }

  async getAll(id: string): Promise<StoredSession | undefined> {
    assertId(id);
    const { rows } = await this.#query(this.#sql.getAll, [id]);
    const row = rows[0] as { fields: SessionFields; user_id: string | null; expires_in_ms: number } | undefined;
    if (row === undefined) return undefined;
    return { fields: row.fields, userId: row.user_id ?? undefined, expiresInMs: Math.max(0, Math.round(row.expires_in_ms)) };
  }

  async setFields(id: string, fields: SessionFields): Promise<boolean> {
    assertId(id);
    return (await this.#query(this.#sql.setFields, [id, jsonObject(encodeFields(fields))])).rowCount === 1;
  }

  async deleteFields(id: string, keys: readonly string[]): Promise<boolean> {
    assertId(id);
    assertFieldNames(keys);
    return (await this.#query(this.#sql.deleteFields, [id, [...keys]])).rowCount === 1;
  }

  async incrementField(id: string, key: string, by: number): Promise<number | undefined> {
    assertId(id);
    assertFieldName(key);
    assertIncrement(key, by);
    try {
      const { rows } = await this.#query(this.#sql.increment, [id, key, by]);
      const row = rows[0] as { value: string } | undefined;
      return row === undefined ? undefined : Number(row.value);
    } catch (err) {
      const code = ((err as SessionStoreError).cause as { code?: string } | undefined)?.code;
      if (code === '22P02' || code === '22003') throw new SessionFieldNotIntegerError(key, { cause: (err as Error).cause });
      throw err;
    }
  }

  async touch(id: string, ttlMs: number): Promise<boolean> {
    assertId(id);
    assertTtlMs(ttlMs);
    return (await this.#query(this.#sql.touch, [id, ttlMs])).rowCount === 1;
  }

  async destroy(id: string): Promise<void> {
    assertId(id);
    await this.#query(this.#sql.destroy, [id]);
  }

  async destroyAllForUser(userId: string): Promise<number> {
    assertId(userId, 'user id');
    const { rows } = await this.#query(this.#sql.destroyAll, [userId]);
    return (rows[0] as { n: number } | undefined)?.n ?? 0;
  }

  async regenerate(oldId: string, newId: string, options: RegenerateOptions): Promise<boolean> {
    assertId(oldId);
    assertId(newId);
    assertTtlMs(options.ttlMs);
    if (options.userId !== undefined) assertId(options.userId, 'user id');
    const fields = jsonObject(encodeFields(options.fields ?? {}));
    const result = await this.#query(this.#sql.regenerate,
      [oldId, newId, options.userId !== undefined, options.userId ?? null, fields, options.ttlMs]);
    return result.rowCount === 1;
  }

  /**
   * Delete expired rows in batches of `cleanupBatchSize`; returns how many went. Runs
   * on a timer by itself; call it directly to clean up now.
   */
  async cleanupExpired(): Promise<number> {
    if (this.#cleaning || this.#closed) return 0;
    this.#cleaning = true;
    try {
      let total = 0;
      for (let i = 0; i < MAX_CLEANUP_BATCHES; i++) {
        const n = (await this.#query(this.#sql.cleanup, [this.#cleanupBatchSize])).rowCount ?? 0;
        total += n;
        if (n < this.#cleanupBatchSize) break;
      }
      return total;
    } finally {
      this.#cleaning = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#cleanupTimer !== undefined) clearInterval(this.#cleanupTimer);
    if (this.#ownsConnections) await this.#connections.end().catch(() => undefined);
  }

  async #query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    if (this.#closed) throw new SessionStoreUnavailableError('postgres', { cause: new Error('the store was closed') });
    try {
      if (this.#createTable) await this.#ensureSchema();
      return await this.#connections.query(text, values);
    } catch (err) {
      if (err instanceof SessionStoreUnavailableError || err instanceof SessionStoreError) throw err;
      throw classifyPgError(err);
    }
  }

  #ensureSchema(): Promise<void> {
    this.#schema ??= this.#createSchema().catch((err: unknown) => {
      // Try again on the next operation (the server may just be starting).
      this.#schema = undefined;
      throw classifyPgError(err);
    });
    return this.#schema;
  }

  #createSchema(): Promise<void> {
    return createSchemaUnderLock(this.#connections, this.#lockKey, this.#ddl);
  }}

/** Build jsonb input from already encoded [name, jsonText] pairs, without decoding them again. */
function jsonObject(pairs: [string, string][]): string {
  let text = '{';
  for (let i = 0; i < pairs.length; i++) {
    const [name, value] = pairs[i]!;
    text += `${i === 0 ? '' : ','}${JSON.stringify(name)}:${value}`;
  }
  return `${text}}`;
}
