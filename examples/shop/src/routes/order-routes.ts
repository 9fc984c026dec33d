import type { FastifyInstance } from 'fastify';
import { cartQuantities, takeFromCart } from '../cart.js';
import { isOrderId } from '../data/order-id.js';
import { getOrder, listOrders, placeOrder } from '../data/orders.js';
import type { Order, OrderItem } from '../data/orders.js';
import { productLoader, takeFromStock } from '../data/products.js';
import { forgetProductPages } from '../shop-cache.js';
import { EmptyCartError, NotFoundError } from '../errors.js';
import { loggedIn, pageContext, redirect, sendHtml, wantsJson } from '../http.js';
import { ordersQuery, parse } from '../input.js';
import { orderPage, ordersPage } from '../views/pages.js';
import type { ShownOrder } from '../views/pages.js';
import type { ShopContext } from './context.js';

/**
 * Orders live on the user's shard. Reads may go to a shard replica, so the session
 * keeps the consistency token of the user's last write there: whichever instance
 * serves the next request reads from a replica that has the order, or the primary.
 */
export function orderRoutes(app: FastifyInstance, ctx: ShopContext): void {
  /** Runs `fn` with the user's tokens, and saves them to the session if a write moved one. */
  /** The order lines with what the catalogue says about each product today: one batched query for all of them. */
  async function withCurrentProducts(orders: readonly Order[]): Promise<ShownOrder[]> {
    const products = productLoader(ctx.data.catalogue);
    return Promise.all(orders.map(async (order) => ({
      ...order,
      items: await Promise.all(order.items.map(async (item) => {
        const now = await products.load(item.productId);
        return { ...item, product: now === undefined ? null : { name: now.name, price: now.price, icon: now.icon } };
      })),
    })));
  }

  app.post('/orders', async (request, reply) => {
    const v = await loggedIn(request);
    const quantities = cartQuantities(v.fields);
    const products = productLoader(ctx.data.catalogue);
    const items: OrderItem[] = [];
    for (const [productId, qty] of quantities) {
      const product = await products.load(productId);
      if (product !== undefined) items.push({ productId, name: product.name, price: product.price, qty, subtotal: product.price * qty });
    }
    if (items.length === 0) throw new EmptyCartError();
    const order = await request.db.run(() => placeOrder(ctx.data.shards, v.user.id, items, ctx.now()));
    // The order is stored first: a failure from here on leaves the items in the cart, never an order lost.
    await takeFromCart(request.session, items);
    // After the commit: the stock moves, and the product pages showing it are rebuilt on every instance.
    // The order stands either way: a failure here is logged, never answered as a failed order (a retry would order twice).
    const changed = items.map((item) => item.productId);
    await takeFromStock(ctx.data.catalogue, items)
      .then(() => (ctx.cache === undefined ? undefined : forgetProductPages(ctx.cache, changed)))
      .catch((err: unknown) => request.log.warn({ err }, 'the stock of an order was not taken off'));
    // The same change reaches the static tier: the pages go now and are rendered again.
    await ctx.productPages?.changed(changed)
      .catch((err: unknown) => request.log.warn({ err }, 'the pre-rendered pages of an order\'s products were not purged'));
    if (wantsJson(request)) return reply.code(201).send(order);
    return redirect(reply, `/orders/${order.id}?placed=1`);
  });

  app.get('/orders', async (request, reply) => {
    const v = await loggedIn(request);
    const query = parse(ordersQuery, request.query, 'query');
    const page = await request.db.run(() => listOrders(ctx.data.shards, v.user.id, query.limit, query.before));
    const orders = await withCurrentProducts(page.orders);
    if (wantsJson(request)) return { orders, next: page.next };
    const exportId = typeof (request.query as { export?: unknown }).export === 'string' ? (request.query as { export: string }).export : undefined;
    return sendHtml(reply, ordersPage(pageContext(app, request, v), orders, page.next, query.limit, exportId));
  });

  app.get<{ Params: { id: string }; Querystring: { placed?: string } }>('/orders/:id', async (request, reply) => {
    const v = await loggedIn(request);
    const id = request.params.id.toLowerCase();
    const order = isOrderId(id) ? await request.db.run(() => getOrder(ctx.data.shards, v.user.id, id)) : undefined;
    if (order === undefined) throw new NotFoundError(`order ${JSON.stringify(request.params.id.slice(0, 40))}`);
    const [shown] = await withCurrentProducts([order]);
    if (wantsJson(request)) return shown;
    return sendHtml(reply, orderPage(pageContext(app, request, v), shown!, request.query.placed === '1'));
  });
}
