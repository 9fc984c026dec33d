import type { ShopData } from '../data/shop-data.js';

/** What the routes share: the data tier and the clock. */
export interface ShopContext {
  data: ShopData;
  /** Unix milliseconds; order ids carry it. */
  now(): number;
}
