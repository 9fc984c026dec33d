import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../examples/shop/src/app.js';
import { openShopData } from '../../examples/shop/src/data/shop-data.js';
import type { ShopData } from '../../examples/shop/src/data/shop-data.js';
import { ProductPages } from '../../examples/shop/src/prerender/product-pages.js';
import type { PrerenderEvent } from '../../src/jobs/index.js';
import { startStaticServer } from '../../src/static/index.js';
import type { StaticServer } from '../../src/static/index.js';
import { waitFor } from '../support/wait-for.js';
import { createShopDatabase, InjectClient, REDIS_URL, redisScratch, TEST_SESSION_KEYS } from './support.js';
import type { ShopDatabase } from './support.js';

// The shop's product pages in the static tier, in one process: the app (purges on a
// product change), the pre-render worker (as src/prerender-worker.ts runs it), and a
// static server reading the tier.

let db: ShopDatabase;
let app: FastifyInstance;
let data: ShopData;
let pages: ProductPages;
let worker: ReturnType<ProductPages['work']>;
let server: StaticServer;
let port: number;
let staticDir: string;
const events: PrerenderEvent[] = [];
const redis = redisScratch();

function fetchStatic(path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    }).on('error', reject);
  });
}

beforeAll(async () => {
  db = await createShopDatabase();
  staticDir = join(tmpdir(), `scaleout-shop-static-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(staticDir, { recursive: true });
  app = await buildApp({
    databaseUrl: db.url, redisUrl: REDIS_URL, redisKeyPrefix: redis.prefix, sessionKeys: TEST_SESSION_KEYS,
    shardPrefix: db.shardPrefix, instanceId: 'shop-static-1', buildId: 'build-test', poolMax: 3, staticDir,
  });
  data = await openShopData({ databaseUrl: db.url, shardPrefix: db.shardPrefix, poolMax: 2 });
  pages = new ProductPages({ redisUrl: REDIS_URL, prefix: redis.prefix, staticDir });
  worker = pages.work(data, { instanceId: 'prerender-1', buildId: 'build-test' }, (e) => events.push(e));
  const started = await startStaticServer({ dir: staticDir });
  server = started.server;
  port = Number(started.address.split(':').pop());
}, 60_000);

afterAll(async () => {
  await server?.close();
  await worker?.close({ graceMs: 1000 });
  await pages?.close();
  await data?.close();
  await app?.close();
  await redis.clean();
  await db?.drop();
  await rm(staticDir, { recursive: true, force: true });
});

describe('pre-rendered product pages', () => {
  it('bakes every product page with the shop\'s security headers and nothing personal in it', async () => {
    await pages.queue.add('bake', {});
    const page = await waitFor('product 1 baked', async () => {
      const res = await fetchStatic('/products/1');
      return res.status === 200 ? res : undefined;
    }, { timeoutMs: 20_000 });
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers.etag).toBeDefined();
    expect(page.text).toContain('<span id="account" data-viewing="1"><a href="/login?next=%2Fproducts%2F1">Log in</a></span>');
    expect(page.text).toContain('Cart (<span id="cart-count">0</span>)');
    expect(page.text).toContain('<script src="/assets/visitor.js" defer></script>');
    expect(page.text).not.toMatch(/<script>/);
    expect(page.text).toContain('served as a file by the static tier');
    // A bake of unchanged data rewrites nothing: same bytes, same ETag, so browsers keep their 304s.
    const etag = page.headers.etag;
    await pages.queue.add('bake', {});
    await waitFor('the second bake', () => events.filter((e) => e.kind === 'prerender-published').length >= 2, { timeoutMs: 20_000 });
    expect(events.at(-1)).toMatchObject({ kind: 'prerender-published', published: false, written: [] });
    expect((await fetchStatic('/products/1')).headers.etag).toBe(etag);
    const products = (await new InjectClient(app).request('GET', '/products')).body.products as unknown[];
    for (let id = 1; id <= products.length; id++) expect((await fetchStatic(`/products/${id}`)).status, `/products/${id}`).toBe(200);
  });

  it('gives the page\'s script the visitor\'s name and cart, and records the view, from POST /visitor', async () => {
    const alice = new InjectClient(app);
    expect((await alice.login('alice', 'wonderland')).status).toBe(200);
    expect((await alice.request('POST', '/cart/items', { json: { productId: 2, qty: 3 } })).status).toBeLessThan(300);
    const visitor = await alice.request('POST', '/visitor', { json: { viewing: 2 } });
    expect(visitor.status).toBe(200);
    expect(visitor.headers['cache-control']).toBe('no-store');
    expect(visitor.body).toEqual({ user: { username: 'alice', name: expect.any(String) }, cartCount: 3 });
    const me = await alice.request('GET', '/me');
    expect(me.body.recent.map((p: { id: number }) => p.id)).toContain(2);
    // Anonymous: no user, an empty cart.
    expect((await new InjectClient(app).request('POST', '/visitor', { json: {} })).body).toEqual({ user: null, cartCount: 0 });
    const script = await alice.request('GET', '/assets/visitor.js');
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.text).not.toContain('innerHTML');
  });

  it('purges a product\'s page when an order changes its stock, then renders it again with the new stock', async () => {
    const before = await fetchStatic('/products/2');
    const stockBefore = Number(/(\d+) in stock/.exec(before.text)?.[1]);
    const alice = new InjectClient(app);
    await alice.login('alice', 'wonderland');
    expect((await alice.request('POST', '/cart/items', { json: { productId: 2, qty: 3 } })).status).toBeLessThan(300);
    const order = await alice.request('POST', '/orders', { json: {} });
    expect(order.status).toBe(201);
    // Purged by the time the order is answered: nobody sees the old stock from the tier.
    const right = await fetchStatic('/products/2');
    if (right.status === 200) expect(Number(/(\d+) in stock/.exec(right.text)?.[1])).toBe(stockBefore - 3);
    const after = await waitFor('product 2 rendered again', async () => {
      const res = await fetchStatic('/products/2');
      return res.status === 200 ? res : undefined;
    }, { timeoutMs: 20_000 });
    expect(Number(/(\d+) in stock/.exec(after.text)?.[1])).toBe(stockBefore - 3);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    // Another product's page was not touched.
    expect(events.some((e) => e.kind === 'prerender-published' && e.written.includes('/products/2'))).toBe(true);
  });
});
