import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache, invalidateOnWrite, PostgresL2Store, RedisL2Store, writeThrough } from '../../src/cache/index.js';
import type { L2Store } from '../../src/cache/index.js';
import { createDatabase } from '../../src/db/index.js';
import type { Database } from '../../src/db/index.js';
import { waitFor } from '../support/wait-for.js';
import { DATABASE_URL, deleteRedisKeys, dropTable, REDIS_URL } from './support/engines.js';

const suffix = randomBytes(4).toString('hex');
const table = `wp_products_${suffix}`;
const cacheTable = `wp_cache_${suffix}`;
const prefix = `test:wp:${suffix}:`;

let db: Database;
beforeAll(async () => {
  db = createDatabase({ primary: DATABASE_URL });
  await db.ready();
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, version bigint NOT NULL DEFAULT 1)`);
});

afterAll(async () => {
  await db?.close();
  await Promise.all([dropTable(table), dropTable(cacheTable)]);
  await deleteRedisKeys(prefix);
});

type Product = { id: number; name: string; version: string };

/** A database write that commits, then waits for `gate` before handing its result to the cache. */
function renameAfter(id: number, name: string, gate: Promise<void>) {
  return async () => {
    const { rows } = await db.query<Product>(`UPDATE ${table} SET name = $2, version = version + 1 WHERE id = $1 RETURNING id, name, version::text`, [id, name]);
    await gate;
    return { value: rows[0]!, version: BigInt(rows[0]!.version) };
  };
}

const stores: [string, () => L2Store][] = [
  ['redis', () => new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix })],
  ['postgres', () => new PostgresL2Store({ connectionString: DATABASE_URL, table: cacheTable, cleanupIntervalMs: 0 })],
];

describe.each(stores)('write-through on %s', (name, makeStore) => {
  let l2: L2Store;
  let cache: Cache;
  beforeAll(() => {
    l2 = makeStore();
    // Generous: these tests are about versions and order, not the L2 timeout (which has its own tests).
    cache = new Cache({ l2, l2TimeoutMs: 5_000 });
  });
  afterAll(async () => {
    await cache.close();
    await l2.close();
  });

  it('of two racing writers, the one with the older row version cannot overwrite the newer value when it finishes last', async () => {
    const id = name === 'redis' ? 1 : 2;
    await db.query(`INSERT INTO ${table} (id, name) VALUES ($1, 'first')`, [id]);
    const key = `product:${id}`;
    let release!: () => void;
    const slow = new Promise<void>((resolve) => { release = resolve; });
    // The slow writer commits first (version 2) and reaches the cache last.
    const older = writeThrough(cache, key, renameAfter(id, 'older', slow));
    await waitFor('the slow writer to commit', async () => (await db.query(`SELECT version FROM ${table} WHERE id = $1`, [id], { consistency: 'primary' })).rows[0]?.version === '2');
    const newer = await writeThrough(cache, key, renameAfter(id, 'newer', Promise.resolve()));
    release();
    const late = await older;
    expect(newer.stored).toBe(true);
    expect(late.stored).toBe(false);
    expect((await cache.getOrSet<Product>(key, () => { throw new Error('not cached'); })).name).toBe('newer');
    // An entry deleted in between does not let the older version back in either.
    await cache.delete(key);
    expect(await cache.setVersioned(key, late.value, BigInt(late.value.version))).toBe(false);
    expect(await cache.setVersioned(key, { ...newer.value, name: 'newest' }, BigInt(newer.value.version) + 1n)).toBe(true);
  });

  it('of many concurrent versioned sets in shuffled order, the highest version stays', async () => {
    const key = `race:${name}`;
    const versions = Array.from({ length: 30 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    await Promise.all(versions.map((v) => cache.setVersioned(key, { v }, v)));
    const reader = new Cache({ l2, l1: false, l2TimeoutMs: 5_000 });
    expect(await reader.getOrSet(key, () => ({ v: -1 }))).toEqual({ v: 30 });
    await reader.close();
  });
});

describe('invalidate-on-write', () => {
  it('drops the tag once the write has committed, and nothing when it throws', async () => {
    const l2 = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
    const cache = new Cache({ l2, l2TimeoutMs: 5_000 });
    await db.query(`INSERT INTO ${table} (id, name) VALUES (3, 'plain')`);
    const load = async () => (await db.query<Product>(`SELECT name FROM ${table} WHERE id = 3`, [], { consistency: 'primary' })).rows[0]!.name;
    const read = () => cache.getOrSet('page:3', load, { tags: ['product:3'] });
    expect(await read()).toBe('plain');
    await expect(invalidateOnWrite(cache, async () => { throw new Error('constraint'); }, { tags: ['product:3'] })).rejects.toThrow('constraint');
    await invalidateOnWrite(cache, () => db.query(`UPDATE ${table} SET name = 'changed' WHERE id = 3`), { tags: ['product:3'] });
    expect(await read()).toBe('changed');
    await cache.close();
    await l2.close();
  });
});

describe('versioned sets without an atomic compare in L2', () => {
  it('refuse with SCALEOUT_CACHE_UNSUPPORTED instead of racing', async () => {
    const plain: L2Store = {
      name: 'plain', getMany: async (keys) => keys.map(() => undefined), set: async () => undefined,
      add: async () => true, delete: async () => undefined, close: async () => undefined,
    };
    const cache = new Cache({ l2: plain });
    await expect(cache.setVersioned('k', 1, 1)).rejects.toMatchObject({ code: 'SCALEOUT_CACHE_UNSUPPORTED' });
    await expect(writeThrough(cache, 'k', async () => ({ value: 1, version: 1 }))).resolves.toEqual({ value: 1, stored: false });
    await cache.close();
  });
});
