import type { FastifyInstance } from 'fastify';
import { listProducts, productLoader } from '../data/products.js';
import { NotFoundError } from '../errors.js';
import { pageContext, redirect, sendHtml, visitor, wantsJson } from '../http.js';
import { productId } from '../input.js';
import { productPage, productsPage } from '../views/pages.js';
import type { ShopContext } from './context.js';
import { noteView, recentlyViewed } from './recent-views.js';

/** The catalogue, read from the replicas. */
export function productRoutes(app: FastifyInstance, ctx: ShopContext): void {
  app.get('/', async (_request, reply) => redirect(reply, '/products'));

  app.get('/products', async (request, reply) => {
    const products = await listProducts(ctx.data.catalogue);
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
    const product = id.success ? await productLoader(ctx.data.catalogue).load(id.data) : undefined;
    if (product === undefined) throw new NotFoundError(`product ${JSON.stringify(request.params.id.slice(0, 40))}`);
    if (wantsJson(request)) {
      await noteView(request, ctx, product.id);
      return product;
    }
    const v = await visitor(request);
    await noteView(request, ctx, product.id, v);
    return sendHtml(reply, productPage(pageContext(app, request, v), product));
  });
}
