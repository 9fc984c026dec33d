import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../examples/shop/src/app.js';
import { EXPORTS_PG_SCHEMA } from '../../examples/shop/src/exports/order-export.js';
import { waitFor } from '../support/wait-for.js';
import { createShopDatabase, InjectClient, TEST_SESSION_KEYS } from './support.js';
import type { ShopDatabase } from './support.js';

// Without REDIS_URL the shop keeps sessions (and so carts) in PostgreSQL, and runs its
// order exports on pg-boss in the catalogue database; pg-1 also runs the exports (as a
// worker process would), pg-2 only serves them.
let db: ShopDatabase;
let apps: FastifyInstance[] = [];

beforeAll(async () => {
  db = await createShopDatabase();
  // Two instances started at once: migrations and seeding take turns, nothing is seeded twice.
  apps = await Promise.all(['pg-1', 'pg-2'].map((instanceId) => buildApp({
    databaseUrl: db.url, sessionKeys: TEST_SESSION_KEYS, shardPrefix: db.shardPrefix, instanceId, poolMax: 2,
    exports: { worker: instanceId === 'pg-1', batchSize: 2, batchDelayMs: 20 },
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

  it('exports the user\'s orders on pg-boss: progress and the CSV through the other instance, to that user only', async () => {
    const [one, two] = apps as [FastifyInstance, FastifyInstance];
    const carol = new InjectClient(one);
    expect((await carol.login('carol', 'cheshire')).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      expect((await carol.request('POST', '/cart/items', { json: { productId: 2, qty: 1 } })).status).toBeLessThan(300);
      expect((await carol.request('POST', '/orders', { json: {} })).status).toBe(201);
    }
    const started = await carol.request('POST', '/exports', { json: {} });
    expect(started.status).toBe(202);
    const id = started.body.id as string;

    // The job is pg-boss's, in the catalogue database, with its owner row.
    const catalogue = new pg.Client({ connectionString: db.url });
    await catalogue.connect();
    try {
      const job = await catalogue.query(`SELECT name FROM ${EXPORTS_PG_SCHEMA}.job WHERE id = $1`, [id]);
      expect(job.rows).toEqual([{ name: 'exports' }]);
      expect((await catalogue.query('SELECT owner FROM order_exports WHERE id = $1', [id])).rowCount).toBe(1);
    } finally {
      await catalogue.end();
    }

    const onTwo = new InjectClient(two, carol.jar);
    const seen: Array<{ id: string; type: string; data: { orders: number } | null }> = [];
    let after = '';
    await waitFor('the export is done', async () => {
      const answer = await onTwo.request('GET', `/exports/${id}?after=${encodeURIComponent(after)}`);
      if (answer.status !== 200) throw new Error(`${answer.status} ${answer.text}`);
      seen.push(...answer.body.events);
      after = answer.body.lastId ?? after;
      return answer.body.done as boolean;
    }, { timeoutMs: 30_000 });
    expect(seen.filter((e) => e.type === 'progress').map((e) => e.data!.orders)).toEqual([2, 3]);
    expect(seen.at(-1)!.type).toBe('completed');

    // SSE from the other instance, resumed after the first event.
    const url = await two.listen({ port: 0, host: '127.0.0.1' });
    const sse = await new Promise<string>((resolve, reject) => {
      http.get(`${url}/exports/${id}/events`, { headers: { cookie: carol.jar.header!, 'last-event-id': seen[0]!.id } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect([...sse.matchAll(/^id: (.+)$/gm)].map((m) => m[1])).toEqual(seen.slice(1).map((e) => e.id));

    const csv = await onTwo.request('GET', `/exports/${id}/download`);
    expect(csv.status).toBe(200);
    expect(csv.text.trim().split('\n')).toHaveLength(4);

    const alice = new InjectClient(two);
    expect((await alice.login('alice', 'wonderland')).status).toBe(200);
    expect((await alice.request('GET', `/exports/${id}/download`)).status).toBe(404);
  });
});
