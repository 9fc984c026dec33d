import { afterEach, describe, expect, it } from 'vitest';
import { AmqplibBackend, BullMQBackend, PgBossBackend, Queue, RedisJobTracker, Worker } from '../../src/jobs/index.js';
import type { QueueBackend } from '../../src/jobs/index.js';
import { RedisServer } from '../support/redis-server.js';
import { TcpProxy } from '../session/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { deleteKeys, deleteQueues, dropSchemas, REDIS_URL, uniqueName, uniqueSchema } from './engines.js';

describe('workers resume by themselves after the engine comes back', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  });

  async function runsOne(q: Queue<string>, label: string): Promise<void> {
    const { id } = await q.add('ping', label);
    await waitFor(`job "${label}" completed`, async () => (await q.getJob(id).catch(() => undefined))?.state === 'completed',
      { timeoutMs: 20_000 });
  }

  it('BullMQ: after Redis is killed and restarted', async () => {
    const redis = await RedisServer.start();
    closers.push(() => redis.kill());
    const backend: QueueBackend = new BullMQBackend({ url: redis.url, prefix: uniqueName('reconnect'), visibilityTimeoutMs: 2_000 });
    closers.push(() => backend.close());
    const q = new Queue<string>(backend, 'resume');
    const seen: string[] = [];
    const worker = new Worker(q, async (ctx) => { seen.push(ctx.data); });
    closers.push(() => worker.close({ graceMs: 0 }));
    await runsOne(q, 'before');
    await redis.kill();
    await redis.restart();
    await runsOne(q, 'after');
    expect(seen).toEqual(['before', 'after']);
  });

  it('RabbitMQ: after every connection to the broker is cut', async () => {
    const proxy = new TcpProxy('127.0.0.1', 5672);
    await proxy.start();
    closers.push(() => proxy.cut());
    const prefix = uniqueName('reconnect-amqp');
    const tracker = new RedisJobTracker({ url: REDIS_URL, keyPrefix: `${prefix}:` });
    const backend = new AmqplibBackend({ url: `amqp://guest:guest@127.0.0.1:${proxy.port}`, tracker });
    const queueName = `${prefix}-q`;
    closers.push(async () => { await deleteQueues([queueName]); await deleteKeys(REDIS_URL, `${prefix}:*`); });
    closers.push(() => tracker.close());
    closers.push(() => backend.close());
    const q = new Queue<string>(backend, queueName);
    const seen: string[] = [];
    const worker = new Worker(q, async (ctx) => { seen.push(ctx.data); });
    closers.push(() => worker.close({ graceMs: 0 }));
    await runsOne(q, 'before');
    await proxy.cut();
    await proxy.start();
    await runsOne(q, 'after');
    expect(seen).toEqual(['before', 'after']);
  });

  it('pg-boss: after every connection to PostgreSQL is cut', async () => {
    const proxy = new TcpProxy('127.0.0.1', 5432);
    await proxy.start();
    closers.push(() => proxy.cut());
    const schema = uniqueSchema();
    closers.push(() => dropSchemas(schema, `${schema}_t`));
    const backend = new PgBossBackend({
      connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/test`, schema, pollIntervalMs: 50, visibilityTimeoutMs: 2_000,
    });
    closers.push(() => backend.close());
    const q = new Queue<string>(backend, 'resume');
    const seen: string[] = [];
    const worker = new Worker(q, async (ctx) => { seen.push(ctx.data); });
    closers.push(() => worker.close({ graceMs: 0 }));
    await runsOne(q, 'before');
    await proxy.cut();
    await proxy.start();
    // A pool hands out a dead connection once before it notices; the producer retries.
    await waitFor('add after the cut', async () => { await runsOne(q, 'after'); return true; }, { timeoutMs: 30_000 });
    expect(seen.filter((s) => s === 'before')).toEqual(['before']);
    expect(seen).toContain('after');
  });
});
