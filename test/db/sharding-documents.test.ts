import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDocumentStore, createGroupLoader, createLoader, DocumentExistsError, DocumentNotFoundError, DocumentPatchError,
  DocumentVersionConflictError, documentTableSql, tableLoader,
} from '../../src/db/documents/index.js';
import {
  createShardedDatabase, fromPool, type ShardedDatabase, type ShardQueryable as Queryable,
} from '../../src/db/sharding/index.js';
import { createScratchDatabases, type ScratchDatabases } from './sharding-support.js';

let dbs: ScratchDatabases;
let plain: Queryable & { queries: string[] };
let sharded: ShardedDatabase;
const shardQueries: string[] = [];

/** A pool that records every statement, to count round trips. */
function counting(q: Queryable, log: string[]): Queryable {
  return { query: (text, params) => { log.push(text); return q.query(text, params); } };
}

beforeAll(async () => {
  dbs = await createScratchDatabases(['plain', 'dir', 's1', 's2']);
  const log: string[] = [];
  plain = Object.assign(counting(fromPool(dbs.pool('plain')), log), { queries: log });
  await plain.query(documentTableSql('carts'));
  await plain.query(`CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL, total int NOT NULL)`);
  await plain.query(`INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 50) g;
    INSERT INTO orders SELECT g, g % 10 + 1, g FROM generate_series(1, 40) g`);
  for (const s of ['s1', 's2']) {
    const p = dbs.pool(s, 1);
    await p.query(documentTableSql('profiles', 'int'));
    await p.end();
  }
  const wrap = (name: string) => {
    const backend = fromPool(dbs.pool(name));
    return { ...backend, query: counting(backend, shardQueries).query };
  };
  sharded = await createShardedDatabase({
    shards: { s1: wrap('s1'), s2: wrap('s2') },
    directory: fromPool(dbs.pool('dir')),
    tables: { profiles: { shardKey: 'id' } },
    buckets: 32,
    refreshIntervalMs: 0,
  });
});

afterAll(async () => {
  await sharded?.close();
  await dbs?.drop();
});

describe('document store', () => {
  it('keeps every one of many concurrent patches to different paths, and every increment', async () => {
    const carts = createDocumentStore({ db: plain, table: 'carts' });
    await carts.create('c1', { items: {}, count: 0 });
    const patches = Array.from({ length: 30 }, (_, i) =>
      carts.patch('c1', [{ op: 'set', path: ['items', `sku${i}`], value: { qty: i } }, { op: 'increment', path: 'count' }]));
    await Promise.all(patches);
    const got = await carts.get('c1');
    expect(got?.version).toBe(31);
    expect(got?.doc.count).toBe(30);
    expect(Object.keys(got?.doc.items as object)).toHaveLength(30);
    expect((got?.doc.items as Record<string, { qty: number }>).sku7).toEqual({ qty: 7 });
  });

  it('sets deep paths, removes, appends and merges in one atomic patch', async () => {
    const carts = createDocumentStore({ db: plain, table: 'carts' });
    await carts.create('c2', { keep: true, drop: 1, n: 'x' });
    const res = await carts.patch('c2', [
      { op: 'set', path: 'a.b.c', value: [1, 2] },
      { op: 'append', path: 'a.b.c', value: 3 },
      { op: 'append', path: 'log', value: { at: 1 } },
      { op: 'remove', path: 'drop' },
      { op: 'remove', path: 'not.there' },
      { op: 'merge', value: { merged: 'yes' } },
      { op: 'merge', path: 'a', value: { z: null } },
      { op: 'increment', path: 'stats.views', by: 2.5 },
    ]);
    expect(res.doc).toEqual({ keep: true, n: 'x', a: { b: { c: [1, 2, 3] }, z: null }, log: [{ at: 1 }], merged: 'yes', stats: { views: 2.5 } });
    expect(res.version).toBe(2);
  });

  it('does compare-and-set with expectedVersion, and names what is wrong', async () => {
    const carts = createDocumentStore({ db: plain, table: 'carts' });
    const created = await carts.create('c3', { v: 1 });
    await expect(carts.create('c3', { v: 2 })).rejects.toBeInstanceOf(DocumentExistsError);
    const next = await carts.put('c3', { v: 2 }, { expectedVersion: created.version });
    expect(next.version).toBe(2);
    const stale = carts.patch('c3', [{ op: 'set', path: 'v', value: 3 }], { expectedVersion: created.version });
    await expect(stale).rejects.toBeInstanceOf(DocumentVersionConflictError);
    await expect(stale).rejects.toMatchObject({ actualVersion: 2, expectedVersion: 1 });
    await expect(carts.patch('nope', [{ op: 'set', path: 'v', value: 1 }])).rejects.toBeInstanceOf(DocumentNotFoundError);
    await expect(carts.patch('c3', [{ op: 'set', path: '', value: 1 }])).rejects.toBeInstanceOf(DocumentPatchError);
    await expect(carts.delete('c3', { expectedVersion: 1 })).rejects.toBeInstanceOf(DocumentVersionConflictError);
    expect(await carts.delete('c3', { expectedVersion: 2 })).toBe(true);
    expect(await carts.get('c3')).toBeUndefined();
    expect((await carts.put('c3', { v: 9 })).version).toBe(1);
  });

  it('routes documents of a sharded table by key', async () => {
    const profiles = createDocumentStore<{ name: string; visits?: number }>({ db: sharded, table: 'profiles' });
    for (let id = 1; id <= 20; id++) await profiles.create(id, { name: `p${id}` });
    await Promise.all(Array.from({ length: 20 }, (_, i) => profiles.patch(i + 1, [{ op: 'increment', path: 'visits' }])));
    for (const s of ['s1', 's2']) {
      const rows = (await sharded.shard(s).query<{ id: number }>('SELECT id FROM profiles')).rows;
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) expect(sharded.shardFor(r.id)).toBe(s);
    }
    expect((await profiles.get(7))?.doc).toEqual({ name: 'p7', visits: 1 });
  });
});

describe('batch loaders', () => {
  it('loads many keys in one query, in the order asked, with undefined for missing keys', async () => {
    const users = tableLoader<{ id: number; name: string }>(plain, { table: 'users' });
    const before = plain.queries.length;
    const keys = [5, 3, 999, '7', 3n, 1];
    const rows = await Promise.all(keys.map((k) => users.load(k)));
    expect(plain.queries.length - before).toBe(1);
    expect(rows.map((r) => r?.name)).toEqual(['user 5', 'user 3', undefined, 'user 7', 'user 3', 'user 1']);
    expect(rows[0]).toEqual({ id: 5, name: 'user 5' });
  });

  it('joins one-to-many in application code with one query per batch', async () => {
    const ordersOf = tableLoader<{ id: number; total: number }>(plain, { table: 'orders', keyColumn: 'user_id', many: true, columns: ['id', 'total'] });
    const before = plain.queries.length;
    const [u1, u2, none] = await Promise.all([ordersOf.load(1), ordersOf.load(2), ordersOf.load(49)]);
    expect(plain.queries.length - before).toBe(1);
    expect(u1!.map((o) => o.id).sort((a, b) => a - b)).toEqual([10, 20, 30, 40]);
    expect(u2!.map((o) => o.id).sort((a, b) => a - b)).toEqual([1, 11, 21, 31]);
    expect(u1![0]).not.toHaveProperty('user_id');
    expect(none).toEqual([]);
  });

  it('asks each shard once per batch, only for the keys it owns', async () => {
    const profiles = tableLoader<{ id: number; doc: { name: string } }>(sharded, { table: 'profiles', columns: ['id', 'doc'] });
    shardQueries.length = 0;
    const ids = [9, 2, 14, 5, 404, 11, 1];
    const rows = await Promise.all(ids.map((id) => profiles.load(id)));
    expect(rows.map((r) => r?.doc.name)).toEqual(['p9', 'p2', 'p14', 'p5', undefined, 'p11', 'p1']);
    const owners = new Set(ids.map((id) => sharded.shardFor(id)));
    expect(shardQueries).toHaveLength(owners.size);
  });

  it('wraps any fetch function, keeping key order and batching per tick', async () => {
    let calls = 0;
    const squares = createLoader(async (keys: number[]) => {
      calls++;
      return keys.filter((k) => k % 2 === 0).map((k) => ({ k, sq: k * k })).reverse();
    }, (v) => v.k);
    const got = await Promise.all([4, 1, 2, 6].map((k) => squares.load(k)));
    expect(got.map((v) => v?.sq)).toEqual([16, undefined, 4, 36]);
    expect(calls).toBe(1);
    const groups = createGroupLoader(async (keys: string[]) => keys.flatMap((k) => [`${k}1`, `${k}2`]), (v) => v[0]!);
    expect(await groups.load('a')).toEqual(['a1', 'a2']);
  });
});
