import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresL2Store } from '../../src/cache/index.js';
import { freePort } from '../support/free-port.js';
import { describeCacheBehaviour } from './cache-behaviour.js';
import { describeL2Contract } from './l2-contract.js';
import { DATABASE_URL, dropTable } from './support/engines.js';

describeL2Contract('postgres', async () => {
  const table = `scaleout_cache_test_${process.pid}_${randomBytes(3).toString('hex')}`;
  const a = new PostgresL2Store({ connectionString: DATABASE_URL, table });
  const b = new PostgresL2Store({ connectionString: DATABASE_URL, table });
  const closedPort = await freePort();
  return {
    a, b,
    unreachable: () => new PostgresL2Store({ connectionString: `postgres://postgres@127.0.0.1:${closedPort}/test`, table }),
    async cleanup() {
      await a.close();
      await b.close();
      await dropTable(table);
    },
  };
});

describe('PostgresL2Store', () => {
  it('keeps entries in an UNLOGGED table and cleanup deletes only expired rows', async () => {
    const table = `scaleout_cache_test_${process.pid}_${randomBytes(3).toString('hex')}`;
    const store = new PostgresL2Store({ connectionString: DATABASE_URL, table, cleanupIntervalMs: 0 });
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      await store.set('live', 'x', 3_600_000);
      await store.set('dead', 'y', 1);
      await client.query(`UPDATE "${table}" SET expires_at = now() - interval '1 second' WHERE key = 'dead'`);
      const { rows } = await client.query<{ relpersistence: string }>('SELECT relpersistence FROM pg_class WHERE relname = $1', [table]);
      expect(rows[0]?.relpersistence).toBe('u');
      expect(await store.cleanup()).toBe(1);
      const left = await client.query<{ key: string }>(`SELECT key FROM "${table}" ORDER BY key`);
      expect(left.rows.map((r) => r.key)).toEqual(['live']);
    } finally {
      await client.end();
      await store.close();
      await dropTable(table);
    }
  });
});

describeCacheBehaviour('postgres', async () => {
  const table = `scaleout_cache_test_${process.pid}_${randomBytes(3).toString('hex')}`;
  return {
    store: () => new PostgresL2Store({ connectionString: DATABASE_URL, table }),
    cleanup: () => dropTable(table),
  };
});

describe('PostgresL2Store schema', () => {
  it('ten instances using a new table at once all succeed', async () => {
    const table = `scaleout_cache_test_${process.pid}_${randomBytes(3).toString('hex')}`;
    const stores = Array.from({ length: 10 }, () => new PostgresL2Store({ connectionString: DATABASE_URL, table, cleanupIntervalMs: 0 }));
    try {
      const results = await Promise.allSettled(stores.map((s, i) => s.set(`k${i}`, 'v', 60_000)));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    } finally {
      for (const s of stores) await s.close();
      await dropTable(table);
    }
  });
});
