import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { BullMQBackend, Queue, Worker } from '../../src/jobs/index.js';
import type { JobEvent } from '../../src/jobs/index.js';
import { waitFor } from '../support/wait-for.js';
import { deleteKeys, REDIS_URL, uniqueName } from './engines.js';

const prefix = uniqueName('bullmq-records');

/** What the BullMQ backend keeps of a job, beyond the contract every backend shares. */
describe('bullmq: BullMQ\'s own job hash and events stream as the records', () => {
  const redis = new Redis(REDIS_URL);
  const backends: BullMQBackend[] = [];
  const workers: Worker<never>[] = [];
  function backend(options: { eventsMaxLen?: number } = {}): BullMQBackend {
    const b = new BullMQBackend({ url: REDIS_URL, prefix, visibilityTimeoutMs: 2_000, ...options });
    backends.push(b);
    return b;
  }
  const queueName = (): string => `r-${randomBytes(4).toString('hex')}`;
  async function collect(q: Queue, id: string, after?: string): Promise<JobEvent[]> {
    const out: JobEvent[] = [];
    for await (const e of q.events(id, after === undefined ? {} : { after })) out.push(e);
    return out;
  }
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close({ graceMs: 0 })));
    await Promise.all(backends.map((b) => b.close()));
    await deleteKeys(REDIS_URL, `${prefix}*`);
    await redis.quit();
  });

  it('a job run once to completion writes nothing besides BullMQ\'s job; its state and events are read from it', async () => {
    const b = backend();
    const q = new Queue<number>(b, queueName());
    workers.push(new Worker(q, async (ctx) => ctx.data * 2) as Worker<never>);
    const { id } = await q.add('double', 21);
    expect((await collect(q, id)).map((e) => [e.type, e.data])).toEqual([['active', { attempt: 1 }], ['completed', 42]]);
    expect(await q.getJob(id)).toMatchObject({ state: 'completed', result: 42, attempt: 1, name: 'double' });
    expect(await redis.exists(`${prefix}:t:j:${id}`)).toBe(0);
    expect(await redis.hget(`${prefix}:${q.name}:${id}`, 'finishedOn')).not.toBeNull();
  });

  it('a reader resuming after an event BullMQ trimmed from the stream still gets the job\'s end, made from its state', async () => {
    const b = backend({ eventsMaxLen: 100 });
    const q = new Queue<number>(b, queueName());
    workers.push(new Worker(q, async (ctx) => ({ n: ctx.data }), { concurrency: 8 }) as Worker<never>);
    const { id } = await q.add('first', 1);
    const seen = await collect(q, id);
    expect(seen.map((e) => e.type)).toEqual(['active', 'completed']);
    // Enough jobs after it that BullMQ trims the stream past its events.
    const later: string[] = [];
    for (let i = 0; i < 150; i += 1) later.push((await q.add('filler', i)).id);
    await waitFor('fillers done', async () => (await q.getJob(later.at(-1) ?? ''))?.state === 'completed', { timeoutMs: 20_000 });
    const oldest = await redis.xrange(`${prefix}:${q.name}:events`, '-', '+', 'COUNT', 1);
    expect((oldest[0]?.[0] ?? '') > (seen[0]?.id ?? '')).toBe(true);

    const resumed = await collect(q, id, seen[0]?.id);
    expect(resumed.map((e) => [e.type, e.data])).toEqual([['completed', { n: 1 }]]);
    // From the start, too; and after the end itself, nothing (the reader saw it).
    expect((await collect(q, id)).map((e) => e.type)).toEqual(['completed']);
    expect(await collect(q, id, resumed[0]?.id)).toEqual([]);
  });

  it('a cancel of a running job reaches its worker at once, without waiting for the poll', async () => {
    const producer = backend();
    const q = new Queue<null>(producer, queueName());
    let aborted = false;
    // Another process's view of the queue, polling only once a minute.
    workers.push(new Worker(new Queue<null>(backend(), q.name), async (ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted = true;
      throw ctx.signal.reason;
    }, { cancelPollMs: 60_000 }) as Worker<never>);
    const { id } = await q.add('long', null);
    await waitFor('running', async () => (await q.getJob(id))?.state === 'active');
    expect(await q.cancel(id)).toBe(true);
    const events = await collect(q, id);
    expect(events.map((e) => e.type)).toEqual(['active', 'cancelled']);
    expect(aborted).toBe(true);
    expect(await q.getJob(id)).toMatchObject({ state: 'cancelled', cancelRequested: true });
  });
});
