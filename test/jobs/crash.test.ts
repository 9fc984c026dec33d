import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/jobs/index.js';
import type { QueueBackend } from '../../src/jobs/index.js';
import { waitFor } from '../support/wait-for.js';
import { cleanupBackend, openBackend, REDIS_URL, uniqueName, uniqueSchema } from './engines.js';
import type { BackendSpec } from './engines.js';
import { startChild } from './child.js';

const specs: BackendSpec[] = [
  { kind: 'bullmq', prefix: uniqueName('crash-bullmq') },
  { kind: 'pg-boss', schema: uniqueSchema() },
  { kind: 'amqplib', prefix: uniqueName('crash-amqp') },
];

describe.each(specs)('a worker SIGKILLed mid-job ($kind)', (spec) => {
  const children: ChildProcess[] = [];
  const backends: QueueBackend[] = [];
  const redis = new Redis(REDIS_URL);
  const queue = `crash-${spec.kind}-${process.pid}`;
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const b of backends.splice(0)) await b.close();
    await cleanupBackend(spec, [queue]);
  });
  afterAll(async () => { await redis.quit(); });

  it('the job runs again elsewhere and its effect happens once', async () => {
    const counterKey = `${uniqueName('crash-counter')}`;
    const backend = await openBackend(spec);
    backends.push(backend);
    const q = new Queue<null>(backend, queue);
    await q.ready();
    const { child, lines } = startChild({ mode: 'worker', spec, queue, counterKey });
    children.push(child);
    await waitFor('child ready', () => lines.includes('ready'), { timeoutMs: 20_000 });
    const { id } = await q.add('charge', null);
    await waitFor('effect in the child', () => lines.includes(`effect-done ${id}`), { timeoutMs: 20_000 });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    const runs: number[] = [];
    const worker = new Worker<null>(q, async (ctx) => {
      runs.push(ctx.attempt);
      await ctx.once('effect', async () => { await redis.incr(counterKey); });
      return 'done';
    });
    try {
      await waitFor('job completed after the crash', async () => (await q.getJob(id))?.state === 'completed', { timeoutMs: 30_000 });
    } finally {
      await worker.close({ graceMs: 0 });
    }
    expect(runs).toEqual([1]);
    expect(await redis.get(counterKey)).toBe('1');
    await redis.del(counterKey);
  });
});
