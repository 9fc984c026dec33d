import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache, RedisL2Store, WriteBehind, WriteBehindFlusher } from '../../src/cache/index.js';
import { createDatabase } from '../../src/db/index.js';
import type { Database } from '../../src/db/index.js';
import { waitFor } from '../support/wait-for.js';
import { DurableRedis } from './support/durable-redis.js';
import { IpcChild } from './support/ipc-child.js';
import { DATABASE_URL, deleteRedisKeys, dropTable, REDIS_URL } from './support/engines.js';

const FLUSHER = fileURLToPath(new URL('./support/flusher-process.ts', import.meta.url));
const WRITER = fileURLToPath(new URL('./support/writer-process.ts', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const table = `wb_items_${suffix}`;
const offsets = `wb_offsets_${suffix}`;
const prefix = `test:wb:${suffix}:`;

let redis: DurableRedis;
let db: Database;
let l2: RedisL2Store;
let cache: Cache;

type Seqs = { seqs: number[] };

beforeAll(async () => {
  redis = await DurableRedis.start();
  db = createDatabase({ primary: DATABASE_URL });
  await db.ready();
  await db.query(`CREATE TABLE ${table} (key text PRIMARY KEY, seqs int[] NOT NULL)`);
  l2 = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
  cache = new Cache({ l2 });
}, 30_000);

afterAll(async () => {
  await cache?.close();
  await l2?.close();
  await db?.close();
  await Promise.all([dropTable(table), dropTable(offsets)]);
  await deleteRedisKeys(prefix);
  await redis?.destroy();
});

async function seqsByKey(keys: string[]): Promise<Map<string, number[]>> {
  const { rows } = await db.query<{ key: string; seqs: number[] }>(`SELECT key, seqs FROM ${table} WHERE key = ANY($1)`, [keys], { consistency: 'primary' });
  return new Map(rows.map((r) => [r.key, r.seqs]));
}

async function appliedCount(keys: string[]): Promise<number> {
  let n = 0;
  for (const seqs of (await seqsByKey(keys)).values()) n += seqs.length;
  return n;
}

function startFlusher(stream: string): IpcChild {
  return new IpcChild(FLUSHER, [redis.url, DATABASE_URL, stream, table, offsets]);
}

describe('write-behind', () => {
  it('applies every acknowledged write exactly once and in order per key while the flusher is SIGKILLed mid-batch', async () => {
    const stream = `wb:${suffix}:kill`;
    const keys = ['a', 'b', 'c', 'd'].map((k) => `${suffix}:kill:${k}`);
    const perKey = 150;
    const log = new WriteBehind({ stream, url: redis.url, cache, cacheOptions: { ttlMs: 600_000 } });
    const acked = new Map(keys.map((k) => [k, [] as number[]]));
    let flusher = startFlusher(stream);
    await flusher.ready;
    const writing = Promise.all(keys.map(async (key) => {
      for (let seq = 1; seq <= perKey; seq++) {
        await log.write(key, { seqs: [seq] });
        acked.get(key)!.push(seq);
      }
    }));
    let kills = 0;
    for (let round = 0; round < 4; round++) {
      const before = await appliedCount(keys);
      // Batches commit every few tens of milliseconds: a kill right after progress lands inside the next one.
      await waitFor('the flusher to make progress', async () => (await appliedCount(keys)) > before, { timeoutMs: 20_000, intervalMs: 5 });
      flusher.kill('SIGKILL');
      await flusher.exited;
      kills++;
      flusher = startFlusher(stream);
      await flusher.ready;
    }
    await writing;
    const total = keys.length * perKey;
    await waitFor('the flusher to drain the log', async () => (await log.pending()) === 0 && (await appliedCount(keys)) === total, { timeoutMs: 30_000 });
    const applied = await seqsByKey(keys);
    for (const key of keys) expect(applied.get(key)).toEqual(acked.get(key));
    expect(kills).toBe(4);
    // The cache held each key's newest value all along.
    for (const key of keys) expect(await cache.getOrSet(key, () => 'missing')).toEqual({ seqs: [perKey] });
    await flusher.stop();
    await log.close();
  }, 120_000);

  it('loses no acknowledged write when the app instance is SIGKILLed mid-write', async () => {
    const stream = `wb:${suffix}:app`;
    const key = `${suffix}:app:x`;
    const writer = new IpcChild(WRITER, [redis.url, stream, key]);
    await writer.ready;
    await waitFor('some acknowledged writes', () => writer.notes.length >= 200, { timeoutMs: 20_000 });
    writer.kill('SIGKILL');
    await writer.exited;
    const acked = writer.notes.length;
    const flusher = startFlusher(stream);
    await flusher.ready;
    const log = new WriteBehind({ stream, url: redis.url });
    await waitFor('the log applied', async () => (await log.pending()) === 0 && ((await seqsByKey([key])).get(key)?.length ?? 0) >= acked, { timeoutMs: 30_000 });
    const applied = (await seqsByKey([key])).get(key)!;
    // Every acknowledged write, in order; at most the one in flight at the kill besides (logged, its answer lost).
    expect(applied.slice(0, acked)).toEqual(Array.from({ length: acked }, (_, i) => i + 1));
    expect(applied.length - acked).toBeLessThanOrEqual(1);
    await flusher.stop();
    await log.close();
  }, 60_000);

  it('loses no acknowledged write when the Redis process is SIGKILLed (the AOF is in the page cache)', async () => {
    const stream = `wb:${suffix}:redis`;
    const key = `${suffix}:redis:x`;
    const log = new WriteBehind({ stream, url: redis.url });
    for (let seq = 1; seq <= 200; seq++) await log.write(key, { seqs: [seq] });
    await log.close();
    await redis.kill();
    await redis.restart();
    const check = new Redis(redis.url);
    expect(await check.xlen(stream)).toBe(200);
    await check.quit();
    const flusher = startFlusher(stream);
    await flusher.ready;
    await waitFor('the log applied', async () => (await seqsByKey([key])).get(key)?.length === 200, { timeoutMs: 30_000 });
    expect((await seqsByKey([key])).get(key)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    await flusher.stop();
  }, 60_000);

  it('skips a batch read again after a crash between its commit and its removal from the log, and coalesces writes to one key', async () => {
    const stream = `wb:${suffix}:again`;
    const key = `${suffix}:again:x`;
    const log = new WriteBehind({ stream, url: redis.url });
    for (let seq = 1; seq <= 5; seq++) await log.write(key, { seqs: [seq] });
    const client = new Redis(redis.url);
    const applies: number[][] = [];
    const flusher = new WriteBehindFlusher<Seqs>({
      stream, client, db, offsetsTable: offsets,
      coalesce: (values) => ({ seqs: values.flatMap((v) => v.seqs) }),
      apply: async (tx, k, value) => {
        applies.push(value.seqs);
        await tx.query(`INSERT INTO ${table} (key, seqs) VALUES ($1, $2::int[]) ON CONFLICT (key) DO UPDATE SET seqs = ${table}.seqs || EXCLUDED.seqs`, [k, value.seqs]);
      },
    });
    const xdel = client.xdel.bind(client);
    (client as unknown as { xdel: () => Promise<number> }).xdel = () => Promise.reject(new Error('died after the commit'));
    await expect(flusher.flushOnce()).rejects.toThrow('died after the commit');
    (client as unknown as { xdel: typeof xdel }).xdel = xdel;
    expect(await flusher.flushOnce()).toBe(5);
    expect(applies).toEqual([[1, 2, 3, 4, 5]]);
    expect(flusher.stats()).toMatchObject({ applied: 5, skipped: 5, batches: 2 });
    expect((await seqsByKey([key])).get(key)).toEqual([1, 2, 3, 4, 5]);
    expect(await log.pending()).toBe(0);
    await flusher.close();
    await client.quit();
    await log.close();
  });

  it('does not acknowledge a write the log did not take', async () => {
    const log = new WriteBehind({ stream: `wb:${suffix}:down`, url: 'redis://127.0.0.1:1' });
    await expect(log.write('k', { seqs: [1] })).rejects.toMatchObject({ code: 'SCALEOUT_CACHE_WRITE_BEHIND_UNAVAILABLE', retriable: true });
    await log.close();
  });

  it('hands a whole batch to applyBatch, one coalesced write per key in log order', async () => {
    const stream = `wb:${suffix}:batch`;
    const [x, y] = [`${suffix}:batch:x`, `${suffix}:batch:y`];
    const log = new WriteBehind({ stream, url: redis.url });
    for (const [key, seq] of [[x, 1], [y, 2], [x, 3], [y, 4], [x, 5]] as const) await log.write(key, { seqs: [seq] });
    const client = new Redis(redis.url);
    const batches: { key: string; value: Seqs; ids: readonly string[] }[][] = [];
    const flusher = new WriteBehindFlusher<Seqs>({
      stream, client, db, offsetsTable: offsets,
      coalesce: (values) => ({ seqs: values.flatMap((v) => v.seqs) }),
      applyBatch: async (tx, writes) => {
        batches.push([...writes]);
        for (const w of writes) await tx.query(`INSERT INTO ${table} (key, seqs) VALUES ($1, $2::int[])`, [w.key, w.value.seqs]);
      },
    });
    expect(await flusher.flushOnce()).toBe(5);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((w) => [w.key, w.value.seqs, w.ids.length])).toEqual([[x, [1, 3, 5], 3], [y, [2, 4], 2]]);
    expect(() => new WriteBehindFlusher({ stream, client, db })).toThrow(/apply/);
    await flusher.close();
    await client.quit();
    await log.close();
  });
});
