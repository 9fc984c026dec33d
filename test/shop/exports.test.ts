import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../examples/shop/src/app.js';
import { waitFor } from '../support/wait-for.js';
import { createShopDatabase, InjectClient, REDIS_URL, redisScratch, TEST_SESSION_KEYS } from './support.js';
import type { ShopDatabase } from './support.js';

// Two instances over one set of databases and one Redis; only the first runs exports
// (as a worker process would): the second serves their progress and the CSV.
let db: ShopDatabase;
let first: FastifyInstance;
let second: FastifyInstance;
const redis = redisScratch();

function build(instanceId: string, worker: boolean): Promise<FastifyInstance> {
  return buildApp({
    databaseUrl: db.url, redisUrl: REDIS_URL, redisKeyPrefix: redis.prefix, sessionKeys: TEST_SESSION_KEYS,
    shardPrefix: db.shardPrefix, instanceId, buildId: 'build-test', poolMax: 3,
    exports: { worker, batchSize: 2, batchDelayMs: 20 },
  });
}

beforeAll(async () => {
  db = await createShopDatabase();
  [first, second] = await Promise.all([build('shop-export-1', true), build('shop-export-2', false)]);
});

afterAll(async () => {
  await first?.close();
  await second?.close();
  await redis.clean();
  await db?.drop();
});

interface Page { events: Array<{ id: string; type: string; data: { orders: number; total: number } | null }>; lastId: string | null; done: boolean }

describe('order exports', () => {
  it('exports the user\'s orders in batches with progress, served by another instance, to that user only', async () => {
    const alice = new InjectClient(first);
    expect((await alice.login('alice', 'wonderland')).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      expect((await alice.request('POST', '/cart/items', { json: { productId: 1 + (i % 3), qty: 1 } })).status).toBeLessThan(300);
      expect((await alice.request('POST', '/orders', { json: {} })).status).toBe(201);
    }
    const started = await alice.request('POST', '/exports', { json: {} });
    expect(started.status).toBe(202);
    const id = started.body.id as string;

    // Polled through the other instance, resuming after the last id seen.
    const onSecond = new InjectClient(second, alice.jar);
    const seen: Page['events'] = [];
    let after = '';
    await waitFor('the export is done', async () => {
      const answer = await onSecond.request('GET', `/exports/${id}?after=${encodeURIComponent(after)}`);
      if (answer.status !== 200) throw new Error(`${answer.status} ${answer.text}`);
      const page = answer.body as Page;
      seen.push(...page.events);
      after = page.lastId ?? after;
      return page.done;
    }, { timeoutMs: 20_000 });
    const progress = seen.filter((e) => e.type === 'progress').map((e) => e.data!.orders);
    expect(progress).toEqual([2, 4, 5]);
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect(seen.at(-1)!.type).toBe('completed');

    // The same events as SSE (what the progress bar reads), resumed after the first one.
    const url = await second.listen({ port: 0, host: '127.0.0.1' });
    const sse = await new Promise<{ type: string | undefined; text: string }>((resolve, reject) => {
      http.get(`${url}/exports/${id}/events`, { headers: { cookie: alice.jar.header!, 'last-event-id': seen[0]!.id } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ type: res.headers['content-type'], text }));
      }).on('error', reject);
    });
    expect(sse.type).toContain('text/event-stream');
    expect([...sse.text.matchAll(/^id: (.+)$/gm)].map((m) => m[1])).toEqual(seen.slice(1).map((e) => e.id));

    const csv = await onSecond.request('GET', `/exports/${id}/download`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.text.trim().split('\n');
    expect(lines[0]).toBe('order_id,placed_at,items,total');
    expect(lines).toHaveLength(6);

    // Someone else's export does not exist for them.
    const bob = new InjectClient(second);
    expect((await bob.login('bob', 'builder')).status).toBe(200);
    for (const path of [`/exports/${id}/download`, `/exports/${id}`, `/exports/${id}/events`]) {
      expect((await bob.request('GET', path)).status).toBe(404);
    }
    expect((await new InjectClient(second).request('GET', `/exports/${id}/download`)).status).toBe(401);
  });

  it('the orders page shows the progress bar with its script as a file, under a strict CSP', async () => {
    const alice = new InjectClient(second);
    await alice.login('alice', 'wonderland');
    const page = await alice.request('GET', '/orders?export=abc', { html: true });
    expect(page.status).toBe(200);
    expect(page.text).toContain('<div id="export" data-job="abc"><progress></progress>');
    expect(page.text).toContain('<script src="/assets/export-progress.js" defer></script>');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const script = await alice.request('GET', '/assets/export-progress.js');
    expect(script.status).toBe(200);
    expect(script.text).toContain("new EventSource('/exports/'");
    const plain = await alice.request('GET', '/orders', { html: true });
    expect(plain.text).toContain('<form method="post" action="/exports">');
  });
});
