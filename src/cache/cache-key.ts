import { CacheKeyError } from './errors.js';

/**
 * The predictable key of a cached object: `kind:part1:part2`, e.g.
 * `cacheKey('product_page', 42)` is `product_page:42`. Any instance, job or
 * invalidation can rebuild the key from the same facts without asking anyone.
 *
 * @example
 * ```ts
 * await cache.getOrSet(cacheKey('product_page', id), () => renderProduct(id), { tags: [`product:${id}`] });
 * await cache.delete(cacheKey('product_page', id));
 * ```
 */
export function cacheKey(kind: string, ...parts: (string | number)[]): string {
  if (!/^[a-z][a-z0-9_]*$/.test(kind)) {
    throw new CacheKeyError(`cache key kind "${kind}" is invalid; use lower-case letters, digits and _ (e.g. product_page)`);
  }
  return [kind, ...parts.map(String)].join(':');
}
