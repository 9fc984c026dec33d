import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { addToCart, pricedCart, removeFromCart } from '../cart.js';
import { productLoader } from '../data/products.js';
import { BadInputError } from '../errors.js';
import { pageContext, redirect, sendHtml, visitor, wantsJson } from '../http.js';
import { cartItemBody, MAX_LINE_QTY, parse, productId } from '../input.js';
import { cartPage } from '../views/pages.js';
import type { ShopContext } from './context.js';

/** The cart: fields of the central session, changed one atomic increment at a time. */
export function cartRoutes(app: FastifyInstance, ctx: ShopContext): void {
  app.get('/cart', async (request, reply) => {
    const v = await visitor(request);
    const cart = await pricedCart(v.fields, productLoader(ctx.data.catalogue).load);
    if (wantsJson(request)) return cart;
    return sendHtml(reply, cartPage(pageContext(app, request, v), cart));
  });

  app.post('/cart/items', async (request, reply) => {
    const body = parse(cartItemBody, request.body, 'body');
    const product = await productLoader(ctx.data.catalogue).load(body.productId);
    if (product === undefined) throw new BadInputError(`productId: there is no product ${body.productId}; see GET /products`);
    const qty = await addToCart(request.session, body.productId, body.qty, MAX_LINE_QTY);
    if (wantsJson(request)) return { productId: body.productId, qty };
    return redirect(reply, '/cart');
  });

  const remove = async (request: FastifyRequest<{ Params: { productId: string } }>, reply: FastifyReply) => {
    const id = parse(productId, request.params.productId, 'productId');
    await removeFromCart(request.session, id);
    if (wantsJson(request)) return { productId: id, qty: 0 };
    return redirect(reply, '/cart');
  };
  app.delete<{ Params: { productId: string } }>('/cart/items/:productId', remove);
  // HTML forms cannot send DELETE.
  app.post<{ Params: { productId: string } }>('/cart/items/:productId/delete', remove);
}
