import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Queue } from '../../src/jobs/index.js';
import type { JobEvent, QueueBackend } from '../../src/jobs/index.js';
import { waitFor } from '../support/wait-for.js';
import { startChild } from './child.js';
import { cleanupBackend, openBackend, REDIS_URL, uniqueName, uniqueSchema } from './engines.js';
import type { BackendSpec } from './engines.js';

const specs: BackendSpec[] = [
  { kind: 'bullmq', prefix: uniqueName('events-bullmq') },
  { kind: 'pg-boss', schema: uniqueSchema() },
];

describe.each(specs)('job events across processes ($kind)', (spec) => {
  const children: ChildProcess[] = [];
  const closers: (() => Promise<void>)[] = [];
  const redis = new Redis(REDIS_URL);
  const queue = `events-${spec.kind}-${process.pid}`;
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const c of closers.splice(0).reverse()) await c();
    await cleanupBackend(spec, [queue]);
  });
  afterAll(async () => { await redis.quit(); });

  it('a subscriber that drops after the first progress resumes after its Last-Event-ID and misses nothing', async () => {
    const gateKey = uniqueName('gate');
    closers.push(async () => { await redis.del(gateKey); });
    const producer: QueueBackend = await openBackend(spec);
    closers.push(() => producer.close());
    const q = new Queue<null>(producer, queue);
    await q.ready();
    const { child, lines } = startChild({ mode: 'events-worker', spec, queue, gateKey });
    children.push(child);
    await waitFor('worker ready', () => lines.includes('ready'), { timeoutMs: 20_000 });
    const { id } = await q.add('report', null);

    // First subscriber: reads until the first progress, then goes away (a closed browser tab).
    const first: JobEvent[] = [];
    const dropped = new AbortController();
    for await (const e of q.events(id, { signal: dropped.signal })) {
      first.push(e);
      if (e.type === 'progress') break;
    }
    dropped.abort();
    expect(first.map((e) => [e.type, e.data])).toEqual([['active', { attempt: 1 }], ['progress', 1]]);

    // Events happen while nobody listens.
    await redis.set(gateKey, '1');
    await waitFor('job completed', async () => (await q.getJob(id))?.state === 'completed', { timeoutMs: 20_000 });

    // Second subscriber, on another connection, resumes after the last id it saw.
    const subscriber = await openBackend(spec);
    closers.push(() => subscriber.close());
    const rest: JobEvent[] = [];
    for await (const e of new Queue(subscriber, queue).events(id, { after: first.at(-1)?.id })) rest.push(e);
    expect(rest.map((e) => [e.type, e.data])).toEqual([['progress', 2], ['progress', 3], ['completed', 'done']]);
    const ids = [...first, ...rest].map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a live subscriber gets events as they happen in another process', async () => {
    const gateKey = uniqueName('gate');
    closers.push(async () => { await redis.del(gateKey); });
    const producer: QueueBackend = await openBackend(spec);
    closers.push(() => producer.close());
    const q = new Queue<null>(producer, queue);
    await q.ready();
    const { child, lines } = startChild({ mode: 'events-worker', spec, queue, gateKey });
    children.push(child);
    await waitFor('worker ready', () => lines.includes('ready'), { timeoutMs: 20_000 });
    const { id } = await q.add('report', null);
    const seen: string[] = [];
    for await (const e of q.events(id)) {
      seen.push(e.type === 'progress' ? `progress ${String(e.data)}` : e.type);
      if (e.type === 'progress' && e.data === 1) await redis.set(gateKey, '1');
    }
    expect(seen).toEqual(['active', 'progress 1', 'progress 2', 'progress 3', 'completed']);
  });
});
