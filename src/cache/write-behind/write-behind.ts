import type { Redis } from 'ioredis';
import type { Cache } from '../cache.js';
import type { EntryOptions } from '../cache-options.js';
import { CacheClosedError, CacheOptionsError, CacheValueError, WriteBehindUnavailableError } from '../errors.js';
import { assertKey } from '../validate.js';
import { RedisStreamLog } from './redis-stream-log.js';
import type { WriteBehindLog } from './write-behind-log.js';

export { STREAM_NAME } from './redis-stream-log.js';

export interface WriteBehindOptions {
  /**
   * The durable log: a `RedisStreamLog` or a `PostgresTableLog`; it stays open on
   * `close()`. Without it, `stream` names a Redis stream log opened here.
   */
  log?: WriteBehindLog;
  /** The Redis stream that is the log (without `log`). One per kind of write (one flusher applies it). */
  stream?: string;
  /** A connection to use (without `log`); it stays open on `close()`. Give it `appendonly yes` (see docs/caching.md). */
  client?: Redis;
  /** @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379` */
  url?: string;
  /** Where the new value is visible at once; L2 must be Redis or PostgreSQL (versioned sets). */
  cache?: Cache;
  /** Entry options for the cached value; keep its TTL above the flusher's lag. */
  cacheOptions?: EntryOptions;
}

/** An acknowledged write: durable in the log under `id`. */
export interface WriteBehindAck {
  id: string;
}

/**
 * Write-behind: a write is acknowledged once it is in a durable log (a Redis stream
 * `XADD`, in Redis's append-only file, or a committed row of a PostgreSQL table), and
 * is visible in the cache at once; a `WriteBehindFlusher` applies the log to the
 * database later, in order per key.
 *
 * Only the log makes a write durable: the cache is best effort (a cache write that
 * fails drops the key, so readers load from the database, which may be behind the
 * log by the flusher's lag).
 */
export class WriteBehind {
  readonly #log: WriteBehindLog;
  readonly #ownsLog: boolean;
  readonly #cache: Cache | undefined;
  readonly #cacheOptions: EntryOptions | undefined;
  #closed = false;

  constructor(options: WriteBehindOptions) {
    if (options?.log !== undefined) {
      if (options.stream !== undefined || options.client !== undefined || options.url !== undefined) {
        throw new CacheOptionsError('write-behind takes a log, or a Redis stream (stream, client, url), not both');
      }
      this.#log = options.log;
      this.#ownsLog = false;
    } else {
      this.#log = new RedisStreamLog({
        stream: options?.stream as string,
        ...(options.client === undefined ? {} : { client: options.client }),
        ...(options.url === undefined ? {} : { url: options.url }),
      });
      this.#ownsLog = true;
    }
    this.#cache = options.cache;
    this.#cacheOptions = options.cacheOptions;
  }

  /**
   * Log `value` as the new value of `key`, then put it in the cache. Resolves once the
   * log holds it (acknowledged); throws `WriteBehindUnavailableError` when it does not
   * (an error after the log took the entry but before its answer arrived leaves the
   * write in the log though unacknowledged: make values idempotent to retry safely).
   */
  async write<T>(key: string, value: T): Promise<WriteBehindAck> {
    assertKey(key);
    if (this.#closed) throw new CacheClosedError('write-behind log');
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (err) {
      throw new CacheValueError(key, { cause: err });
    }
    if (text === undefined) throw new CacheValueError(key, { cause: new Error(`a ${typeof value} is not JSON`) });
    let logged: { id: string; version: bigint };
    try {
      logged = await this.#log.append(key, text);
    } catch (err) {
      throw new WriteBehindUnavailableError(this.#log.description, { cause: err });
    }
    if (this.#cache !== undefined) {
      // The log orders the writes of a key: of two instances writing one key, the later entry wins in the cache too.
      await this.#cache.setVersioned(key, value, logged.version, this.#cacheOptions)
        .catch(() => this.#cache!.delete(key))
        .catch(() => undefined);
    }
    return { id: logged.id };
  }

  /** Entries not yet applied by a flusher. */
  async pending(): Promise<number> {
    return this.#log.pending();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsLog) await this.#log.close();
  }
}
