import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../examples/shop/src/app.js';
import { SEED_PRODUCTS } from '../../examples/shop/src/data/seed-data.js';
import { RECENT_VIEWS_KEPT, recentProductIds, viewPatch } from '../../examples/shop/src/recently-viewed.js';
import { query, startTestPostgresReplicaSet } from '../support/pg-replica-set.js';
import { waitFor } from '../support/wait-for.js';
import type { PostgresReplicaSet } from '../support/pg-replica-set.js';
import { createShopDatabase, InjectClient, REDIS_URL, redisScratch, TEST_SESSION_KEYS } from './support.js';
import type { ShopDatabase } from './support.js';

// Two instances of the shop over one set of databases and one session store, as
// `scaleout up` runs them; a client passes its cookie jar to be the same browser on both.
let db: ShopDatabase;
let first: FastifyInstance;
let second: FastifyInstance;
const redis = redisScratch();

function build(instanceId: string): Promise<FastifyInstance> {
  return buildApp({
    databaseUrl: db.url,
    redisUrl: REDIS_URL,
    redisKeyPrefix: redis.prefix,
    sessionKeys: TEST_SESSION_KEYS,
    shardPrefix: db.shardPrefix,
    instanceId,
    buildId: 'build-test',
    poolMax: 3,
  });
}

beforeAll(async () => {
  db = await createShopDatabase();
  [first, second] = await Promise.all([build('shop-recent-1'), build('shop-recent-2')]);
});

afterAll(async () => {
  await first?.close();
  await second?.close();
  await redis.clean();
  await db?.drop();
});

/** Runs `sql` on every shard database directly (not through the shop) and returns all rows. */
async function onShards(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = [];
  for (const name of [`${db.shardPrefix}_0`, `${db.shardPrefix}_1`]) {
    const url = new URL(db.url);
    url.pathname = `/${name}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      rows.push(...(await client.query(sql, params)).rows);
    } finally {
      await client.end();
    }
  }
  return rows;
}

/** The user's stored document, read on the shard primaries. */
async function storedDoc(userId: string): Promise<{ doc: { recent: number[]; views: number }; version: number } | undefined> {
  const rows = await onShards('SELECT doc, version FROM user_documents WHERE user_id = $1', [userId]);
  expect(rows.length).toBeLessThanOrEqual(1);
  const row = rows[0];
  return row === undefined ? undefined : { doc: row.doc as { recent: number[]; views: number }, version: Number(row.version) };
}

async function freshUser(username: string, password: string): Promise<{ client: InjectClient; id: string }> {
  const client = new InjectClient(first);
  const res = await client.login(username, password);
  expect(res.status).toBe(200);
  const id = res.body.user.id as string;
  await onShards('DELETE FROM user_documents WHERE user_id = $1', [id]);
  return { client, id };
}

async function view(client: InjectClient, productId: number, html = false): Promise<void> {
  const res = await client.request('GET', `/products/${productId}`, { html });
  expect(res.status, res.text).toBe(200);
}

async function recent(client: InjectClient): Promise<{ ids: number[]; names: string[]; views: number }> {
  const me = await client.request('GET', '/me');
  expect(me.status, me.text).toBe(200);
  const items = me.body.recent as Array<{ id: number; name: string }>;
  return { ids: items.map((p) => p.id), names: items.map((p) => p.name), views: me.body.productViews };
}

const nameOf = (id: number): string => SEED_PRODUCTS.find((p) => p.id === id)!.name;

describe('recently viewed products', () => {
  it('records the views of a logged-in user and lists them newest first, with names from the catalogue', async () => {
    const { client } = await freshUser('alice', 'wonderland');
    expect(await recent(client)).toEqual({ ids: [], names: [], views: 0 });
    await view(client, 3);
    await view(client, 1, true);
    await view(new InjectClient(second, client.jar), 5);
    expect(await recent(client)).toEqual({ ids: [5, 1, 3], names: [nameOf(5), nameOf(1), nameOf(3)], views: 3 });

    const page = await new InjectClient(second, client.jar).request('GET', '/products', { html: true });
    expect(page.status).toBe(200);
    const section = page.text.slice(page.text.indexOf('Recently viewed'), page.text.indexOf('<h1>Products</h1>'));
    expect(section).not.toBe('');
    const shown = [...section.matchAll(/href="\/products\/(\d+)"/g)].map((m) => Number(m[1]));
    expect(shown).toEqual([5, 1, 3]);
    expect(section).toContain(nameOf(5));
  });

  it('keeps the last 8 views; a product viewed again comes first and is listed once', async () => {
    const { client, id } = await freshUser('alice', 'wonderland');
    for (let p = 1; p <= 12; p++) await view(client, p);
    expect((await recent(client)).ids).toEqual([12, 11, 10, 9, 8, 7, 6, 5]);
    expect((await storedDoc(id))?.doc.recent).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);

    await view(client, 7);
    const after = await recent(client);
    // The list holds the last 8 views; 7 is in it twice and shown once.
    expect(after.ids).toEqual([7, 12, 11, 10, 9, 8, 6]);
    expect(after.views).toBe(13);
    expect((await storedDoc(id))?.doc.recent).toEqual([6, 7, 8, 9, 10, 11, 12, 7]);
  });

  it('lands two views made at once on two instances', async () => {
    const { client } = await freshUser('carol', 'cheshire');
    const other = new InjectClient(second, client.jar);
    await Promise.all([view(client, 2), view(other, 4)]);
    const both = await recent(client);
    expect([...both.ids].sort()).toEqual([2, 4]);
    expect(both.views).toBe(2);
  });

  it('counts 20 concurrent views over two instances, starting without a document, and keeps 8', async () => {
    const { client, id } = await freshUser('bob', 'builder');
    const other = new InjectClient(second, client.jar);
    const viewed = Array.from({ length: 20 }, (_, i) => (i % SEED_PRODUCTS.length) + 1);
    await Promise.all(viewed.map((p, i) => view(i % 2 === 0 ? client : other, p)));

    const stored = await storedDoc(id);
    expect(stored?.doc.views).toBe(20);
    // One create and 19 patches, each a version.
    expect(stored?.version).toBe(20);
    expect(stored?.doc.recent).toHaveLength(RECENT_VIEWS_KEPT);
    const shown = await recent(client);
    expect(shown.views).toBe(20);
    expect(new Set(shown.ids).size).toBe(shown.ids.length);
    expect(shown.ids.length).toBeGreaterThan(0);
    for (const p of shown.ids) expect(viewed).toContain(p);
    expect(shown.ids).toEqual(recentProductIds(stored?.doc));
  });

  it('keeps users apart', async () => {
    const alice = await freshUser('alice', 'wonderland');
    const carol = await freshUser('carol', 'cheshire');
    await view(alice.client, 9);
    await view(carol.client, 11);
    expect((await recent(alice.client)).ids).toEqual([9]);
    expect((await recent(carol.client)).ids).toEqual([11]);
    const page = await carol.client.request('GET', '/products', { html: true });
    const section = page.text.slice(0, page.text.indexOf('<h1>Products</h1>'));
    expect(section).toContain(nameOf(11));
    expect(section).not.toContain(nameOf(9));
  });

  it('records nothing for visitors who are not logged in, nor for products that do not exist', async () => {
    const { client, id } = await freshUser('carol', 'cheshire');
    expect((await client.request('POST', '/logout')).status).toBe(200);
    await view(client, 6);
    await view(client, 8, true);
    const page = await client.request('GET', '/products', { html: true });
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('Recently viewed');
    expect(await storedDoc(id)).toBeUndefined();

    expect((await client.login('carol', 'cheshire')).status).toBe(200);
    expect((await client.request('GET', '/products/999')).status).toBe(404);
    expect((await client.request('GET', '/products/abc')).status).toBe(404);
    expect(await recent(client)).toEqual({ ids: [], names: [], views: 0 });
    expect((await client.request('GET', '/me')).body.user.username).toBe('carol');
  });

  it('still serves the product pages when the documents cannot be written or read', async () => {
    const { client } = await freshUser('alice', 'wonderland');
    await view(client, 2);
    await onShards('ALTER TABLE user_documents RENAME TO user_documents_away');
    try {
      await view(client, 3, true);
      await view(client, 4);
      const page = await client.request('GET', '/products', { html: true });
      expect(page.status).toBe(200);
      expect(page.text).not.toContain('Recently viewed');
      expect(page.text).toContain(nameOf(4));
    } finally {
      await onShards('ALTER TABLE user_documents_away RENAME TO user_documents');
    }
    expect((await recent(client)).ids).toEqual([2]);
  });
});

describe('with a streaming replica', () => {
  let replicaSet: PostgresReplicaSet;
  const apps: FastifyInstance[] = [];
  const scratch = redisScratch();

  beforeAll(async () => {
    replicaSet = await startTestPostgresReplicaSet({ replicas: 1 });
    const options = {
      databaseUrl: replicaSet.primary.url(),
      replicaUrls: [replicaSet.replicas[0]!.url()],
      redisUrl: REDIS_URL,
      redisKeyPrefix: scratch.prefix,
      sessionKeys: TEST_SESSION_KEYS,
      buildId: 'build-test',
      poolMax: 2,
    };
    apps.push(await buildApp({ ...options, instanceId: 'shop-replica-1' }));
    apps.push(await buildApp({ ...options, instanceId: 'shop-replica-2' }));
  }, 120_000);

  afterAll(async () => {
    for (const app of apps) await app.close();
    await replicaSet?.destroy();
    await scratch.clean();
  }, 60_000);

  /** Reads of user_documents served by the replica, over both shard databases. */
  async function replicaScans(): Promise<number> {
    let total = 0;
    for (const shard of ['shop_shard_0', 'shop_shard_1']) {
      const rows = await query<{ n: string | null }>(replicaSet.replicas[0]!,
        "SELECT sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)) AS n FROM pg_stat_user_tables WHERE relname = 'user_documents'", [], shard);
      total += Number(rows[0]?.n ?? 0);
    }
    return total;
  }

  it('shows a view on the next read on the other instance, 40 times in a row, reading from the replica', async () => {
    const a = new InjectClient(apps[0]!);
    expect((await a.login('alice', 'wonderland')).status).toBe(200);
    const clients = [a, new InjectClient(apps[1]!, a.jar)];
    const scansBefore = await replicaScans();
    for (let i = 0; i < 40; i++) {
      const productId = (i % SEED_PRODUCTS.length) + 1;
      await view(clients[i % 2]!, productId);
      const shown = await recent(clients[(i + 1) % 2]!);
      expect(shown.ids[0], `try ${i}`).toBe(productId);
      expect(shown.views, `try ${i}`).toBe(i + 1);
    }
    await waitFor('document reads on the replica', async () => (await replicaScans()) > scansBefore, { timeoutMs: 30_000, intervalMs: 50 });
  }, 60_000);

  it('shows a view at once while the replica has stopped replaying', async () => {
    const a = new InjectClient(apps[0]!);
    expect((await a.login('bob', 'builder')).status).toBe(200);
    const clients = [a, new InjectClient(apps[1]!, a.jar)];
    const replica = replicaSet.replicas[0]!;
    await view(a, 1);
    await query(replica, 'SELECT pg_wal_replay_pause()');
    try {
      for (let i = 0; i < 6; i++) {
        const productId = i + 2;
        await view(clients[i % 2]!, productId);
        expect((await recent(clients[(i + 1) % 2]!)).ids[0], `try ${i}`).toBe(productId);
      }
    } finally {
      await query(replica, 'SELECT pg_wal_replay_resume()');
    }
  }, 60_000);
});

describe('recent view logic', () => {
  it('reads distinct product ids newest first, at most 8, skipping anything that is not one', () => {
    expect(recentProductIds(undefined)).toEqual([]);
    expect(recentProductIds({})).toEqual([]);
    expect(recentProductIds({ recent: 'nope' as unknown as number[] })).toEqual([]);
    expect(recentProductIds({ recent: [1, 2, 1, 3] })).toEqual([3, 1, 2]);
    expect(recentProductIds({ recent: [1, '2', null, 0, -4, 2.5, 2 ** 60, 5] as unknown as number[] })).toEqual([5, 1]);
    expect(recentProductIds({ recent: Array.from({ length: 20 }, (_, i) => i + 1) })).toEqual([20, 19, 18, 17, 16, 15, 14, 13]);
  });

  it('records a view as one patch: append, trim from the end, count', () => {
    expect(viewPatch(4)).toEqual([
      { op: 'append', path: 'recent', value: 4 },
      { op: 'remove', path: ['recent', -(RECENT_VIEWS_KEPT + 1)] },
      { op: 'increment', path: 'views' },
    ]);
  });
});
