import pg from 'pg';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';

/** Where a store on Redis connects when it is given neither a client nor a URL, nor `REDIS_URL`. */
export const DEFAULT_STORE_REDIS_URL = 'redis://127.0.0.1:6379';
/** Where a store on PostgreSQL connects when it is given neither a pool nor a connection string, nor `DATABASE_URL`. */
export const DEFAULT_STORE_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
/** The longest pause between two reconnection attempts of a store's Redis client, unless told otherwise. */
const RECONNECT_MAX_DELAY_MS = 1_000;

export interface StoreRedisOptions {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** @defaultValue 1000 */
  reconnectMaxDelayMs?: number;
  /** Drop a connection that stops answering after `commandTimeoutMs`. @defaultValue false */
  socketTimeout?: boolean;
  /** The caller's ioredis options; the fail-fast settings below win over them. */
  redisOptions?: RedisOptions;
}

/**
 * The Redis client a store (sessions, cache L2) opens for itself: it fails fast while
 * Redis is away (no offline queue, one retry, a timeout per command) instead of queueing
 * requests behind a reconnect loop, and reconnects by itself with a growing pause.
 * Errors are left to the caller's 'error' listener (add one: ioredis prints them otherwise).
 */
export function openStoreRedis(url: string | undefined, o: StoreRedisOptions): Redis {
  const maxDelayMs = o.reconnectMaxDelayMs ?? RECONNECT_MAX_DELAY_MS;
  return new Redis(url ?? process.env.REDIS_URL ?? DEFAULT_STORE_REDIS_URL, {
    ...o.redisOptions,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: o.connectTimeoutMs,
    commandTimeout: o.commandTimeoutMs,
    ...(o.socketTimeout === true ? { socketTimeout: o.commandTimeoutMs } : {}),
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxDelayMs),
  });
}

export interface StorePoolOptions {
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  /** The caller's pool options; the timeouts below win over them. */
  poolOptions?: pg.PoolConfig;
}

/**
 * The PostgreSQL pool a store (sessions, cache L2, write-behind log) opens for itself:
 * getting a connection and each query fail after their timeouts, and the pool opens a
 * new connection per attempt, so it recovers by itself once the server answers again.
 * A broken idle connection's 'error' is swallowed: unhandled it would end the process,
 * and the next query gets a fresh connection.
 */
export function openStorePool(connectionString: string | undefined, o: StorePoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: connectionString ?? process.env.DATABASE_URL ?? DEFAULT_STORE_DATABASE_URL,
    ...o.poolOptions,
    connectionTimeoutMillis: o.connectTimeoutMs,
    query_timeout: o.queryTimeoutMs,
    keepAlive: true,
  });
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Runs a store's `CREATE ... IF NOT EXISTS` statements in one transaction under an
 * advisory lock on `lockKey`. Processes starting together would otherwise race in the
 * catalog (those statements are not safe against a concurrent creator); the lock
 * serialises them, and the later ones find everything there.
 */
export async function createSchemaUnderLock(pool: pg.Pool, lockKey: string, statements: readonly string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
    for (const statement of statements) await client.query(statement);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
