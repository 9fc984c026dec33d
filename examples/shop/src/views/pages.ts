import type { Cart } from '../cart.js';
import type { Order } from '../data/orders.js';
import type { Product, RelatedProduct } from '../data/products.js';

export type { RelatedProduct } from '../data/products.js';
import { html, money, type Html } from './html.js';
import { page, type PageContext } from './layout.js';
import { recentlyViewedSection } from './recently-viewed.js';

/** An order line with what the catalogue says about its product today. */
export interface ShownOrderItem {
  productId: number;
  name: string;
  price: number;
  qty: number;
  subtotal: number;
  product: { name: string; price: number; icon: string } | null;
}

export interface ShownOrder extends Omit<Order, 'items'> {
  items: ShownOrderItem[];
}

function addForm(productId: number, withQuantity: boolean): Html {
  return html`<form method="post" action="/cart/items">
<input type="hidden" name="productId" value="${productId}">
${withQuantity ? html`<input type="number" name="qty" value="1" min="1" max="99" aria-label="Quantity"> ` : html`<input type="hidden" name="qty" value="1">`}
<button type="submit">Add to cart</button>
</form>`;
}

export function productsPage(ctx: PageContext, products: readonly Product[], recent: readonly Product[] = []): string {
  const cards = products.map((p) => html`<div class="card">
<div class="icon">${p.icon}</div>
<h3><a href="/products/${p.id}">${p.name}</a></h3>
<p class="price">${money(p.price)}</p>
${addForm(p.id, false)}
</div>`);
  return page(ctx, 'Products', html`${recentlyViewedSection(recent)}<h1>Products</h1><div class="grid">${cards}</div>`);
}


/**
 * The product's part of its page (card, stock, related products): the same for every
 * visitor, so the product page object keeps it rendered.
 */
export function productSection(p: Product, related: readonly RelatedProduct[] = [], stock?: number): Html {
  return html`<p><a href="/products">← All products</a></p>
<div class="card">
<div class="icon">${p.icon}</div>
<h1>${p.name}</h1>
<p>${p.description}</p>
<p class="price">${money(p.price)}</p>
${stock === undefined ? '' : html`<p class="muted">${stock} in stock</p>`}
${addForm(p.id, true)}
</div>
${related.length === 0 ? '' : html`<h2>Related</h2>
<ul>${related.map((r) => html`<li><a href="/products/${r.id}">${r.icon} ${r.name}</a> ${money(r.price)}${
  r.boughtWith === undefined ? '' : html` <span class="muted">bought together in ${r.boughtWith} orders</span>`}</li>`)}</ul>`}`;
}

/** A whole product page around its {@link productSection}. */
export function productPage(ctx: PageContext, p: Product, section: Html): string {
  return page(ctx, p.name, section);
}

export function loginPage(ctx: PageContext, next: string, error?: string, username = ''): string {
  return page(ctx, 'Log in', html`<h1>Log in</h1>
${error === undefined ? '' : html`<p class="error">${error}</p>`}
<form method="post" action="/login" class="card">
<input type="hidden" name="next" value="${next}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" value="${username}" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<p><button type="submit">Log in</button></p>
</form>
<p class="muted">Try <code>alice</code> / <code>wonderland</code>.</p>`);
}

export function cartPage(ctx: PageContext, cart: Cart): string {
  if (cart.items.length === 0) {
    return page(ctx, 'Cart', html`<h1>Cart</h1><p>Your cart is empty. <a href="/products">Browse the products</a>.</p>`);
  }
  const rows = cart.items.map((item) => html`<tr>
<td>${item.icon} <a href="/products/${item.productId}">${item.name}</a></td>
<td class="num">${money(item.price)}</td>
<td class="num">
<form class="inline" method="post" action="/cart/items"><input type="hidden" name="productId" value="${item.productId}"><input type="hidden" name="qty" value="-1"><button class="quiet" type="submit" aria-label="One less">−</button></form>
${item.qty}
<form class="inline" method="post" action="/cart/items"><input type="hidden" name="productId" value="${item.productId}"><input type="hidden" name="qty" value="1"><button class="quiet" type="submit" aria-label="One more">+</button></form>
</td>
<td class="num">${money(item.subtotal)}</td>
<td><form method="post" action="/cart/items/${item.productId}/delete"><button class="quiet" type="submit">Remove</button></form></td>
</tr>`);
  const checkout = ctx.user === undefined
    ? html`<p><a class="button" href="/login?next=/cart">Log in to place the order</a></p>`
    : html`<form method="post" action="/orders"><p><button type="submit">Place order</button></p></form>`;
  return page(ctx, 'Cart', html`<h1>Cart</h1>
<table>
<tr><th>Product</th><th class="num">Price</th><th class="num">Quantity</th><th class="num">Subtotal</th><th></th></tr>
${rows}
<tr><th colspan="3">Total</th><th class="num">${money(cart.total)}</th><th></th></tr>
</table>
${checkout}`);
}

/** The export box of the orders page: a button, or the progress of a running export (driven by export-progress.js). */
function exportBox(exportId: string | undefined): Html {
  if (exportId === undefined) {
    return html`<form method="post" action="/exports"><button type="submit">Export my orders as CSV</button></form>`;
  }
  return html`<div id="export" data-job="${exportId}"><progress></progress> <span class="status">Export starting…</span></div>
<script src="/assets/export-progress.js" defer></script>`;
}

export function ordersPage(ctx: PageContext, orders: readonly ShownOrder[], next: string | null, limit: number, exportId?: string): string {
  if (orders.length === 0) {
    return page(ctx, 'Orders', html`<h1>Orders</h1><p>No orders yet. <a href="/products">Find something you like</a>.</p>`);
  }
  const rows = orders.map((o) => html`<tr>
<td><a href="/orders/${o.id}">${o.id.slice(0, 8)}…</a></td>
<td>${new Date(o.createdAt).toUTCString()}</td>
<td>${o.items.map((item) => item.product?.icon ?? '')}</td>
<td class="num">${o.itemCount}</td>
<td class="num">${money(o.total)}</td>
</tr>`);
  const older = next === null ? '' : html`<p><a href="/orders?before=${next}&limit=${limit}">Older orders →</a></p>`;
  return page(ctx, 'Orders', html`<h1>Orders</h1>
${exportBox(exportId)}
<table>
<tr><th>Order</th><th>Placed</th><th></th><th class="num">Items</th><th class="num">Total</th></tr>
${rows}
</table>
${older}`);
}

export function orderPage(ctx: PageContext, order: ShownOrder, justPlaced: boolean): string {
  const rows = order.items.map((item) => {
    const now = item.product;
    const note = now === null ? html`<span class="muted">no longer sold</span>`
      : now.price !== item.price ? html`<span class="muted">now ${money(now.price)}</span>` : '';
    return html`<tr>
<td>${now?.icon ?? ''} <a href="/products/${item.productId}">${item.name}</a></td>
<td class="num">${money(item.price)} ${note}</td>
<td class="num">${item.qty}</td>
<td class="num">${money(item.subtotal)}</td>
</tr>`;
  });
  return page(ctx, `Order ${order.id.slice(0, 8)}`, html`<p><a href="/orders">← All orders</a></p>
${justPlaced ? html`<p class="notice">Thank you! Your order is placed.</p>` : ''}
<h1>Order <code>${order.id}</code></h1>
<p class="muted">Placed ${new Date(order.createdAt).toUTCString()}</p>
<table>
<tr><th>Product</th><th class="num">Price</th><th class="num">Quantity</th><th class="num">Subtotal</th></tr>
${rows}
<tr><th colspan="3">Total</th><th class="num">${money(order.total)}</th></tr>
</table>`);
}

export function errorPage(ctx: PageContext, status: number, code: string, message: string): string {
  return page(ctx, 'Error', html`<h1>${status === 404 ? 'Not found' : 'Something is not right'}</h1>
<p class="error">${message}</p>
<p class="muted">${code}</p>
<p><a href="/products">Back to the products</a></p>`);
}
