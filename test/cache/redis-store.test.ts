import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisL2Store } from '../../src/cache/index.js';
import { freePort } from '../session/redis-server.js';
import { describeCacheBehaviour } from './cache-behaviour.js';
import { describeL2Contract } from './l2-contract.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Delete every key under `prefix` (SCAN, never KEYS, on a shared Redis). */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

describeL2Contract('redis', async () => {
  const prefix = `scaleout-test:cache:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const a = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
  const b = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
  const closedPort = await freePort();
  return {
    a, b,
    unreachable: () => new RedisL2Store({ url: `redis://127.0.0.1:${closedPort}`, keyPrefix: prefix }),
    async cleanup() {
      await a.close();
      await b.close();
      await deleteRedisKeys(prefix);
    },
  };
});

describeCacheBehaviour('redis', async () => {
  const prefix = `scaleout-test:cache:${process.pid}:${randomBytes(4).toString('hex')}:`;
  return {
    store: () => new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix }),
    cleanup: () => deleteRedisKeys(prefix),
  };
});
