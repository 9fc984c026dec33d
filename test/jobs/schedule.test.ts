import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { JobsOptionsError, Queue, Scheduler, Worker } from '../../src/jobs/index.js';
import type { QueueBackend } from '../../src/jobs/index.js';
import { waitFor } from '../support/wait-for.js';
import { startChild } from './child.js';
import { cleanupBackend, openBackend, uniqueName, uniqueSchema } from './engines.js';
import type { BackendSpec } from './engines.js';

const specs: BackendSpec[] = [
  { kind: 'bullmq', prefix: uniqueName('sched-bullmq') },
  { kind: 'pg-boss', schema: uniqueSchema() },
];

describe.each(specs)('schedules ($kind)', (spec) => {
  const children: ChildProcess[] = [];
  const closers: (() => Promise<void>)[] = [];
  const queue = `sched-${spec.kind}-${process.pid}`;
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const c of closers.splice(0).reverse()) await c();
    await cleanupBackend(spec, [queue]);
  });

  async function scheduler(): Promise<ChildProcess> {
    const { child, lines } = startChild({ mode: 'scheduler', spec, queue, group: queue });
    children.push(child);
    await waitFor('scheduler ready', () => lines.includes('ready'), { timeoutMs: 20_000 });
    return child;
  }
  async function kill(child: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  it('two schedulers in two processes, each killed once and one restarted: every tick enqueued exactly once', async () => {
    const backend: QueueBackend = await openBackend(spec);
    closers.push(() => backend.close());
    const q = new Queue<null>(backend, queue);
    const runs = new Map<string, number>();
    const worker = new Worker(q, async (ctx) => { runs.set(ctx.key ?? '', (runs.get(ctx.key ?? '') ?? 0) + 1); }, { concurrency: 1 });
    closers.push(() => worker.close({ graceMs: 0 }));
    const wait = (n: number): Promise<unknown> => waitFor(`${n} ticks`, () => runs.size >= n, { timeoutMs: 20_000 });

    const a = await scheduler();
    const b = await scheduler();
    await wait(2);
    await kill(a);
    await wait(4);
    const a2 = await scheduler();
    await wait(6);
    // Only b or a2 can hold the lease now, and a2 started while b held it: b is the leader.
    await kill(b);
    await wait(10);
    await kill(a2);

    const ticks = [...runs.keys()].map((k) => Date.parse(k.replace(/^schedule:every-second:/, ''))).sort((x, y) => x - y);
    expect(ticks.every(Number.isFinite)).toBe(true);
    for (let i = 1; i < ticks.length; i += 1) expect((ticks[i] ?? 0) - (ticks[i - 1] ?? 0)).toBe(1_000);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
  });
});

describe('Scheduler options', () => {
  it('refuses an invalid cron expression with the schedule\'s name', async () => {
    const spec: BackendSpec = { kind: 'bullmq', prefix: uniqueName('sched-opts') };
    const backend = await openBackend(spec);
    try {
      const q = new Queue(backend, 'x');
      expect(() => new Scheduler({ schedules: [{ name: 'nightly', cron: 'every night', queue: q, data: null }] }))
        .toThrow(JobsOptionsError);
      expect(() => new Scheduler({ schedules: [{ name: 'nightly', cron: 'every night', queue: q, data: null }] }))
        .toThrow(/nightly/);
    } finally {
      await backend.close();
    }
  });
});
