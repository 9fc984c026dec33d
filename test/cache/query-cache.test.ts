import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache, RedisBus, RedisL2Store } from '../../src/cache/index.js';
import type { CachedQueryResult } from '../../src/cache/index.js';
import { createDatabase } from '../../src/db/index.js';
import type { Database } from '../../src/db/index.js';
import { waitFor } from '../support/wait-for.js';
import { IpcChild } from './support/ipc-child.js';
import { DATABASE_URL, deleteRedisKeys, dropTable, REDIS_URL } from './support/engines.js';

const CHILD = fileURLToPath(new URL('./support/query-process.ts', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const prefix = `test:qcache:${suffix}:`;
const channel = `qcache_${suffix}`;
const products = `qc_products_${suffix}`;
const categories = `qc_categories_${suffix}`;

let db: Database;
let bus: RedisBus;
let l2: RedisL2Store;
let cache: Cache;
let other: IpcChild;

type Row = { name: string };
const names = (r: CachedQueryResult<Row>) => r.rows.map((x) => x.name);

beforeAll(async () => {
  db = createDatabase({ primary: DATABASE_URL });
  await db.ready();
  await db.query(`CREATE TABLE ${categories} (id int PRIMARY KEY, name text NOT NULL)`);
  await db.query(`CREATE TABLE ${products} (id int PRIMARY KEY, name text NOT NULL, category_id int NOT NULL)`);
  await db.query(`INSERT INTO ${categories} VALUES (1, 'books')`);
  await db.query(`INSERT INTO ${products} VALUES (1, 'atlas', 1), (2, 'bible', 1)`);
  bus = new RedisBus({ url: REDIS_URL });
  l2 = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
  // L1 entries are not re-checked against L2 for a minute: only the bus and the table versions can invalidate them.
  cache = new Cache({ l2, bus, channel, l1MaxStaleMs: 60_000 });
  await cache.ready();
  other = new IpcChild(CHILD, [REDIS_URL, DATABASE_URL, prefix, channel]);
  await other.ready;
}, 30_000);

afterAll(async () => {
  await other?.stop();
  await cache?.close();
  await Promise.all([bus?.close(), l2?.close()]);
  await db?.close();
  await Promise.all([dropTable(products), dropTable(categories)]);
  await deleteRedisKeys(prefix);
});

describe('cached queries', () => {
  it('a raw UPDATE through another instance\'s database invalidates the cached query on every instance at once', async () => {
    const sql = `SELECT name FROM ${products} WHERE id = $1`;
    expect(names(await cache.query<Row>(db, sql, [1]))).toEqual(['atlas']);
    const loads = cache.stats().loads;
    // Another spelling of the same query is the same cached query.
    expect(names(await cache.query<Row>(db, `select  name\n from ${products.toUpperCase()} where id=$1 -- again`, [1]))).toEqual(['atlas']);
    expect(cache.stats().loads).toBe(loads);

    await other.call('sql', { sql: `UPDATE ${products} SET name = 'atlas 2e' WHERE id = 1` });
    // L2 knew when the write returned: an instance without this L1 copy misses at once.
    const fresh = new Cache({ l2, l1: false });
    expect(names(await fresh.query<Row>(db, sql, [1]))).toEqual(['atlas 2e']);
    await fresh.close();
    // This instance's L1 copy is dropped by the bus, long before l1MaxStaleMs.
    await waitFor('the new name here', async () => names(await cache.query<Row>(db, sql, [1]))[0] === 'atlas 2e', { timeoutMs: 2_000 });
  });

  it('the other instance sees this instance\'s write too, and a different parameter is another entry', async () => {
    const sql = `SELECT name FROM ${products} WHERE id = $1`;
    const before = (await other.call('cached', { sql, params: [2] })) as CachedQueryResult<Row>;
    expect(names(before)).toEqual(['bible']);
    await db.query(`UPDATE ${products} SET name = 'bible (kjv)' WHERE id = $1`, [2]);
    const after = (await other.call('cached', { sql, params: [2] })) as CachedQueryResult<Row>;
    expect(names(after)).toEqual(['bible (kjv)']);
  });

  it('a join is invalidated by a write to either table', async () => {
    const sql = `SELECT p.name || ' in ' || c.name AS name FROM ${products} p JOIN ${categories} c ON c.id = p.category_id WHERE p.id = $1`;
    expect(names(await cache.query<Row>(db, sql, [1]))).toEqual(['atlas 2e in books']);
    await db.query(`UPDATE ${categories} SET name = 'maps' WHERE id = 1`);
    expect(names(await cache.query<Row>(db, sql, [1]))).toEqual(['atlas 2e in maps']);
    await other.call('sql', { sql: `UPDATE ${products} SET name = 'atlas 3e' WHERE id = 1` });
    await waitFor('the join to see the product write', async () => names(await cache.query<Row>(db, sql, [1]))[0] === 'atlas 3e in maps', { timeoutMs: 2_000 });
    // A write to an unrelated table leaves it cached.
    const loads = cache.stats().loads;
    await db.query(`INSERT INTO ${categories} VALUES (99, 'unrelated') ON CONFLICT DO NOTHING`);
    await db.query(`SELECT 1`);
    expect(names(await cache.query<Row>(db, sql, [1]))).toEqual(['atlas 3e in maps']);
    expect(cache.stats().loads).toBe(loads + 1);
  });

  it('a transaction bumps at COMMIT, and a rolled-back one bumps nothing', async () => {
    const sql = `SELECT count(*)::int AS n FROM ${products}`;
    const count = async () => (await cache.query<{ n: number }>(db, sql)).rows[0]!.n;
    expect(await count()).toBe(2);
    const invalidations = cache.stats().tableInvalidations;

    await expect(db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${products} VALUES (3, 'codex', 1)`);
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    const loads = cache.stats().loads;
    expect(await count()).toBe(2);
    expect(cache.stats().loads).toBe(loads);
    expect(cache.stats().tableInvalidations).toBe(invalidations);

    await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${products} VALUES (3, 'codex', 1)`);
      // Not committed yet: the cached count stands (and is still right).
      expect(await count()).toBe(2);
    });
    expect(await count()).toBe(3);
    expect(cache.stats().tableInvalidations).toBe(invalidations + 1);
  });

  it('TRUNCATE and a write it cannot place (a function) invalidate too', async () => {
    const sql = `SELECT name FROM ${categories} WHERE id = 99`;
    expect(names(await cache.query<Row>(db, sql))).toEqual(['unrelated']);
    await db.query(`CREATE OR REPLACE FUNCTION qc_rename_${suffix}() RETURNS void LANGUAGE sql AS $$ UPDATE ${categories} SET name = 'renamed' WHERE id = 99 $$`);
    await db.query(`SELECT qc_rename_${suffix}()`);
    expect(names(await cache.query<Row>(db, sql))).toEqual(['renamed']);
    await db.query(`DROP FUNCTION qc_rename_${suffix}()`);
    await db.query(`TRUNCATE ${categories} CASCADE`);
    expect(names(await cache.query<Row>(db, sql))).toEqual([]);
  });

  it('runs a volatile or unparsable query uncached, and counts it', async () => {
    const before = cache.stats().queriesUncacheable;
    const now = await cache.query(db, 'SELECT now() AS t');
    expect(now).toMatchObject({ cached: false, reason: 'volatile', rowCount: 1 });
    const odd = await cache.query(db, `SELECT name FROM ${products} WHERE id = 1 FOR UPDATE`);
    expect(odd).toMatchObject({ cached: false, reason: 'not-a-read' });
    expect(cache.stats().queriesUncacheable).toBe(before + 2);
  });

  it('stops listening to a database once the cache is closed', async () => {
    const errors: unknown[] = [];
    const logged = createDatabase({ primary: DATABASE_URL, logger: { info: () => undefined, warn: () => undefined, error: (o) => { errors.push(o); } } });
    const closing = new Cache({ l2, bus, channel });
    await closing.query(logged, `SELECT name FROM ${products} WHERE id = $1`, [1]);
    await closing.close();
    await logged.query(`UPDATE ${products} SET name = name WHERE id = 1`);
    expect(errors).toEqual([]);
    await logged.close();
  });
});
