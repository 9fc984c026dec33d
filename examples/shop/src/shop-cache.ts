import { Cache, MemcachedL2Store, PostgresBus, PostgresL2Store, RedisBus, RedisL2Store, TABLE_TAG_PREFIX, cacheKey } from 'scaleout/cache';
import type { CacheSource, L2Store, Bus } from 'scaleout/cache';
import type { Database } from 'scaleout/db';
import type { ProductPage as ProductPageData } from './data/products.js';

/** How long a product page object is fresh; any write to `products` invalidates it before that. @defaultValue 60000 */
export const PRODUCT_PAGE_TTL_MS = 60_000;
/** How long a stale product page may still be served while one instance rebuilds it. @defaultValue 300000 */
export const PRODUCT_PAGE_GRACE_MS = 300_000;
export { RELATED_PRODUCTS } from './data/products.js';

/** Where the shop's cache keeps its L2, chosen from what the runtime gave the instance. */
export interface ShopCacheOptions {
  /** The cache's own Redis (`CACHE_REDIS_URL`): first choice. */
  cacheRedisUrl?: string;
  /** Memcached (`MEMCACHED_URL`), when the deployment has one and no cache Redis. */
  memcachedUrl?: string;
  /** The catalogue's primary: the L2 and bus of the `postgres` profile. */
  databaseUrl: string;
  /** Prefix of every key, so deployments sharing an engine stay apart. */
  keyPrefix?: string;
  /** An L2 call that takes longer counts as a miss (see the cache's `l2TimeoutMs`). */
  l2TimeoutMs?: number;
}

/**
 * The product page object: what `/products/:id` shows, built from the catalogue and the
 * order history once per TTL (or change) for all instances.
 */
export interface ProductPage extends ProductPageData {
  /** The product's part of the page, rendered (`productSection`): only the visitor's header and the footer are left per request. */
  html: string;
}

/** A cache and what it was built on, closed together. */
export interface ShopCache {
  cache: Cache;
  /** `redis`, `memcached` or `postgres`: which L2 the cache uses. */
  l2: 'redis' | 'memcached' | 'postgres';
  close(): Promise<void>;
}

/**
 * The shop's cache: L1 in the instance, L2 in the cache Redis when there is one, else
 * Memcached, else PostgreSQL (the `postgres` profile). Invalidations travel over Redis
 * pub/sub or PostgreSQL LISTEN/NOTIFY.
 */
export async function openShopCache(options: ShopCacheOptions): Promise<ShopCache> {
  const keyPrefix = options.keyPrefix ?? 'shop:cache:';
  let l2: L2Store;
  let bus: Bus;
  let kind: ShopCache['l2'];
  if (options.cacheRedisUrl !== undefined) {
    l2 = new RedisL2Store({ url: options.cacheRedisUrl, keyPrefix });
    bus = new RedisBus({ url: options.cacheRedisUrl });
    kind = 'redis';
  } else if (options.memcachedUrl !== undefined) {
    l2 = new MemcachedL2Store({ servers: options.memcachedUrl, keyPrefix });
    // Memcached has no pub/sub: the catalogue's PostgreSQL carries the invalidations.
    bus = new PostgresBus({ connectionString: options.databaseUrl });
    kind = 'memcached';
  } else {
    l2 = new PostgresL2Store({ connectionString: options.databaseUrl });
    bus = new PostgresBus({ connectionString: options.databaseUrl });
    kind = 'postgres';
  }
  // Bus channels are lower-case identifiers (PostgreSQL LISTEN names).
  const channel = `c_${keyPrefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
  const cache = new Cache({ l2, bus, channel, ...(options.l2TimeoutMs === undefined ? {} : { l2TimeoutMs: options.l2TimeoutMs }) });
  await cache.ready();
  return {
    cache,
    l2: kind,
    async close() {
      await cache.close();
      await l2.close();
      await bus.close();
    },
  };
}

/**
 * The product page object of `id` and where it came from (`l1`, `l2` or `loader`, the
 * database). An order invalidates it by tag after its commit ({@link forgetProductPages}). Tagged with the product and with the `products` table, so a write to
 * `products` through the catalogue database (any instance, raw SQL included) makes
 * every instance rebuild it on the next request.
 */
export function productPage(cache: Cache, catalogue: Database, id: number, load: () => Promise<ProductPage | null>):
Promise<{ value: ProductPage | null; source: CacheSource }> {
  cache.attach(catalogue);
  return cache.getOrSetWithSource(cacheKey('product_page', id), load, {
    ttlMs: PRODUCT_PAGE_TTL_MS, graceMs: PRODUCT_PAGE_GRACE_MS, tags: [`product:${id}`, `${TABLE_TAG_PREFIX}products`],
  });
}

/** After a change to these products (an order took stock): every instance rebuilds their pages on the next request. */
export async function forgetProductPages(cache: Cache, productIds: readonly number[]): Promise<void> {
  await cache.deleteByTags(productIds.map((id) => `product:${id}`));
}
