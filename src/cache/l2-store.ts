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
  /**
   * The value of one key, null or undefined when missing: the L2 hit of an untagged
   * entry, where `getMany`'s arrays are all the cost there is to save. Optional (the
   * cache falls back to `getMany`); any error means L2 is away for this call.
   */
  get?(key: string): Promise<string | null | undefined>;
  /** Store `value` under `key`; `ttlMs` undefined means no expiry (the engine may still evict). */
  set(key: string, value: string, ttlMs: number | undefined): Promise<void>;
  /**
   * Store `value` under `key` only if the key is missing (or expired); true when this
   * call stored it. The cross-process lease of stampede protection, and the first
   * version of a tag. `ttlMs` undefined means no expiry.
   */
  add(key: string, value: string, ttlMs: number | undefined): Promise<boolean>;
  /**
   * Store `value` under `key` only if `version` is greater than the one recorded
   * under `versionKey` (or none is), and record it there, atomically; true when
   * stored. Versions are 20-digit zero-padded decimals, so comparing them as strings
   * compares the numbers. `versionKey` lives `versionTtlMs`, longer than the entry,
   * so an old writer that arrives after the entry expired or was deleted is still
   * refused. Optional: stores whose engine has no atomic compare leave it out.
   */
  setIfNewer?(key: string, value: string, ttlMs: number, versionKey: string, version: string, versionTtlMs: number): Promise<boolean>;
  /** Remove `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Close connections the store opened itself. */
  close(): Promise<void>;
}
