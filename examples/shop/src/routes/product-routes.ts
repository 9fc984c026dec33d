import type { FastifyInstance } from 'fastify';
import { listProducts, loadProductPage } from '../data/products.js';
import type { Product } from '../data/products.js';
import { productPage as cachedProductPage } from '../shop-cache.js';
import type { ProductPage } from '../shop-cache.js';
import { NotFoundError } from '../errors.js';
import { pageContext, redirect, sendHtml, visitor, wantsJson } from '../http.js';
import { productId } from '../input.js';
import { Html } from '../views/html.js';
import { productPage, productSection, productsPage } from '../views/pages.js';
import type { ShopContext } from './context.js';
import { noteView, recentlyViewed } from './recent-views.js';

/** Where a product page object came from: `x-shop-cache` on the answer, and the page footer. */
export const CACHE_SOURCE_HEADER = 'x-shop-cache';
const SOURCE_TEXT = { l1: 'L1 (this instance)', l2: 'L2 (shared)', loader: 'the database' } as const;

/** The catalogue, read from the replicas (and through the cache when there is one). */
export function productRoutes(app: FastifyInstance, ctx: ShopContext): void {
  // The query cache: keyed by the SQL, invalidated by any write to products.
  const catalogue = (): Promise<Product[]> => listProducts(ctx.data.catalogue, ctx.cache);

  /** The page's object: what it shows, and the product's part of it rendered once. */
  const loadPage = async (id: number): Promise<ProductPage | null> => {
    const page = await loadProductPage(ctx.data, id, ctx.cache);
    return page === null ? null : { ...page, html: productSection(page.product, page.related, page.stock).text };
  };

  app.get('/', async (_request, reply) => redirect(reply, '/products'));

  app.get('/products', async (request, reply) => {
    const products = await catalogue();
    if (wantsJson(request)) return { products };
    const v = await visitor(request);
    const byId = new Map(products.map((p) => [p.id, p]));
    const recent = await recentlyViewed(request, ctx, v, async (id) => byId.get(id)).catch((err: unknown) => {
      request.log.warn({ err }, 'recently viewed products are not shown');
      return undefined;
    });
    return sendHtml(reply, productsPage(pageContext(app, request, v), products, recent?.products));
  });

  app.get<{ Params: { id: string } }>('/products/:id', async (request, reply) => {
    const id = productId.safeParse(request.params.id);
    let found: { value: Awaited<ReturnType<typeof loadPage>>; source: 'l1' | 'l2' | 'loader' } | undefined;
    if (id.success) {
      const productId = id.data;
      found = ctx.cache === undefined
        ? { value: await loadPage(productId), source: 'loader' }
        : await cachedProductPage(ctx.cache, ctx.data.catalogue, productId, () => loadPage(productId));
    }
    const page = found?.value ?? null;
    if (found === undefined || page === null) throw new NotFoundError(`product ${JSON.stringify(request.params.id.slice(0, 40))}`);
    reply.header(CACHE_SOURCE_HEADER, found.source);
    const { product } = page;
    if (wantsJson(request)) {
      await noteView(request, ctx, product.id);
      return { ...product, stock: page.stock };
    }
    const v = await visitor(request);
    await noteView(request, ctx, product.id, v);
    return sendHtml(reply, productPage({ ...pageContext(app, request, v), cacheSource: SOURCE_TEXT[found.source] }, product,
      // An object cached by an older build has no rendered part yet.
      typeof page.html === 'string' ? new Html(page.html) : productSection(product, page.related, page.stock)));
  });
}
