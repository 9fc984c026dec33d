import type { Cache } from './cache.js';
import type { EntryOptions } from './cache-options.js';

/** What a write-through database write returns: the key's new value and the row's version. */
export interface VersionedWrite<T> {
  value: T;
  /** Grows with every write of the row: a version column, or `updated_at` in microseconds. */
  version: number | bigint;
}

/**
 * Write-through: the database first, then the cache, with a versioned set so that of
 * two racing writers the one with the older row version can never overwrite the
 * newer value, whichever finishes last. The database write commits before the cache
 * is touched; if the cache write fails the entry is deleted instead (and if that
 * fails too, the error is thrown: the database has the write, the cache may hold
 * the previous value until its TTL).
 *
 * @example
 * ```ts
 * await writeThrough(cache, cacheKey('product', id), async () => {
 *   const { rows } = await db.query('UPDATE products SET price = $2, version = version + 1 WHERE id = $1 RETURNING *', [id, price]);
 *   return { value: rows[0], version: rows[0].version };
 * }, { ttlMs: 60_000 });
 * ```
 */
export async function writeThrough<T>(
  cache: Cache, key: string, write: () => Promise<VersionedWrite<T>>, options?: EntryOptions,
): Promise<{ value: T; stored: boolean }> {
  const { value, version } = await write();
  let stored: boolean;
  try {
    stored = await cache.setVersioned(key, value, version, options);
  } catch (err) {
    await cache.delete(key).catch(() => { throw err; });
    return { value, stored: false };
  }
  return { value, stored };
}

/** What to drop after a write: keys and tags. */
export interface Invalidation {
  keys?: readonly string[];
  tags?: readonly string[];
}

/**
 * Invalidate-on-write: run the database write, and once it has committed drop the
 * keys and bump the tags, so the next read loads the new data. Prefer tags: a load
 * that began before the write cannot put its older result back under a bumped tag
 * (see docs/caching.md). If the write throws, nothing is invalidated.
 */
export async function invalidateOnWrite<R>(cache: Cache, write: () => Promise<R>, invalidation: Invalidation): Promise<R> {
  const result = await write();
  await Promise.all([
    ...(invalidation.keys ?? []).map((k) => cache.delete(k)),
    ...(invalidation.tags ?? []).map((t) => cache.deleteByTag(t)),
  ]);
  return result;
}
