/**
 * The shared tier of the cache (L2): a key-value engine every app instance reaches.
 *
 * The cache needs only five operations, which Redis, Memcached and PostgreSQL all do
 * atomically in one round trip. Values are opaque strings (the cache's encoded
 * entries); keys are short strings the cache builds (`v:`, `l:`, `t:` prefixes), and a
 * store may add its own prefix or hash keys its engine cannot hold.
 *
 * Operations fail with `CacheL2UnavailableError` when the engine cannot be reached and
 * work again by themselves once it can.
 */
export interface L2Store {
  /** Short engine name for messages, logs and metrics: `redis`, `memcached`, `postgres`. */
  readonly name: string;
  /** The values of `keys`, in order; undefined for a key that is missing or expired. */
  getMany(keys: readonly string[]): Promise<(string | undefined)[]>;
  /** Store `value` under `key`; `ttlMs` undefined means no expiry (the engine may still evict). */
  set(key: string, value: string, ttlMs: number | undefined): Promise<void>;
  /**
   * Store `value` under `key` only if the key is missing (or expired); true when this
   * call stored it. The cross-process lease of stampede protection, and the first
   * version of a tag. `ttlMs` undefined means no expiry.
   */
  add(key: string, value: string, ttlMs: number | undefined): Promise<boolean>;
  /** Remove `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Close connections the store opened itself. */
  close(): Promise<void>;
}
