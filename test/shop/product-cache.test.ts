import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/index.js';
import type { Database } from '../../src/db/index.js';
import { buildApp } from '../../examples/shop/src/app.js';
import { MemcachedServer } from '../support/memcached-server.js';
import { waitFor } from '../support/wait-for.js';
import { createShopDatabase, InjectClient, REDIS_URL, TEST_SESSION_KEYS } from './support.js';
import type { ShopDatabase } from './support.js';

// Two instances of the shop sharing one catalogue and one cache L2: the cache Redis that
// `scaleout up` gives them through CACHE_REDIS_URL, or, under the postgres
// profile, PostgreSQL (an UNLOGGED table, LISTEN/NOTIFY for the bus); Memcached when
// the config has engines.memcached.
describe.each(['redis', 'memcached', 'postgres'] as const)('the shop caches product pages (L2 in %s)', (l2) => {
  let db: ShopDatabase;
  let apps: FastifyInstance[] = [];
  let writer: Database;
  let memcached: MemcachedServer | undefined;
  const keyPrefix = `shoptest:cache:${randomBytes(5).toString('hex')}:`;

  const html = { headers: { accept: 'text/html' } };
  const sourceOf = (answer: { headers: Record<string, unknown> }): unknown => answer.headers['x-shop-cache'];

  beforeAll(async () => {
    db = await createShopDatabase();
    if (l2 === 'memcached') memcached = await MemcachedServer.start();
    apps = await Promise.all(['cache-a', 'cache-b'].map((instanceId) => buildApp({
      databaseUrl: db.url, sessionKeys: TEST_SESSION_KEYS, shardPrefix: db.shardPrefix, instanceId, poolMax: 2,
      ...(l2 === 'redis' ? { cacheRedisUrl: REDIS_URL } : {}), ...(memcached === undefined ? {} : { memcachedUrl: memcached.servers }),
      cacheKeyPrefix: keyPrefix,
      // Which tier answered is what these tests read: on a loaded machine a PostgreSQL L2
      // call can outlast the default 250 ms and count as a miss (that bound has its own tests).
      cacheL2TimeoutMs: 5_000,
    })));
    writer = createDatabase({ primary: db.url });
  });

  afterAll(async () => {
    await writer?.close();
    await Promise.all(apps.map((app) => app.close()));
    await db?.drop();
    await memcached?.kill();
  });

  it('builds a product page once: from the database, then L1 on that instance, L2 on the other; the footer says which', async () => {
    const [a, b] = apps.map((app) => new InjectClient(app)) as [InjectClient, InjectClient];
    const first = await a.request('GET', '/products/3', html);
    expect(first.status).toBe(200);
    expect(sourceOf(first)).toBe('loader');
    expect(first.text).toContain('page object from <code>the database</code>');
    expect(first.text).toContain('Related');

    const again = await a.request('GET', '/products/3', html);
    expect(sourceOf(again)).toBe('l1');
    expect(again.text).toContain('page object from <code>L1 (this instance)</code>');

    const other = await b.request('GET', '/products/3', html);
    expect(sourceOf(other)).toBe('l2');
    expect(other.text).toContain('page object from <code>L2 (shared)</code>');
    expect(other.text.replace(/<footer>[\s\S]*<\/footer>/, '')).toBe(first.text.replace(/<footer>[\s\S]*<\/footer>/, ''));
  });

  it('rebuilds the page on both instances after the product changes through scaleout/db, and after deleteByTag', async () => {
    const [a, b] = apps.map((app) => new InjectClient(app)) as [InjectClient, InjectClient];
    await a.request('GET', '/products/5');
    await b.request('GET', '/products/5');
    expect(sourceOf(await b.request('GET', '/products/5'))).toBe('l1');

    // A raw UPDATE through a database the cache watches: the products table's version moves in L2 and on the bus.
    apps[0]!.cache.attach(writer);
    const before = (await b.request('GET', '/products/5')).body.price as number;
    await writer.query('UPDATE products SET price = price + 1000 WHERE id = 5');
    // The invalidation reaches the other instance over the bus, a moment after the commit.
    const changedB = await waitFor('instance B to show the new price', async () => {
      const answer = await b.request('GET', '/products/5');
      return answer.body.price === before + 1000 ? answer : undefined;
    }, { timeoutMs: 5_000, intervalMs: 20 });
    expect(sourceOf(changedB)).toBe('loader');
    const changedA = await waitFor('instance A to show the new price', async () => {
      const answer = await a.request('GET', '/products/5');
      return answer.body.price === before + 1000 ? answer : undefined;
    }, { timeoutMs: 5_000, intervalMs: 20 });
    expect(['l2', 'l1']).toContain(sourceOf(changedA));
    expect(changedA.body.price).toBe(changedB.body.price);
    // The catalogue query was invalidated too.
    const list = await a.request('GET', '/products');
    expect(list.body.products.find((p: { id: number }) => p.id === 5).price).toBe(changedB.body.price);

    await apps[1]!.cache.deleteByTag('product:5');
    await waitFor('instance A to rebuild the page', async () => sourceOf(await a.request('GET', '/products/5')) === 'loader',
      { timeoutMs: 5_000, intervalMs: 20 });
    expect(sourceOf(await b.request('GET', '/products/5'))).toBe('l2');
  });

  it('takes an order\'s quantities off the stock and rebuilds that product\'s page on both instances', async () => {
    const [a, b] = apps.map((app) => new InjectClient(app)) as [InjectClient, InjectClient];
    const before = (await a.request('GET', '/products/7')).body.stock as number;
    expect((await b.request('GET', '/products/7')).body.stock).toBe(before);
    expect(sourceOf(await b.request('GET', '/products/7'))).toBe('l1');

    const buyer = new InjectClient(apps[0]!);
    expect((await buyer.login('bob', 'builder')).status).toBe(200);
    expect((await buyer.request('POST', '/cart/items', { json: { productId: 7, qty: 2 } })).status).toBe(200);
    expect((await buyer.request('POST', '/orders')).status).toBe(201);

    for (const [name, client] of [['B', b], ['A', a]] as const) {
      const page = await waitFor(`instance ${name} to show the new stock`, async () => {
        const answer = await client.request('GET', '/products/7', html);
        return answer.text.includes(`${before - 2} in stock`) ? answer : undefined;
      }, { timeoutMs: 5_000, intervalMs: 20 });
      expect(['loader', 'l2']).toContain(sourceOf(page));
    }
  });
});
