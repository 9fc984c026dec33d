import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../examples/shop/src/app.js';
import { DEMO_CUSTOMERS } from '../../examples/shop/src/data/demo-orders.js';
import { createShopDatabase, InjectClient, TEST_SESSION_KEYS } from './support.js';
import type { ShopDatabase } from './support.js';

const DEMO_ORDERS = 2_000;

// The product page's related products are the ones bought most often with it, counted
// over the orders of both shards: checked against a count made here, shard by shard.
describe('related products: bought together, over every shard', () => {
  let db: ShopDatabase;
  let app: FastifyInstance;

  beforeAll(async () => {
    db = await createShopDatabase();
    app = await buildApp({
      databaseUrl: db.url, sessionKeys: TEST_SESSION_KEYS, shardPrefix: db.shardPrefix, instanceId: 'together', poolMax: 2,
      cache: false, demoOrders: DEMO_ORDERS,
    });
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  async function onShards<T>(fn: (client: pg.Client) => Promise<T>): Promise<T[]> {
    return Promise.all([0, 1].map(async (i) => {
      const url = new URL(db.url);
      url.pathname = `/${db.shardPrefix}_${i}`;
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        return await fn(client);
      } finally {
        await client.end();
      }
    }));
  }

  it('seeds the demo history once, spread over both shards', async () => {
    const counts = await onShards(async (c) => Number((await c.query('SELECT count(*) AS n FROM orders')).rows[0].n));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(DEMO_ORDERS);
    expect(counts.every((n) => n > 0)).toBe(true);
    const users = await onShards(async (c) => Number((await c.query("SELECT count(*) AS n FROM users WHERE username LIKE 'demo-customer-%'")).rows[0].n));
    expect(users.reduce((a, b) => a + b, 0)).toBe(DEMO_CUSTOMERS);
  });

  it('shows the three products most often in the same orders, with their counts', async () => {
    const perShard = await onShards(async (c) => (await c.query<{ id: number; n: number }>(
      `SELECT (i->>'productId')::int AS id, count(*)::int AS n FROM orders, jsonb_array_elements(doc->'items') i
       WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(doc->'items') j WHERE (j->>'productId')::int = 1) AND (i->>'productId')::int <> 1
       GROUP BY 1`)).rows);
    const totals = new Map<number, number>();
    for (const row of perShard.flat()) totals.set(row.id, (totals.get(row.id) ?? 0) + row.n);
    const expected = [...totals].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 3);

    const client = new InjectClient(app);
    const page = await client.request('GET', '/products/1', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const shown = [...page.text.matchAll(/<li><a href="\/products\/(\d+)">[^<]*<\/a> [^<]*<span class="muted">bought together in (\d+) orders<\/span><\/li>/g)]
      .map((m) => [Number(m[1]), Number(m[2])]);
    expect(shown).toEqual(expected);
  });
});
