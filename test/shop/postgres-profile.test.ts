import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../examples/shop/src/app.js';
import { createShopDatabase, InjectClient, TEST_SESSION_KEYS } from './support.js';
import type { ShopDatabase } from './support.js';

// Without REDIS_URL the shop keeps sessions (and so carts) in PostgreSQL.
let db: ShopDatabase;
let apps: FastifyInstance[] = [];

beforeAll(async () => {
  db = await createShopDatabase();
  // Two instances started at once: migrations and seeding take turns, nothing is seeded twice.
  apps = await Promise.all(['pg-1', 'pg-2'].map((instanceId) => buildApp({
    databaseUrl: db.url, sessionKeys: TEST_SESSION_KEYS, shardPrefix: db.shardPrefix, instanceId, poolMax: 2,
  })));
});

afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await db?.drop();
});

describe('the postgres profile', () => {
  it('keeps the login and the cart in PostgreSQL, shared by both instances', async () => {
    const [one, two] = apps as [FastifyInstance, FastifyInstance];
    const first = new InjectClient(one);
    expect((await first.login('alice', 'wonderland')).status).toBe(200);
    await first.request('POST', '/cart/items', { json: { productId: 7, qty: 2 } });

    // The same browser (cookie) on the other instance.
    const second = new InjectClient(two, first.jar);
    expect((await second.request('GET', '/me')).body.user.username).toBe('alice');
    await second.request('POST', '/cart/items', { json: { productId: 7, qty: 1 } });
    expect((await first.request('GET', '/cart')).body.items).toEqual([expect.objectContaining({ productId: 7, qty: 3 })]);

    const order = await second.request('POST', '/orders');
    expect(order.status).toBe(201);
    expect((await first.request('GET', `/orders/${order.body.id}`)).body.id).toBe(order.body.id);
  });

  it('seeded each user exactly once although two instances started together', async () => {
    const client = new InjectClient(apps[0]!);
    for (const [user, password] of [['alice', 'wonderland'], ['bob', 'builder'], ['carol', 'cheshire']] as const) {
      expect((await client.login(user, password)).status, user).toBe(200);
    }
    let count = 0;
    for (const shard of [0, 1]) {
      const url = new URL(db.url);
      url.pathname = `/${db.shardPrefix}_${shard}`;
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      count += Number((await c.query('SELECT count(*) AS n FROM users')).rows[0].n);
      await c.end();
    }
    expect(count).toBe(3);
  });
});
