import type { ShardedDatabase } from 'scaleout/db';
import { NotFoundError } from '../errors.js';
import { newOrderId, nextOrderId, orderIdTimeMs } from './order-id.js';

/** One line of an order, as it was when the order was placed. Amounts are integer cents. */
export interface OrderItem {
  productId: number;
  name: string;
  price: number;
  qty: number;
  subtotal: number;
}

/** An order as the API shows it. */
export interface Order {
  id: string;
  items: OrderItem[];
  total: number;
  itemCount: number;
  /** ISO 8601, from the order id's time. */
  createdAt: string;
}

/** What the `doc` column holds. */
interface OrderDoc {
  userId: string;
  items: OrderItem[];
  total: number;
}

type OrderRow = {
  id: string;
  total: string | number;
  item_count: number;
  created_at: Date;
  doc: OrderDoc;
};

const SELECT = 'SELECT id::text AS id, total, item_count, created_at, doc FROM orders';

function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    items: Array.isArray(row.doc?.items) ? row.doc.items : [],
    total: Number(row.total),
    itemCount: Number(row.item_count),
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/**
 * Stores a new order on the user's shard. The user's row is locked for the
 * transaction, so one user's orders get strictly increasing ids even when two
 * instances with slightly different clocks place them in the same millisecond.
 */
export async function placeOrder(shards: ShardedDatabase, userId: string, items: readonly OrderItem[], nowMs: number): Promise<Order> {
  const total = items.reduce((sum, item) => sum + item.subtotal, 0);
  const itemCount = items.reduce((sum, item) => sum + item.qty, 0);
  const doc: OrderDoc = { userId, items: [...items], total };
  // The transaction may run again on another shard if the user's bucket moved meanwhile,
  // so everything it decides is decided inside it.
  return shards.forKey(userId).transaction(async (tx) => {
    const user = await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
    if (user.rows.length === 0) throw new NotFoundError('your user account');
    const latest = await tx.query('SELECT id::text AS id FROM orders WHERE user_id = $1 ORDER BY id DESC LIMIT 1', [userId]);
    const latestId = latest.rows[0]?.id as string | undefined;
    let id = newOrderId(nowMs);
    if (latestId !== undefined && id <= latestId) id = nextOrderId(latestId);
    const createdAt = new Date(orderIdTimeMs(id));
    await tx.query(
      `INSERT INTO orders (id, user_id, total, item_count, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
      [id, userId, total, itemCount, createdAt, JSON.stringify(doc)]);
    return { id, items: [...items], total, itemCount, createdAt: createdAt.toISOString() };
  });
}

/** A page of a user's orders, newest first, and the cursor of the next (older) page. */
export interface OrderPage {
  orders: Order[];
  /** Pass as `before` for the next page; null on the last one. */
  next: string | null;
}

/** The user's orders with ids below `beforeId` (all when undefined), newest first. */
export async function listOrders(shards: ShardedDatabase, userId: string, limit: number, beforeId: string | undefined): Promise<OrderPage> {
  const { rows } = await shards.forKey(userId).query<OrderRow>(
    `${SELECT} WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2::uuid) ORDER BY id DESC LIMIT $3`,
    [userId, beforeId ?? null, limit + 1]);
  const orders = rows.slice(0, limit).map(toOrder);
  return { orders, next: rows.length > limit ? orders[orders.length - 1]?.id ?? null : null };
}

/** One of the user's orders; undefined for an unknown id or another user's order. */
export async function getOrder(shards: ShardedDatabase, userId: string, id: string): Promise<Order | undefined> {
  const { rows } = await shards.forKey(userId).query<OrderRow>(`${SELECT} WHERE id = $1 AND user_id = $2`, [id, userId]);
  const row = rows[0];
  return row === undefined ? undefined : toOrder(row);
}
