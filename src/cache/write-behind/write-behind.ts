import { Redis } from 'ioredis';
import type { Cache } from '../cache.js';
import type { EntryOptions } from '../cache-options.js';
import { CacheClosedError, CacheOptionsError, CacheValueError, WriteBehindUnavailableError } from '../errors.js';
import { cacheRedisUrl } from '../cache-options.js';
import { assertKey } from '../validate.js';
import { streamIdVersion } from '../version.js';

/** A stream name: letters, digits and `_ : . -`. */
export const STREAM_NAME = /^[A-Za-z0-9_:.-]{1,200}$/;

export interface WriteBehindOptions {
  /** The Redis stream that is the log. One per kind of write (one flusher applies it). */
  stream: string;
  /** A connection to use; it stays open on `close()`. Give it `appendonly yes` (see docs/caching.md). */
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
 * `XADD`, in Redis's append-only file), and is visible in the cache at once; a
 * `WriteBehindFlusher` applies the log to the database later, in order.
 *
 * Only the log makes a write durable: the cache is best effort (a cache write that
 * fails drops the key, so readers load from the database, which may be behind the
 * log by the flusher's lag).
 */
export class WriteBehind {
  readonly #stream: string;
  readonly #client: Redis;
  readonly #ownsClient: boolean;
  readonly #cache: Cache | undefined;
  readonly #cacheOptions: EntryOptions | undefined;
  #closed = false;

  constructor(options: WriteBehindOptions) {
    if (typeof options?.stream !== 'string' || !STREAM_NAME.test(options.stream)) {
      throw new CacheOptionsError(`write-behind stream must be 1 to 200 letters, digits or _ : . -, got ${String(options?.stream)}`);
    }
    this.#stream = options.stream;
    this.#cache = options.cache;
    this.#cacheOptions = options.cacheOptions;
    if (options.client !== undefined) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = new Redis(cacheRedisUrl(options.url), {
        // A command is sent once: resent after a reconnect it could land twice in the log.
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 1_000,
        lazyConnect: false,
      });
      this.#ownsClient = true;
    }
    this.#client.on('error', () => undefined);
  }

  /**
   * Log `value` as the new value of `key`, then put it in the cache. Resolves once the
   * log holds it (acknowledged); throws `WriteBehindUnavailableError` when it does not
   * (an error after Redis took the entry but before its answer arrived leaves the
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
    if (this.#client.status === 'wait') this.#client.connect().catch(() => undefined);
    if (this.#client.status === 'connecting' || this.#client.status === 'connect') {
      await new Promise((resolve) => { this.#client.once('ready', resolve); this.#client.once('close', resolve); });
    }
    let id: string | null;
    try {
      id = await this.#client.xadd(this.#stream, '*', 'k', key, 'v', text);
    } catch (err) {
      throw new WriteBehindUnavailableError(`redis stream ${this.#stream}`, { cause: err });
    }
    if (id === null) throw new WriteBehindUnavailableError(`redis stream ${this.#stream}`, { cause: new Error('XADD returned no id') });
    if (this.#cache !== undefined) {
      // The stream id orders writes: of two instances writing one key, the later log entry wins in the cache too.
      await this.#cache.setVersioned(key, value, streamIdVersion(id), this.#cacheOptions)
        .catch(() => this.#cache!.delete(key))
        .catch(() => undefined);
    }
    return { id };
  }

  /** Entries not yet applied and removed by a flusher. */
  async pending(): Promise<number> {
    return this.#client.xlen(this.#stream);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsClient) return;
    await this.#client.quit().catch(() => { this.#client.disconnect(); });
  }
}
