import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newSessionId, PostgresSessionStore, SessionOptionsError, SessionStoreUnavailableError,
} from '../../src/session/index.js';
import { freePort } from '../support/free-port.js';
import { describeStoreContract } from './store-contract.js';
import { TcpProxy } from './tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';

const DATABASE_URL = process.env.SCALEOUT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const table = `sessions_test_${randomBytes(4).toString('hex')}`;

describeStoreContract('postgres', async () => {
  const a = new PostgresSessionStore({ connectionString: DATABASE_URL, table, cleanupIntervalMs: 0 });
  const b = new PostgresSessionStore({ connectionString: DATABASE_URL, table, cleanupIntervalMs: 0 });
  const closedPort = await freePort();
  return {
    a, b,
    unreachable: () => new PostgresSessionStore({
      connectionString: `postgres://postgres@127.0.0.1:${closedPort}/test`, table, cleanupIntervalMs: 0,
    }),
    async cleanup() {
      await a.close();
      await b.close();
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      await client.query(`DROP TABLE IF EXISTS "${table}"`);
      await client.end();
    },
  };
});

describe('PostgresSessionStore', () => {
  const own = `${table}_own`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  let store: PostgresSessionStore;
  beforeAll(async () => {
    await admin.connect();
    store = new PostgresSessionStore({ connectionString: DATABASE_URL, table: own, cleanupIntervalMs: 0, cleanupBatchSize: 7 });
  });
  afterAll(async () => {
    await store.close();
    await admin.query(`DROP TABLE IF EXISTS "${own}"`);
    await admin.end();
  });

  it('deletes expired rows in batches and leaves live ones', async () => {
    const live = newSessionId();
    await store.create(live, {}, 3_600_000);
    const dead = Array.from({ length: 20 }, () => newSessionId());
    await Promise.all(dead.map((id) => store.create(id, { a: 1 }, 1_000)));
    await admin.query(`UPDATE "${own}" SET expires_at = now() - interval '1 second' WHERE id = ANY($1)`, [dead]);
    expect(await store.cleanupExpired()).toBe(20);
    const { rows } = await admin.query(`SELECT id FROM "${own}"`);
    expect(rows.map((r: { id: string }) => r.id)).toEqual([live]);
  });

  it('an expired row that cleanup has not reached yet is already invisible and unwritable', async () => {
    const id = newSessionId();
    await store.create(id, { a: 1 }, 1_000);
    await admin.query(`UPDATE "${own}" SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    expect(await store.getAll(id)).toBeUndefined();
    expect(await store.setFields(id, { a: 2 })).toBe(false);
    expect(await store.touch(id, 60_000)).toBe(false);
    const { rows } = await admin.query(`SELECT fields FROM "${own}" WHERE id = $1`, [id]);
    expect(rows[0]?.fields).toEqual({ a: 1 });
  });

  it('cleans up by itself on its timer', async () => {
    const timed = new PostgresSessionStore({ connectionString: DATABASE_URL, table: own, cleanupIntervalMs: 50 });
    try {
      const id = newSessionId();
      await timed.create(id, {}, 1_000);
      await admin.query(`UPDATE "${own}" SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
      await waitFor('the cleanup timer to delete the row',
        async () => (await admin.query(`SELECT 1 FROM "${own}" WHERE id = $1`, [id])).rowCount === 0);
    } finally {
      await timed.close();
    }
  });

  it('creates its table once even when many instances start together', async () => {
    const together = `${table}_race`;
    const stores = Array.from({ length: 5 }, () => new PostgresSessionStore({ connectionString: DATABASE_URL, table: together, cleanupIntervalMs: 0 }));
    try {
      await Promise.all(stores.map((s) => s.create(newSessionId(), {}, 60_000)));
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${together}"`);
      expect(rows[0]?.n).toBe(5);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await admin.query(`DROP TABLE IF EXISTS "${together}"`);
    }
  });

  it('refuses invalid options', () => {
    expect(() => new PostgresSessionStore({ table: 'Robert"); DROP TABLE x;--' })).toThrow(SessionOptionsError);
    expect(() => new PostgresSessionStore({ table: 'a.b.c' })).toThrow(SessionOptionsError);
    expect(() => new PostgresSessionStore({ queryTimeoutMs: -1 })).toThrow(SessionOptionsError);
    expect(() => new PostgresSessionStore({ cleanupIntervalMs: 1.5 })).toThrow(SessionOptionsError);
  });
});

describe('PostgresSessionStore when PostgreSQL goes away', () => {
  it('fails fast while it is unreachable and recovers by itself when it is back', async () => {
    const url = new URL(DATABASE_URL);
    const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
    await proxy.start();
    url.host = `127.0.0.1:${proxy.port}`;
    const store = new PostgresSessionStore({ connectionString: url.toString(), table: `${table}_outage`, cleanupIntervalMs: 0 });
    try {
      const id = newSessionId();
      await store.create(id, { a: 1 }, 60_000);
      await proxy.cut();
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        await expect(store.getAll(id)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
        latencies.push(Math.round(performance.now() - started));
      }
      console.log(`postgres outage: operations failed after ${latencies.join(', ')} ms`);
      await proxy.start();
      expect(await waitFor('the store to recover', () => store.getAll(id))).toMatchObject({ fields: { a: 1 } });
    } finally {
      await store.close();
      await proxy.cut();
      await admin2(async (c) => { await c.query(`DROP TABLE IF EXISTS "${table}_outage"`); });
    }
  });
});

describe('PostgresSessionStore when PostgreSQL hangs', () => {
  it('times out instead of waiting for TCP to give up', async () => {
    const url = new URL(DATABASE_URL);
    const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
    await proxy.start();
    url.host = `127.0.0.1:${proxy.port}`;
    const store = new PostgresSessionStore({
      connectionString: url.toString(), table: `${table}_hang`, cleanupIntervalMs: 0, connectTimeoutMs: 300, queryTimeoutMs: 300,
    });
    try {
      const id = newSessionId();
      await store.create(id, { a: 1 }, 60_000);
      proxy.stall();
      // The pooled connection hangs mid-query (query timeout), then new connections
      // hang in the handshake (connect timeout).
      for (let i = 0; i < 3; i++) await expect(store.getAll(id)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    } finally {
      await store.close();
      await proxy.cut();
      await admin2(async (c) => { await c.query(`DROP TABLE IF EXISTS "${table}_hang"`); });
    }
  });
});

async function admin2(work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
