import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache, PostgresTableLog, RedisL2Store, RedisStreamLog, WriteBehind, WriteBehindFlusher } from '../../src/cache/index.js';
import { createDatabase } from '../../src/db/index.js';
import type { Database } from '../../src/db/index.js';
import { RedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { IpcChild } from './support/ipc-child.js';
import { DATABASE_URL, deleteRedisKeys, dropTable, REDIS_URL } from './support/engines.js';
import { openLog } from './support/write-behind-logs.js';
import type { LogKind } from './support/write-behind-logs.js';

const FLUSHER = fileURLToPath(new URL('./support/flusher-process.ts', import.meta.url));
const WRITER = fileURLToPath(new URL('./support/writer-process.ts', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const table = `wb_items_${suffix}`;
const offsets = `wb_offsets_${suffix}`;
const prefix = `test:wb:${suffix}:`;
const logTables: string[] = [];

let redis: RedisServer;
let db: Database;
let l2: RedisL2Store;
let cache: Cache;

type Seqs = { seqs: number[] };

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: true });
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
  await Promise.all([table, offsets, ...logTables].map((t) => dropTable(t)));
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

const appendSeqs = (tx: { query: Database['query'] }, key: string, seqs: number[]): Promise<unknown> =>
  tx.query(`INSERT INTO ${table} (key, seqs) VALUES ($1, $2::int[]) ON CONFLICT (key) DO UPDATE SET seqs = ${table}.seqs || EXCLUDED.seqs`, [key, seqs]);

// The same behaviour over both durable logs: a Redis stream (AOF on) and a PostgreSQL table.
describe.each(['redis', 'postgres'] as const)('write-behind over a %s log', (kind: LogKind) => {
  let names = 0;
  /** A fresh log name: a stream, or a table in the test database. */
  const logName = (what: string): string => {
    const name = kind === 'redis' ? `wb:${suffix}:${what}` : `wb_log_${suffix}_${what}_${names++}`;
    if (kind === 'postgres') logTables.push(name);
    return name;
  };
  const open = (name: string): ReturnType<typeof openLog> => openLog(kind, name, { redisUrl: redis.url, databaseUrl: DATABASE_URL }, offsets);
  const startFlusher = (name: string): IpcChild => new IpcChild(FLUSHER, [kind, redis.url, DATABASE_URL, name, table, offsets]);

  it('applies every acknowledged write exactly once and in order per key while the flusher is SIGKILLed mid-batch', async () => {
    const name = logName('kill');
    const keys = ['a', 'b', 'c', 'd'].map((k) => `${suffix}:${kind}:kill:${k}`);
    const perKey = 150;
    const log = new WriteBehind({ log: open(name), cache, cacheOptions: { ttlMs: 600_000 } });
    const acked = new Map(keys.map((k) => [k, [] as number[]]));
    let flusher = startFlusher(name);
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
      flusher = startFlusher(name);
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
    const name = logName('app');
    const key = `${suffix}:${kind}:app:x`;
    const writer = new IpcChild(WRITER, [kind, redis.url, DATABASE_URL, name, key]);
    await writer.ready;
    await waitFor('some acknowledged writes', () => writer.notes.length >= 200, { timeoutMs: 20_000 });
    writer.kill('SIGKILL');
    await writer.exited;
    const acked = writer.notes.length;
    const flusher = startFlusher(name);
    await flusher.ready;
    const log = new WriteBehind({ log: open(name) });
    await waitFor('the log applied', async () => (await log.pending()) === 0 && ((await seqsByKey([key])).get(key)?.length ?? 0) >= acked, { timeoutMs: 30_000 });
    const applied = (await seqsByKey([key])).get(key)!;
    // Every acknowledged write, in order; at most the one in flight at the kill besides (logged, its answer lost).
    expect(applied.slice(0, acked)).toEqual(Array.from({ length: acked }, (_, i) => i + 1));
    expect(applied.length - acked).toBeLessThanOrEqual(1);
    await flusher.stop();
    await log.close();
  }, 60_000);

  it('retries a failed batch whole: nothing of it is applied twice', async () => {
    const name = logName('retry');
    const [x, y] = [`${suffix}:${kind}:retry:x`, `${suffix}:${kind}:retry:y`];
    const log = open(name);
    const writer = new WriteBehind({ log });
    for (const [key, seq] of [[x, 1], [y, 2], [x, 3]] as const) await writer.write(key, { seqs: [seq] });
    let failures = 1;
    const flusher = new WriteBehindFlusher<Seqs>({
      log, db, coalesce: (values) => ({ seqs: values.flatMap((v) => v.seqs) }),
      apply: async (tx, key, value) => {
        await appendSeqs(tx, key, value.seqs);
        // The first key is written, then the batch fails: its transaction rolls back.
        if (failures-- > 0) throw new Error('the database went away mid-batch');
      },
    });
    await expect(flusher.flushOnce()).rejects.toThrow('mid-batch');
    expect(await seqsByKey([x, y])).toEqual(new Map());
    expect(await flusher.flushOnce()).toBe(3);
    expect(await seqsByKey([x, y])).toEqual(new Map([[x, [1, 3]], [y, [2]]]));
    expect(await writer.pending()).toBe(0);
    expect(await flusher.flushOnce()).toBe(0);
    await flusher.close();
    await writer.close();
    await log.close();
  });

  it('hands a whole batch to applyBatch, one coalesced write per key in log order', async () => {
    const name = logName('batch');
    const [x, y] = [`${suffix}:${kind}:batch:x`, `${suffix}:${kind}:batch:y`];
    const log = open(name);
    const writer = new WriteBehind({ log });
    for (const [key, seq] of [[x, 1], [y, 2], [x, 3], [y, 4], [x, 5]] as const) await writer.write(key, { seqs: [seq] });
    const batches: { key: string; value: Seqs; ids: readonly string[] }[][] = [];
    const flusher = new WriteBehindFlusher<Seqs>({
      log, db,
      coalesce: (values) => ({ seqs: values.flatMap((v) => v.seqs) }),
      applyBatch: async (tx, writes) => {
        batches.push([...writes]);
        for (const w of writes) await tx.query(`INSERT INTO ${table} (key, seqs) VALUES ($1, $2::int[])`, [w.key, w.value.seqs]);
      },
    });
    expect(await flusher.flushOnce()).toBe(5);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((w) => [w.key, w.value.seqs, w.ids.length])).toEqual([[x, [1, 3, 5], 3], [y, [2, 4], 2]]);
    expect(() => new WriteBehindFlusher({ log, db })).toThrow(/apply/);
    expect(() => new WriteBehindFlusher({ log, db, stream: 'x', apply: async () => undefined })).toThrow(/not both/);
    await flusher.close();
    await writer.close();
    await log.close();
  });

  it('does not acknowledge a write the log did not take', async () => {
    const log = kind === 'redis'
      ? new RedisStreamLog({ stream: `wb:${suffix}:down`, url: 'redis://127.0.0.1:1' })
      : new PostgresTableLog({ table: `wb_log_${suffix}_down`, connectionString: 'postgres://postgres@127.0.0.1:1/test' });
    const writer = new WriteBehind({ log });
    await expect(writer.write('k', { seqs: [1] })).rejects.toMatchObject({ code: 'SCALEOUT_CACHE_WRITE_BEHIND_UNAVAILABLE', retriable: true });
    await writer.close();
    await log.close();
  });
});

describe('write-behind over a postgres log, two instances writing one key', () => {
  it('an append waits while another transaction holds its key: ids of one key follow commit order', async () => {
    const name = `wb_log_${suffix}_keylock`;
    logTables.push(name);
    const key = `${suffix}:keylock:x`;
    const log = new PostgresTableLog({ table: name, connectionString: DATABASE_URL });
    await log.append('other', '1');
    // Another writer of the key, between its id and its commit: what the key's lock stands for.
    const holder = new pg.Client({ connectionString: DATABASE_URL });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [`scaleout_write_behind_log:${name}`, key]);
    let done = false;
    const appending = log.append(key, '2').then((r) => { done = true; return r; });
    // Another key is not held up.
    await log.append('another', '3');
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    await holder.query('COMMIT');
    const { version } = await appending;
    expect(version).toBeGreaterThan(0n);
    await holder.end();
    await log.close();
  });

  it('two writers of one key: the database ends with the value the cache holds', async () => {
    const name = `wb_log_${suffix}_race`;
    logTables.push(name);
    const key = `${suffix}:race:x`;
    const logs = [0, 1].map(() => new PostgresTableLog({ table: name, connectionString: DATABASE_URL }));
    const writers = logs.map((log) => new WriteBehind({ log, cache, cacheOptions: { ttlMs: 600_000 } }));
    await Promise.all(writers.map(async (w, i) => {
      for (let n = 0; n < 100; n++) await w.write(key, { seqs: [i * 1000 + n] });
    }));
    const flusher = new WriteBehindFlusher<Seqs>({
      log: logs[0]!, db, batchSize: 30, apply: async (tx, k, value) => { await appendSeqs(tx, k, value.seqs); },
    });
    while (await flusher.flushOnce() > 0) { /* drain */ }
    // One coalesced value per batch: the last of each; the very last is the one the cache kept.
    const applied = (await seqsByKey([key])).get(key)!;
    expect(applied.length).toBeGreaterThan(1);
    expect({ seqs: [applied[applied.length - 1]] }).toEqual(await cache.getOrSet(key, () => 'missing'));
    await flusher.close();
    await Promise.all(writers.map((w) => w.close()));
    await Promise.all(logs.map((l) => l.close()));
  });
});

describe('write-behind over a redis log', () => {
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
    const flusher = new IpcChild(FLUSHER, ['redis', redis.url, DATABASE_URL, stream, table, offsets]);
    await flusher.ready;
    await waitFor('the log applied', async () => (await seqsByKey([key])).get(key)?.length === 200, { timeoutMs: 30_000 });
    expect((await seqsByKey([key])).get(key)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    await flusher.stop();
  }, 60_000);

  it('a flusher that opens its own connection can flush at once', async () => {
    const stream = `wb:${suffix}:fresh`;
    const writer = new WriteBehind({ stream, url: redis.url });
    await writer.write(`${suffix}:fresh:x`, { seqs: [1] });
    const flusher = new WriteBehindFlusher<Seqs>({ stream, url: redis.url, db, offsetsTable: offsets, apply: async (tx, k, v) => { await appendSeqs(tx, k, v.seqs); } });
    expect(await flusher.flushOnce()).toBe(1);
    await flusher.close();
    await writer.close();
  });

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
        await appendSeqs(tx, k, value.seqs);
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
});
