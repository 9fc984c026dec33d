import type { Cache } from 'scaleout/cache';
import type { ShopData } from '../data/shop-data.js';
import type { UserDocumentStore } from '../data/user-documents.js';
import type { ProductPages } from '../prerender/product-pages.js';

/** What the routes share: the data tier and the clock. */
export interface ShopContext {
  data: ShopData;
  /** Unix milliseconds; order ids carry it. */
  now(): number;
  /** One JSONB document per user (recently viewed products), on the user's shard. */
  userDocuments: UserDocumentStore;
  /** Product page objects and the catalogue query; undefined when the shop runs without a cache. */
  cache?: Cache;
  /** The pre-rendered product pages; undefined without a static tier. */
  productPages?: ProductPages;
}
