import type { ShardedDatabase } from 'scaleout/db';
import { hashPassword } from '../passwords.js';
import { newOrderId } from './order-id.js';
import { SEED_PRODUCTS } from './seed-data.js';
import type { OrderItem } from './orders.js';

/** Customers the demo order history is spread over (`demo-customer-01`, ...). @defaultValue 40 */
export const DEMO_CUSTOMERS = 40;
/** Orders inserted per statement. @defaultValue 1000 */
const INSERT_BATCH = 1_000;
/** The first demo customer: present means the history was seeded already. */
const FIRST_DEMO_USERNAME = 'demo-customer-01';

// What people buy together: an order mostly comes from one of these, with a stray item now and then.
const BASKETS: readonly (readonly number[])[] = [[1, 2, 3, 4], [5, 6, 8, 9], [10, 11, 2, 9], [7, 12, 8, 6]];

/** A small deterministic generator (mulberry32): the same history on every fresh start. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The items of one demo order: 1 to 4 products, mostly from one basket. */
function demoItems(next: () => number): OrderItem[] {
  const basket = BASKETS[Math.floor(next() * BASKETS.length)]!;
  const count = 1 + Math.floor(next() * 4);
  const ids = new Set<number>();
  while (ids.size < count) {
    ids.add(next() < 0.85 ? basket[Math.floor(next() * basket.length)]! : SEED_PRODUCTS[Math.floor(next() * SEED_PRODUCTS.length)]!.id);
  }
  return [...ids].map((id) => {
    const p = SEED_PRODUCTS.find((s) => s.id === id)!;
    const qty = 1 + Math.floor(next() * 2);
    return { productId: p.id, name: p.name, price: p.price, qty, subtotal: p.price * qty };
  });
}

/**
 * Seeds an order history of `orders` orders by {@link DEMO_CUSTOMERS} customers who
 * cannot log in (their password is random and thrown away), so that "bought together"
 * on a product page has something to count, the way a shop that has been open a while
 * does. Once: nothing happens when the first demo customer exists. Each customer and
 * their orders go to the customer's shard.
 */
export async function seedDemoOrders(shards: ShardedDatabase, orders: number, nowMs: number): Promise<number> {
  if (orders <= 0) return 0;
  const found = await shards.queryAll<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE username = $1', [FIRST_DEMO_USERNAME]);
  if (found.some((r) => Number(r.n) > 0)) return 0;
  const hash = await hashPassword(newOrderId(nowMs));
  const customers = Array.from({ length: DEMO_CUSTOMERS }, (_, i) => ({
    // A fixed id per customer (a UUIDv7 of a fixed time), so the shard of each is the same on every start.
    id: `00000000-0000-7000-8000-${String(i + 1).padStart(12, '0')}`,
    username: `demo-customer-${String(i + 1).padStart(2, '0')}`,
    name: `Demo customer ${i + 1}`,
  }));
  const next = random(42);
  const byShard = shards.groupByShard(customers.map((c) => c.id));
  for (const [shard, ids] of byShard) {
    const mine = customers.filter((c) => ids.includes(c.id));
    await shards.shard(shard).query(
      'INSERT INTO users (id, username, name, password_hash) SELECT u.id, u.username, u.name, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, username, name) ON CONFLICT DO NOTHING',
      [mine.map((c) => c.id), mine.map((c) => c.username), mine.map((c) => c.name), hash]);
  }
  const shardOf = new Map([...byShard].flatMap(([shard, ids]) => ids.map((id) => [id, shard] as const)));
  const pending = new Map<string, unknown[][]>();
  const flush = async (shard: string): Promise<void> => {
    const rows = pending.get(shard) ?? [];
    if (rows.length === 0) return;
    pending.set(shard, []);
    const column = (i: number): unknown[] => rows.map((r) => r[i]);
    await shards.shard(shard).query(
      `INSERT INTO orders (id, user_id, total, item_count, created_at, doc)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::int[], $5::timestamptz[], $6::jsonb[])`,
      [column(0), column(1), column(2), column(3), column(4), column(5)]);
  };
  // Spread over the last 90 days, oldest first.
  const spanMs = 90 * 24 * 3_600_000;
  for (let i = 0; i < orders; i++) {
    const customer = customers[Math.floor(next() * customers.length)]!;
    const items = demoItems(next);
    const total = items.reduce((sum, item) => sum + item.subtotal, 0);
    const createdMs = nowMs - spanMs + Math.floor((spanMs * i) / orders);
    const shard = shardOf.get(customer.id)!;
    const rows = pending.get(shard) ?? [];
    rows.push([newOrderId(createdMs), customer.id, total, items.reduce((n, item) => n + item.qty, 0), new Date(createdMs),
      JSON.stringify({ userId: customer.id, items, total })]);
    pending.set(shard, rows);
    if (rows.length >= INSERT_BATCH) await flush(shard);
  }
  for (const shard of pending.keys()) await flush(shard);
  // Fresh statistics, so the planner knows how many orders hold a product (index or scan).
  for (const shard of byShard.keys()) await shards.shard(shard).query('ANALYZE orders');
  return orders;
}
