import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  bucketOf, createShardedDatabase, fromPool, murmur3Text, ShardKeyChangedError, ShardKeyError, ShardQueryError,
  type ShardedDatabase,
} from '../../src/db/sharding/index.js';
import { createScratchDatabases, seededRandom, type ScratchDatabases } from './sharding-support.js';

const BUCKETS = 64;
const TABLE_SQL = `CREATE TABLE orders (
  id text PRIMARY KEY, user_id int NOT NULL, amount int, price numeric(12, 2), score float8,
  name text, big bigint, created_at timestamptz NOT NULL)`;
const COLUMNS = ['id', 'user_id', 'amount', 'price', 'score', 'name', 'big', 'created_at'];

let dbs: ScratchDatabases;
let db: ShardedDatabase;
let all: pg.Pool;

function randomRow(rand: () => number, i: number): unknown[] {
  const maybe = <T>(v: T): T | null => (rand() < 0.15 ? null : v);
  const names = ['alice', 'Bob', 'émile', 'zoë', 'a', 'b', '', 'x\u{1F600}', 'Zed', 'bob'];
  return [
    `o${i}`,
    Math.floor(rand() * 500),
    maybe(Math.floor(rand() * 20) - 10),
    maybe((Math.floor(rand() * 200000) / 100 - 500).toFixed(2)),
    maybe(rand() < 0.05 ? Number.NaN : rand() * 1e6 - 5e5),
    maybe(names[Math.floor(rand() * names.length)]!),
    maybe(String(BigInt(Math.floor(rand() * 2 ** 52)) * 1000n - 2n ** 60n)),
    new Date(1_700_000_000_000 + Math.floor(rand() * 1e9)),
  ];
}

beforeAll(async () => {
  dbs = await createScratchDatabases(['dir', 's1', 's2', 'all']);
  for (const name of ['s1', 's2', 'all']) {
    const p = dbs.pool(name, 2);
    await p.query(TABLE_SQL);
    await p.end();
  }
  all = dbs.pool('all', 4);
  db = await createShardedDatabase({
    shards: { s1: fromPool(dbs.pool('s1')), s2: fromPool(dbs.pool('s2')) },
    directory: fromPool(dbs.pool('dir')),
    tables: { orders: { shardKey: 'user_id' } },
    buckets: BUCKETS,
    refreshIntervalMs: 0,
  });
  const rand = seededRandom(20240601);
  const insert = `INSERT INTO orders (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;
  for (let i = 0; i < 600; i++) {
    const row = randomRow(rand, i);
    await db.forKey(row[1] as number).query(insert, row);
    await all.query(insert, row);
  }
});

afterAll(async () => {
  await db?.close();
  await dbs?.drop();
});

describe('sharded routing', () => {
  it('computes the same bucket in PostgreSQL as in the router', async () => {
    const rand = seededRandom(7);
    const alphabet = ['a', 'Z', '0', '-', 'é', '中', '\u{1F600}', ' ', '\u00ff', '\u0800'];
    const keys = ['', 'hello', '42', '-1', '00000000-0000-4000-8000-000000000000'];
    for (let i = 0; i < 300; i++) {
      let k = '';
      const len = Math.floor(rand() * 12);
      for (let j = 0; j < len; j++) k += alphabet[Math.floor(rand() * alphabet.length)]!;
      keys.push(k);
    }
    const s1 = db.shard('s1');
    const res = await s1.query<{ h: string; b: number }>(
      'SELECT scaleout_murmur3_32(k)::text AS h, scaleout_bucket(k, $2) AS b FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n',
      [keys, BUCKETS]);
    expect(res.rows.map((r) => Number(r.h))).toEqual(keys.map((k) => murmur3Text(k)));
    expect(res.rows.map((r) => r.b)).toEqual(keys.map((k) => bucketOf(k, BUCKETS)));
  });

  it('spreads keys over both shards by the directory, each row in a bucket its shard owns', async () => {
    for (const shard of ['s1', 's2']) {
      const rows = (await db.shard(shard).query<{ user_id: number; bucket: number }>('SELECT user_id, bucket FROM orders')).rows;
      expect(rows.length).toBeGreaterThan(100);
      const owned = new Set(db.bucketsOf(shard));
      for (const r of rows) {
        expect(r.bucket).toBe(db.bucketFor(r.user_id));
        expect(owned.has(r.bucket)).toBe(true);
      }
    }
  });

  it('sends the same key to the same shard, every time and from every router', async () => {
    const second = await createShardedDatabase({
      shards: { s1: fromPool(dbs.pool('s1', 2)), s2: fromPool(dbs.pool('s2', 2)) },
      directory: fromPool(dbs.pool('dir', 2)),
      tables: { orders: { shardKey: 'user_id' } },
      refreshIntervalMs: 0,
    });
    try {
      expect(second.buckets).toBe(BUCKETS);
      for (let k = 0; k < 500; k++) {
        expect(db.shardFor(k)).toBe(db.shardFor(k));
        expect(second.shardFor(k)).toBe(db.shardFor(k));
        expect(db.forKey(String(k)).shard).toBe(db.shardFor(k));
      }
      const { rows } = await second.forKey(7).query('SELECT count(*)::int AS n FROM orders WHERE user_id = 7');
      const expected = await all.query('SELECT count(*)::int AS n FROM orders WHERE user_id = 7');
      expect(rows[0]).toEqual(expected.rows[0]);
    } finally {
      await second.close();
    }
  });

  it('scatter-gathers ORDER BY + LIMIT exactly as one database holding every row would', async () => {
    const rand = seededRandom(99);
    const orderable = ['amount', 'price', 'score', 'name', 'big', 'created_at', 'user_id'];
    for (let run = 0; run < 40; run++) {
      const terms: string[] = [];
      for (const col of orderable) {
        if (rand() < 0.35) {
          const dir = rand() < 0.5 ? 'asc' : 'desc';
          const nulls = rand() < 0.3 ? (rand() < 0.5 ? ' nulls first' : ' nulls last') : '';
          terms.push(`${col} ${dir}${nulls}`);
        }
      }
      terms.sort(() => rand() - 0.5);
      terms.push(rand() < 0.5 ? 'id asc' : 'id desc');
      const limit = 1 + Math.floor(rand() * 80);
      const offset = rand() < 0.3 ? Math.floor(rand() * 20) : 0;
      const minAmount = Math.floor(rand() * 10) - 10;
      const sqlOrder = terms.map((t) => (t.startsWith('name ') ? t.replace('name', 'name COLLATE "C"') : t)).join(', ');
      const where = 'WHERE amount IS NULL OR amount >= $1';
      const sharded = await db.queryAll(`SELECT * FROM orders ${where} ORDER BY ${sqlOrder} LIMIT ${limit + offset}`,
        [minAmount], { orderBy: terms.join(', '), limit, offset });
      const single = await all.query(`SELECT * FROM orders ${where} ORDER BY ${sqlOrder} LIMIT ${limit} OFFSET ${offset}`,
        [minAmount]);
      const strip = (r: Record<string, unknown>) => COLUMNS.map((c) => r[c]);
      expect(sharded.map(strip), `ORDER BY ${sqlOrder} LIMIT ${limit} OFFSET ${offset}`).toEqual(single.rows.map(strip));
    }
  });

  it('passes each shard its owned buckets, and supports a custom merge', async () => {
    const counts = await db.queryAll('SELECT count(*)::int AS n FROM orders WHERE bucket = ANY($1)', [],
      { ownedBuckets: true, merge: (results) => [{ n: results.reduce((sum, r) => sum + Number(r.rows[0]?.n), 0) }] });
    expect(counts).toEqual([{ n: 600 }]);
  });

  it('reports the failing shard of a scatter-gather, and refuses bad keys and shard key changes', async () => {
    await expect(db.queryAll('SELECT * FROM no_such_table')).rejects.toBeInstanceOf(ShardQueryError);
    expect(() => db.forKey(1.5)).toThrow(ShardKeyError);
    expect(() => db.forKey(undefined as unknown as string)).toThrow(ShardKeyError);
    const row = (await all.query('SELECT id, user_id FROM orders LIMIT 1')).rows[0] as { id: string; user_id: number };
    let other = row.user_id + 1;
    while (db.bucketFor(other) === db.bucketFor(row.user_id)) other++;
    await expect(db.forKey(row.user_id).query('UPDATE orders SET user_id = $2 WHERE id = $1', [row.id, other]))
      .rejects.toBeInstanceOf(ShardKeyChangedError);
  });
});
