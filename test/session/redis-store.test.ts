import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  newSessionId, RedisSessionStore, SessionOptionsError, SessionStoreUnavailableError,
} from '../../src/session/index.js';
import { freePort } from '../support/free-port.js';
import { describeStoreContract } from './store-contract.js';
import { TcpProxy } from './tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `scaleout-test:${process.pid}:${randomBytes(4).toString('hex')}:`;

async function deleteKeys(pattern: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

describeStoreContract('redis', async () => {
  const a = new RedisSessionStore({ url: REDIS_URL, keyPrefix: prefix });
  const b = new RedisSessionStore({ url: REDIS_URL, keyPrefix: prefix });
  const closedPort = await freePort();
  return {
    a, b,
    unreachable: () => new RedisSessionStore({ url: `redis://127.0.0.1:${closedPort}`, keyPrefix: prefix }),
    async cleanup() {
      await a.close();
      await b.close();
      await deleteKeys(`${prefix}*`);
    },
  };
});

describe('RedisSessionStore', () => {
  it('leaves no key behind once sessions are destroyed, and lets user indexes expire', async () => {
    const own = `${prefix}own:`;
    const store = new RedisSessionStore({ url: REDIS_URL, keyPrefix: own });
    const redis = new Redis(REDIS_URL);
    try {
      const id = newSessionId();
      await store.create(id, { a: 1 }, 60_000, 'u1');
      expect(await redis.pttl(`${own}u:u1`)).toBeGreaterThan(0);
      await store.destroy(id);
      expect(await redis.exists(`${own}s:${id}`)).toBe(0);
      expect(await redis.smembers(`${own}u:u1`)).toEqual([]);
    } finally {
      await store.close();
      await redis.quit();
      await deleteKeys(`${own}*`);
    }
  });

  it('survives data written by something else: a value that is not JSON reads back as text', async () => {
    const own = `${prefix}foreign:`;
    const store = new RedisSessionStore({ url: REDIS_URL, keyPrefix: own });
    const redis = new Redis(REDIS_URL);
    try {
      const id = newSessionId();
      await store.create(id, {}, 60_000);
      await redis.hset(`${own}s:${id}`, 'raw', '{not json');
      expect((await store.getAll(id))?.fields).toEqual({ raw: '{not json' });
    } finally {
      await store.close();
      await redis.quit();
      await deleteKeys(`${own}*`);
    }
  });

  it('uses a connection it is given and leaves it open', async () => {
    const client = new Redis(REDIS_URL, { enableOfflineQueue: false });
    const store = new RedisSessionStore({ client, keyPrefix: `${prefix}borrowed:` });
    try {
      const id = newSessionId();
      await store.create(id, { a: 1 }, 60_000);
      expect((await store.getAll(id))?.fields).toEqual({ a: 1 });
      await store.destroy(id);
      await store.close();
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
    }
  });

  it('times out instead of hanging when Redis stops answering, and recovers on a new connection', async () => {
    const proxy = new TcpProxy('127.0.0.1', Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    const store = new RedisSessionStore({
      url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: `${prefix}hang:`, commandTimeoutMs: 300, connectTimeoutMs: 300,
    });
    try {
      const id = newSessionId();
      await store.create(id, { a: 1 }, 60_000);
      proxy.stall();
      for (let i = 0; i < 3; i++) await expect(store.getAll(id)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await proxy.cut();
      await proxy.start();
      expect(await waitFor('the store to recover', () => store.getAll(id))).toMatchObject({ fields: { a: 1 } });
    } finally {
      await store.close();
      await proxy.cut();
      await deleteKeys(`${prefix}hang:*`);
    }
  });

  it('refuses invalid options', () => {
    expect(() => new RedisSessionStore({ commandTimeoutMs: 0 })).toThrow(SessionOptionsError);
    expect(() => new RedisSessionStore({ keyPrefix: 'x'.repeat(200) })).toThrow(SessionOptionsError);
  });
});
