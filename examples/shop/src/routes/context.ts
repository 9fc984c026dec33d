import type { ShopData } from '../data/shop-data.js';
import type { UserDocumentStore } from '../data/user-documents.js';

/** What the routes share: the data tier and the clock. */
export interface ShopContext {
  data: ShopData;
  /** Unix milliseconds; order ids carry it. */
  now(): number;
  /** One JSONB document per user (recently viewed products), on the user's shard. */
  userDocuments: UserDocumentStore;
}
