import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import pg from 'pg';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL = process.env.SCALEOUT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export function uniqueName(kind: string): string {
  return `scaleout-test-${kind}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export function uniqueSchema(): string {
  return `sj_${process.pid}_${randomBytes(4).toString('hex')}`;
}

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

export async function dropSchemas(...schemas: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  } finally {
    await client.end();
  }
}

/** Deletes the queues a test made, with their dead-letter queues (delay queues expire by themselves). */
export async function deleteQueues(names: string[]): Promise<void> {
  const model = await amqp.connect(AMQP_URL);
  try {
    for (const name of names) {
      for (const q of [name, `${name}.dead`]) {
        const ch = await model.createChannel();
        ch.on('error', () => undefined);
        await ch.deleteQueue(q).catch(() => undefined);
        await ch.close().catch(() => undefined);
      }
    }
  } finally {
    await model.close();
  }
}

/** How a test (or a child process of it) reaches one backend. */
export type BackendSpec =
  | { kind: 'bullmq'; prefix: string; redisUrl?: string }
  | { kind: 'pg-boss'; schema: string }
  | { kind: 'amqplib'; prefix: string; amqpUrl?: string };

export async function openBackend(spec: BackendSpec): Promise<import('../../src/jobs/index.js').QueueBackend> {
  const jobs = await import('../../src/jobs/index.js');
  switch (spec.kind) {
    case 'bullmq':
      return new jobs.BullMQBackend({ url: spec.redisUrl ?? REDIS_URL, prefix: spec.prefix, visibilityTimeoutMs: 2_000 });
    case 'pg-boss':
      return new jobs.PgBossBackend({ connectionString: DATABASE_URL, schema: spec.schema, visibilityTimeoutMs: 2_000, pollIntervalMs: 50 });
    case 'amqplib':
      return new jobs.AmqplibBackend({
        url: spec.amqpUrl ?? AMQP_URL, tracker: new jobs.RedisJobTracker({ url: REDIS_URL, keyPrefix: `${spec.prefix}:` }),
      });
  }
}

export async function cleanupBackend(spec: BackendSpec, queues: string[]): Promise<void> {
  if (spec.kind === 'bullmq') await deleteKeys(spec.redisUrl ?? REDIS_URL, `${spec.prefix}*`);
  if (spec.kind === 'pg-boss') await dropSchemas(spec.schema, `${spec.schema}_t`);
  if (spec.kind === 'amqplib') {
    await deleteQueues(queues);
    await deleteKeys(REDIS_URL, `${spec.prefix}:*`);
  }
}
