import type { FastifyRequest } from 'fastify';
import { visitor } from '../http.js';
import type { Visitor } from '../http.js';
import { readRecentViews, recentProducts, recordView } from '../recently-viewed.js';
import type { ShopContext } from './context.js';

/**
 * Records a product view of the logged-in visitor; nothing for anonymous visitors.
 * A failure is logged, never shown: the product page must not depend on the user's
 * shard being writable. `v` is loaded here when the caller has not (JSON answers do
 * not otherwise need the session).
 */
export async function noteView(request: FastifyRequest, ctx: ShopContext, productId: number, v?: Visitor): Promise<void> {
  try {
    const seen = v ?? await visitor(request);
    const user = seen.user;
    if (user === undefined) return;
    await request.db.run(() => recordView(ctx.userDocuments, user.id, productId));
  } catch (err) {
    request.log.warn({ err, productId }, 'a product view was not recorded');
  }
}

/** The visitor's recently viewed products, most recent first, with the total of views. */
export interface RecentlyViewed<P> {
  products: P[];
  views: number;
}

/**
 * The logged-in visitor's recently viewed products (none for anonymous visitors),
 * read from the user's shard with the session's tokens, then looked up with `load`.
 */
export async function recentlyViewed<P>(request: FastifyRequest, ctx: ShopContext, v: Visitor,
  load: (id: number) => Promise<P | undefined>): Promise<RecentlyViewed<P>> {
  const user = v.user;
  if (user === undefined) return { products: [], views: 0 };
  const recent = await request.db.run(() => readRecentViews(ctx.userDocuments, user.id));
  return { products: await recentProducts(recent.productIds, load), views: recent.views };
}
