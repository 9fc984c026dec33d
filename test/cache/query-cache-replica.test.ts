import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache, RedisL2Store } from '../../src/cache/index.js';
import { createDatabase } from '../../src/db/index.js';
import type { Database } from '../../src/db/index.js';
import { query, startTestPostgresReplicaSet, type PostgresReplicaSet, type PostgresNode } from '../support/pg-replica-set.js';
import { waitFor } from '../support/wait-for.js';
import { deleteRedisKeys, REDIS_URL } from './support/engines.js';

const prefix = `test:qcache-replica:${randomBytes(4).toString('hex')}:`;
let replicaSet: PostgresReplicaSet;
let replica: PostgresNode;
let db: Database;
let l2: RedisL2Store;

beforeAll(async () => {
  replicaSet = await startTestPostgresReplicaSet({ replicas: 1 });
  replica = replicaSet.replicas[0]!;
  // A lagging replica stays readable for eventual reads: only the table versions' tokens keep it honest.
  db = createDatabase({ primary: replicaSet.primary.url(), replicas: [replica.url()], checkIntervalMs: 100, maxLagMs: 60_000, readYourWritesWaitMs: 200 });
  await db.ready();
  await db.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)');
  await db.query("INSERT INTO items VALUES (1, 'old')");
  await waitFor('the replica to have the row', async () => (await query(replica, 'SELECT name FROM items WHERE id = 1'))[0]?.name === 'old');
  await waitFor('the replica to be readable', () => db.topology().nodes.some((n) => n.role === 'replica' && n.readable) || undefined);
  l2 = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
}, 120_000);

afterAll(async () => {
  await l2?.close();
  await db?.close();
  await replicaSet?.destroy();
  await deleteRedisKeys(prefix);
});

describe('cached queries over replicas', () => {
  it('a miss after a write reads at or after that write, so a lagging replica cannot cache the old rows under the new version', async () => {
    const cache = new Cache({ l2 });
    const sql = 'SELECT name FROM items WHERE id = $1';
    expect((await cache.query<{ name: string }>(db, sql, [1])).rows).toEqual([{ name: 'old' }]);
    await query(replica, 'SELECT pg_wal_replay_pause()');
    try {
      await db.query("UPDATE items SET name = 'new' WHERE id = 1");
      // The replica is still read and still answers the old row: the trap is set.
      expect((await db.query<{ name: string }>(sql, [1])).rows).toEqual([{ name: 'old' }]);
      expect((await cache.query<{ name: string }>(db, sql, [1])).rows).toEqual([{ name: 'new' }]);
      const another = new Cache({ l2 });
      expect((await another.query<{ name: string }>(db, sql, [1])).rows).toEqual([{ name: 'new' }]);
      await another.close();
    } finally {
      await query(replica, 'SELECT pg_wal_replay_resume()');
    }
    await cache.close();
  });
});
