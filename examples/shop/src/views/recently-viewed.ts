import type { Product } from '../data/products.js';
import { html, money, type Html } from './html.js';

/** The "Recently viewed" row above the products; nothing when there is nothing to show. */
export function recentlyViewedSection(products: readonly Product[]): Html | '' {
  if (products.length === 0) return '';
  const cards = products.map((p) => html`<div class="card">
<div class="icon">${p.icon}</div>
<a href="/products/${p.id}">${p.name}</a>
<p class="price">${money(p.price)}</p>
</div>`);
  return html`<section aria-labelledby="recently-viewed">
<h2 id="recently-viewed">Recently viewed</h2>
<div class="grid">${cards}</div>
</section>`;
}
