import type { Session, SessionFields } from 'scaleout/session';
import { BadInputError } from './errors.js';

/** What the cart needs of a session (structural, so any copy of the session class fits). */
export type CartSession = Pick<Session, 'increment' | 'delete'>;

/**
 * The cart lives in the central session, one integer field per product
 * (`cart:<productId>` -> quantity), so it survives the instance that served it and
 * every change is one atomic increment in the store: concurrent adds of the same
 * product on different instances all count.
 *
 * A field at 0 (or, for a moment, below) is an item that is not in the cart. Fields
 * are not deleted when they reach 0, because a delete racing with a concurrent add
 * would lose the add.
 */
export const CART_FIELD_PREFIX = 'cart:';

export function cartField(productId: number): string {
  return `${CART_FIELD_PREFIX}${productId}`;
}

/**
 * Adds `qty` (negative to take away) and returns the new quantity, never below 0.
 * A decrease past 0 is undone only by what this request took below 0, so two
 * concurrent decreases cannot both correct the same shortfall.
 */
export async function addToCart(session: CartSession, productId: number, qty: number, maxLineQty = Number.MAX_SAFE_INTEGER): Promise<number> {
  const field = cartField(productId);
  const result = await session.increment(field, qty);
  if (qty > 0 && result > maxLineQty) {
    // Undo this whole add, never part of it: every add that is kept saw a total within
    // the cap when it was applied, so the line ends within the cap however adds race.
    const undone = await session.increment(field, -qty);
    throw new LineFullError(maxLineQty, Math.max(0, undone));
  }
  if (result >= 0 || qty >= 0) return Math.max(0, result);
  const fixed = await session.increment(field, Math.min(-result, -qty));
  return Math.max(0, fixed);
}

/** An add that would take a cart line over its cap; nothing of it was kept. */
export class LineFullError extends BadInputError {
  constructor(maxLineQty: number, has: number) {
    super(`qty: a cart line holds at most ${maxLineQty} units and this one has ${has}; add at most ${Math.max(0, maxLineQty - has)}`);
  }
}

/** Takes the whole item out of the cart. */
export async function removeFromCart(session: CartSession, productId: number): Promise<void> {
  await session.delete(cartField(productId));
}

/**
 * Takes ordered quantities out of the cart by decrement rather than delete: what was
 * added while the order was being placed stays in the cart.
 */
export async function takeFromCart(session: CartSession, items: ReadonlyArray<{ productId: number; qty: number }>): Promise<void> {
  for (const item of items) await session.increment(cartField(item.productId), -item.qty);
}

/** Product id -> quantity of everything in the cart, in product id order. */
export function cartQuantities(fields: SessionFields): Map<number, number> {
  const entries: Array<[number, number]> = [];
  for (const [name, value] of Object.entries(fields)) {
    if (!name.startsWith(CART_FIELD_PREFIX)) continue;
    const productId = Number(name.slice(CART_FIELD_PREFIX.length));
    if (!Number.isSafeInteger(productId) || typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) continue;
    entries.push([productId, value]);
  }
  return new Map(entries.sort((a, b) => a[0] - b[0]));
}

/** One cart line, priced from the catalogue now. Amounts are integer cents. */
export interface CartItem {
  productId: number;
  name: string;
  price: number;
  qty: number;
  subtotal: number;
  icon: string;
}

export interface Cart {
  items: CartItem[];
  total: number;
  /** Units over all lines. */
  itemCount: number;
}

/** The cart with current names and prices; products that left the catalogue are skipped. */
export async function pricedCart(fields: SessionFields,
  load: (id: number) => Promise<{ name: string; price: number; icon: string } | undefined>): Promise<Cart> {
  const quantities = [...cartQuantities(fields)];
  const products = await Promise.all(quantities.map(([id]) => load(id)));
  const items: CartItem[] = [];
  quantities.forEach(([productId, qty], i) => {
    const product = products[i];
    if (product === undefined) return;
    items.push({ productId, name: product.name, price: product.price, qty, subtotal: product.price * qty, icon: product.icon });
  });
  return {
    items,
    total: items.reduce((sum, item) => sum + item.subtotal, 0),
    itemCount: items.reduce((sum, item) => sum + item.qty, 0),
  };
}
