import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/index.js';
import {
  createShardedDatabase, fromDatabase, fromPool, runReshard, ShardConfigError, ShardDirectoryCorruptError, ShardMetaMismatchError,
  ShardTableError, ShardUnknownError, sumMerge, type ShardedDatabaseOptions,
} from '../../src/db/sharding/index.js';
import { createScratchDatabases, type ScratchDatabases } from './sharding-support.js';

let dbs: ScratchDatabases;
const TABLES = { items: { shardKey: 'owner' } };

function options(extra: Partial<ShardedDatabaseOptions> = {}): ShardedDatabaseOptions {
  return {
    shards: { s1: fromPool(dbs.pool('s1', 2)), s2: fromPool(dbs.pool('s2', 2)) },
    directory: fromPool(dbs.pool('dir', 2)),
    tables: TABLES,
    refreshIntervalMs: 0,
    ...extra,
  };
}

async function dir(sql: string): Promise<void> {
  const p = dbs.pool('dir', 1);
  await p.query(sql);
  await p.end();
}

beforeAll(async () => {
  dbs = await createScratchDatabases(['dir', 's1', 's2']);
  for (const s of ['s1', 's2']) {
    const p = dbs.pool(s, 1);
    await p.query('CREATE TABLE items (id int PRIMARY KEY, owner text NOT NULL, v int); CREATE TABLE nopk (owner text)');
    await p.end();
  }
  // Rows that predate sharding: s1 will own every bucket, and they need their bucket back-filled.
  const legacy = dbs.pool('s1', 1);
  await legacy.query(`INSERT INTO items SELECT g, 'legacy' || g, g FROM generate_series(500, 504) g`);
  await legacy.end();
  const db = await createShardedDatabase(options({ buckets: 16, initialShards: ['s1'] }));
  const filled = await db.shard('s1').query<{ owner: string; bucket: number }>('SELECT owner, bucket FROM items');
  for (const r of filled.rows) expect(r.bucket).toBe(db.bucketFor(r.owner));
  expect(filled.rows).toHaveLength(5);
  for (let i = 0; i < 200; i++) await db.forKey(`owner${i}`).query('INSERT INTO items VALUES ($1, $2, $1)', [i, `owner${i}`]);
  await db.close();
});

afterAll(async () => {
  await dbs?.drop();
});

describe('shard directory', () => {
  it('refuses a different bucket count or hash, and a directory that does not add up', async () => {
    await expect(createShardedDatabase(options({ buckets: 32 }))).rejects.toSatisfy((e: unknown) =>
      e instanceof ShardMetaMismatchError && e.code === 'SCALEOUT_DB_SHARD_META_MISMATCH' && /buckets=16/.test(e.message));

    await dir('UPDATE scaleout_shard_meta SET buckets = 20');
    await expect(createShardedDatabase(options())).rejects.toBeInstanceOf(ShardDirectoryCorruptError);
    await expect(createShardedDatabase(options({ buckets: 16 }))).rejects.toBeInstanceOf(ShardMetaMismatchError);
    await dir('UPDATE scaleout_shard_meta SET buckets = -3');
    await expect(createShardedDatabase(options())).rejects.toBeInstanceOf(ShardDirectoryCorruptError);
    await dir("UPDATE scaleout_shard_meta SET buckets = 16, hash = 'fnv1a'");
    await expect(createShardedDatabase(options())).rejects.toSatisfy((e: unknown) =>
      e instanceof ShardMetaMismatchError && /hash=fnv1a/.test(e.message));
    await dir("UPDATE scaleout_shard_meta SET hash = 'murmur3_32-utf8-v1'");

    await dir("UPDATE scaleout_shard_directory SET shard = 's9' WHERE bucket = 3");
    await expect(createShardedDatabase(options())).rejects.toBeInstanceOf(ShardUnknownError);
    await dir("UPDATE scaleout_shard_directory SET shard = 's1' WHERE bucket = 3");
    await dir('DELETE FROM scaleout_shard_directory WHERE bucket = 5');
    await expect(createShardedDatabase(options())).rejects.toSatisfy((e: unknown) =>
      e instanceof ShardDirectoryCorruptError && e.code === 'SCALEOUT_DB_SHARD_DIRECTORY_CORRUPT');
    await dir("INSERT INTO scaleout_shard_directory (bucket, shard) VALUES (5, 's1')");

    const db = await createShardedDatabase(options());
    expect(db.buckets).toBe(16);
    await db.close();
  });

  it('keeps routing on its last good directory when the stored one turns corrupt', async () => {
    const errors: unknown[] = [];
    const db = await createShardedDatabase(options({ refreshIntervalMs: 10, onRefreshError: (e) => errors.push(e) }));
    try {
      await dir('DELETE FROM scaleout_shard_directory WHERE bucket = 7; UPDATE scaleout_shard_meta SET version = version + 1');
      const deadline = Date.now() + 10_000;
      while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(errors[0]).toBeInstanceOf(ShardDirectoryCorruptError);
      const { rows } = await db.forKey('owner1').query('SELECT v FROM items WHERE owner = $1', ['owner1']);
      expect(rows).toEqual([{ v: 1 }]);
    } finally {
      await dir("INSERT INTO scaleout_shard_directory (bucket, shard) VALUES (7, 's1')");
      await db.close();
    }
  });

  it('refuses bad options and tables it cannot guard', async () => {
    await expect(createShardedDatabase(options({ shards: {} }))).rejects.toBeInstanceOf(ShardConfigError);
    await expect(createShardedDatabase(options({ tables: { 'items; drop': { shardKey: 'owner' } } }))).rejects.toBeInstanceOf(ShardConfigError);
    await expect(createShardedDatabase(options({ tables: { items: { shardKey: 'bucket' } } }))).rejects.toBeInstanceOf(ShardConfigError);
    await expect(createShardedDatabase(options({ buckets: 0 }))).rejects.toBeInstanceOf(ShardConfigError);
    await expect(createShardedDatabase(options({ initialShards: ['s7'] }))).rejects.toBeInstanceOf(ShardUnknownError);
    await expect(createShardedDatabase(options({ tables: { missing: { shardKey: 'owner' } } }))).rejects.toBeInstanceOf(ShardTableError);
    await expect(createShardedDatabase(options({ tables: { nopk: { shardKey: 'owner' } } }))).rejects.toBeInstanceOf(ShardTableError);
    await expect(createShardedDatabase(options({ tables: { items: { shardKey: 'nope' } } }))).rejects.toBeInstanceOf(ShardTableError);
  });
});

describe('runReshard', () => {
  it('rebalances onto an empty shard from connection strings, reporting every step', async () => {
    const lines: string[] = [];
    const result = await runReshard({
      directoryUrl: dbs.urls.dir!, shardUrls: { s1: dbs.urls.s1!, s2: dbs.urls.s2! }, tables: TABLES,
      targetShard: 's2', batchBuckets: 3, cleanupGraceMs: 0,
    }, (e) => { lines.push(e.message); });
    expect(result.moved).toHaveLength(8);
    expect(lines[0]).toMatch(/^plan: 8 buckets/);
    expect(lines.filter((l) => l.startsWith('switch:'))).toHaveLength(3);
    const db = await createShardedDatabase(options());
    try {
      expect(db.bucketsOf('s2')).toHaveLength(8);
      const all = await db.queryAll<{ n: number }>('SELECT count(*) AS n FROM items', [], { merge: sumMerge('n') });
      expect(all).toEqual([{ n: 205 }]);
      for (let i = 0; i < 200; i += 17) {
        const { rows } = await db.forKey(`owner${i}`).query('SELECT v FROM items WHERE owner = $1', [`owner${i}`]);
        expect(rows).toEqual([{ v: i }]);
      }
    } finally {
      await db.close();
    }
    await expect(runReshard({ directoryUrl: '', shardUrls: {}, tables: TABLES })).rejects.toBeInstanceOf(ShardConfigError);
  });
});

describe('shards behind the replica router', () => {
  it('routes, scatter-gathers and moves buckets through replicated Database backends', async () => {
    const open = (name: string) => fromDatabase(createDatabase({ primary: dbs.urls[name]!, pool: { max: 4 } }));
    const db = await createShardedDatabase({
      shards: { s1: open('s1'), s2: open('s2') }, directory: open('dir'), tables: TABLES, refreshIntervalMs: 0,
    });
    try {
      await db.forKey('replicated').query('INSERT INTO items VALUES ($1, $2, $3)', [1000, 'replicated', 7]);
      const bucket = db.bucketFor('replicated');
      const from = db.shardFor('replicated');
      const to = from === 's1' ? 's2' : 's1';
      const result = await db.reshard({ targetShard: to, bucketsToMove: [bucket], cleanupGraceMs: 0 });
      expect(result.moved).toEqual([{ bucket, from, to }]);
      expect(db.shardFor('replicated')).toBe(to);
      const { rows } = await db.forKey('replicated').query('SELECT v FROM items WHERE owner = $1', ['replicated']);
      expect(rows).toEqual([{ v: 7 }]);
      const total = await db.queryAll('SELECT count(*)::int AS n FROM items WHERE bucket = ANY($1)', [],
        { ownedBuckets: true, merge: (rs) => [{ n: rs.reduce((sum, r) => sum + Number(r.rows[0]?.n), 0) }] });
      expect(total).toEqual([{ n: 206 }]);
    } finally {
      await db.close();
    }
  });
});
