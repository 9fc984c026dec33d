import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type memjs from 'memjs';
import { CacheClosedError, CacheL2Error, CacheL2UnavailableError, CacheOptionsError } from '../errors.js';
import type { L2Store } from '../l2-store.js';
import { DEFAULT_CACHE_MEMCACHED_STORE, resolveMemcachedL2StoreOptions } from '../cache-options.js';

/** @defaultValue */
export const DEFAULT_CACHE_MEMCACHED_KEY_PREFIX = DEFAULT_CACHE_MEMCACHED_STORE.keyPrefix;
/** How long one operation may take before it fails. */
export const DEFAULT_CACHE_MEMCACHED_TIMEOUT_MS = DEFAULT_CACHE_MEMCACHED_STORE.timeoutMs;

// memjs is an optional peer dependency: only apps with a Memcached L2 install it, so it
// is loaded when such a store is made, not when `scaleout/cache` is imported.
function loadMemjs(): typeof memjs {
  try {
    return createRequire(import.meta.url)('memjs') as typeof memjs;
  } catch {
    throw new CacheOptionsError('the Memcached cache L2 needs the memjs package: install it with `npm install memjs`');
  }
}

export interface MemcachedL2StoreOptions {
  /**
   * Comma-separated `host:port` list (memjs shards keys over them).
   * @defaultValue `process.env.MEMCACHED_URL`, else `127.0.0.1:11211`
   */
  servers?: string;
  /** @defaultValue {@link DEFAULT_CACHE_MEMCACHED_KEY_PREFIX} */
  keyPrefix?: string;
  /** @defaultValue {@link DEFAULT_CACHE_MEMCACHED_TIMEOUT_MS} */
  timeoutMs?: number;
}

// Memcached keys are at most 250 bytes of printable ASCII without spaces.
const SAFE_KEY = /^[\x21-\x7e]{1,200}$/;
// memjs logs every failure to the console by default.
const SILENT = { log: (): void => undefined };

/**
 * Cache L2 in Memcached (binary protocol through memjs): `add` is the lease, expiry in
 * whole seconds (a TTL is rounded up to the next second, so an entry may outlive its
 * TTL by up to a second), keys that Memcached cannot hold are replaced by their SHA-256.
 * Memcached may evict anything at any time; the cache treats that as a miss.
 *
 * @example
 * ```ts
 * const l2 = new MemcachedL2Store({ servers: process.env.MEMCACHED_URL });
 * ```
 */
export class MemcachedL2Store implements L2Store {
  readonly name = 'memcached';
  readonly #client: memjs.Client;
  readonly #prefix: string;
  #closed = false;

  constructor(options: MemcachedL2StoreOptions = {}) {
    const { keyPrefix, timeoutMs, servers } = resolveMemcachedL2StoreOptions(options);
    this.#prefix = keyPrefix;
    this.#client = loadMemjs().Client.create(servers, {
      timeout: timeoutMs / 1_000,
      conntimeout: timeoutMs / 1_000,
      // One attempt: the cache's breaker decides about retrying, not the client.
      retries: 1,
      failover: false,
      keepAlive: true,
      logger: SILENT,
    });
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    // memjs has no multi-get; the gets are pipelined on the same connection.
    return Promise.all(keys.map(async (key) => {
      const { value } = await this.#run(() => this.#client.get(this.#key(key)));
      return value === null ? undefined : value.toString('utf8');
    }));
  }

  async set(key: string, value: string, ttlMs: number | undefined): Promise<void> {
    await this.#run(() => this.#client.set(this.#key(key), value, { expires: seconds(ttlMs) }));
  }

  async add(key: string, value: string, ttlMs: number | undefined): Promise<boolean> {
    return this.#run(() => this.#client.add(this.#key(key), value, { expires: seconds(ttlMs) }));
  }

  async delete(key: string): Promise<void> {
    await this.#run(() => this.#client.delete(this.#key(key)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }

  #key(key: string): string {
    const full = this.#prefix + key;
    return SAFE_KEY.test(full) ? full : `${this.#prefix}#${createHash('sha256').update(key).digest('base64url')}`;
  }

  async #run<T>(op: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new CacheClosedError('Memcached cache store');
    try {
      return await op();
    } catch (err) {
      const message = (err as Error)?.message ?? '';
      // Status replies (too large, out of memory) are refusals; everything else is the network.
      if (/^MemJS \w+: /.test(message)) throw new CacheL2Error('memcached', { cause: err });
      throw new CacheL2UnavailableError('memcached', { cause: err });
    }
  }
}

// 0 is "never expires" to Memcached; values above 30 days would be read as a Unix time.
function seconds(ttlMs: number | undefined): number {
  if (ttlMs === undefined) return 0;
  return Math.min(Math.max(1, Math.ceil(ttlMs / 1_000)), 30 * 24 * 3_600);
}
