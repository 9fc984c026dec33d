import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { BullMQBackend } from '../../src/jobs/index.js';
import { describeQueueContract } from './queue-contract.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `scaleout-test-${process.pid}-${randomBytes(4).toString('hex')}`;

export async function deleteKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url);
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

describeQueueContract('bullmq', async () => {
  const a = new BullMQBackend({ url: REDIS_URL, prefix, visibilityTimeoutMs: 2_000 });
  const b = new BullMQBackend({ url: REDIS_URL, prefix, visibilityTimeoutMs: 2_000 });
  return {
    a, b,
    async cleanup() {
      await a.close();
      await b.close();
      await deleteKeys(REDIS_URL, `${prefix}*`);
    },
  };
});
