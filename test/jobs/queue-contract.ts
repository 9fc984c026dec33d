import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobsMalformedJobError, JobsUnsupportedError, Queue, Worker } from '../../src/jobs/index.js';
import type { JobContext, JobEvent, QueueBackend, WorkerOptions } from '../../src/jobs/index.js';
import { waitFor } from '../support/wait-for.js';

/** Two backends on one engine (a producer process and a worker process). */
export interface BackendFixture {
  a: QueueBackend;
  b: QueueBackend;
  cleanup(queues: string[]): Promise<void>;
}

/**
 * The behaviour every queue backend must have, run against a real engine. Features a
 * backend provides only in part are read from its declared capabilities and tested as
 * declared.
 */
export function describeQueueContract(name: string, open: () => Promise<BackendFixture>): void {
  describe(`${name} queue contract`, () => {
    let f: BackendFixture;
    const queues: string[] = [];
    const workers: Worker<unknown>[] = [];
    beforeAll(async () => { f = await open(); });
    afterAll(async () => {
      await Promise.all(workers.map((w) => w.close({ graceMs: 0 })));
      await f?.cleanup(queues);
    });

    function queue<T>(backend: QueueBackend = f.a, options = {}): Queue<T> {
      const q = new Queue<T>(backend, `t-${randomBytes(5).toString('hex')}`, options);
      queues.push(q.name);
      return q;
    }
    function work<T>(q: Queue<T>, handler: (ctx: JobContext<T>) => Promise<unknown>, options: WorkerOptions = {}, backend?: QueueBackend): Worker<T> {
      const w = new Worker<T>(backend === undefined ? q : new Queue<T>(backend, q.name), handler, { cancelPollMs: 50, ...options });
      workers.push(w as Worker<unknown>);
      return w;
    }
    async function collect(q: Queue, id: string, after?: string): Promise<JobEvent[]> {
      const out: JobEvent[] = [];
      for await (const e of q.events(id, after === undefined ? {} : { after })) out.push(e);
      return out;
    }

    it('runs a job on a worker of another connection; its state, result and events are readable by id', async () => {
      const q = queue<{ n: number }>();
      work(q, async (ctx) => ({ doubled: ctx.data.n * 2 }), {}, f.b);
      const { id, added } = await q.add('double', { n: 21 });
      expect(added).toBe(true);
      const events = await collect(q, id);
      expect(events.map((e) => e.type)).toEqual(['active', 'completed']);
      expect(await q.getJob(id)).toMatchObject({ state: 'completed', result: { doubled: 42 }, attempt: 1, name: 'double' });
    });

    it('an idempotency key enqueues once', async () => {
      const q = queue<string>();
      const first = await q.add('k', 'one', { key: 'order-17' });
      const second = await q.add('k', 'two', { key: 'order-17' });
      expect(second).toEqual({ id: first.id, added: false });
      const seen: string[] = [];
      work(q, async (ctx) => { seen.push(ctx.data); });
      await waitFor('job done', async () => (await q.getJob(first.id))?.state === 'completed');
      const marker = await q.add('k', 'marker');
      await waitFor('marker done', async () => (await q.getJob(marker.id))?.state === 'completed');
      expect(seen).toEqual(['one', 'marker']);
    });

    it('retries with exponential backoff, and ctx.once keeps an effect from repeating', async () => {
      const q = queue<null>();
      let effects = 0;
      const startsMs: number[] = [];
      work(q, async (ctx) => {
        startsMs.push(performance.now());
        await ctx.once('charge', async () => { effects += 1; return 'receipt-1'; });
        if (ctx.attempt < 3) throw new Error(`flaky ${ctx.attempt}`);
        return ctx.once('charge', async () => 'never');
      });
      const { id } = await q.add('pay', null, { attempts: 3, backoffMs: 150, jitter: 0 });
      const events = await collect(q, id);
      expect(events.map((e) => e.type)).toEqual(['active', 'retrying', 'active', 'retrying', 'active', 'completed']);
      expect(events.filter((e) => e.type === 'retrying').map((e) => (e.data as { delayMs: number }).delayMs)).toEqual([150, 300]);
      expect((startsMs[1] ?? 0) - (startsMs[0] ?? 0)).toBeGreaterThanOrEqual(140);
      expect((startsMs[2] ?? 0) - (startsMs[1] ?? 0)).toBeGreaterThanOrEqual(290);
      expect(effects).toBe(1);
      expect(await q.getJob(id)).toMatchObject({ state: 'completed', result: 'receipt-1', attempt: 3 });
    });

    it('dead-letters a job after its last attempt, and redrive runs it again', async () => {
      const q = queue<null>();
      let healthy = false;
      work(q, async () => { if (!healthy) throw new Error('downstream is down'); return 'ok'; });
      const { id } = await q.add('sync', null, { attempts: 2, backoffMs: 10 });
      const events = await collect(q, id);
      expect(events.at(-1)).toMatchObject({ type: 'failed', data: { attempt: 2, error: 'downstream is down' } });
      expect(await q.getJob(id)).toMatchObject({ state: 'dead', error: 'downstream is down' });
      healthy = true;
      expect(await q.redrive()).toBe(1);
      await waitFor('redriven job done', async () => (await q.getJob(id))?.state === 'completed');
      expect(await q.redrive()).toBe(0);
    });

    it('runs higher priorities first', async () => {
      const q = queue<number>();
      for (const p of [1, 9, 0, 5]) await q.add('p', p, { priority: p });
      const order: number[] = [];
      work(q, async (ctx) => { order.push(ctx.data); });
      await waitFor('all ran', () => order.length === 4);
      expect(order).toEqual([9, 5, 1, 0]);
    });

    it('rate-limits starts to N per interval, across workers when the backend declares so', async () => {
      const q = queue<null>();
      const startsMs: number[] = [];
      const rateLimit = { max: 2, intervalMs: 600 };
      const scope = f.a.capabilities.rateLimit;
      expect(['queue', 'worker']).toContain(scope);
      // With a queue-wide limit two workers share it; with a per-worker one, one worker holds it.
      work(q, async () => { startsMs.push(performance.now()); }, { concurrency: 4, rateLimit });
      if (scope === 'queue') work(q, async () => { startsMs.push(performance.now()); }, { concurrency: 4, rateLimit }, f.b);
      for (let i = 0; i < 6; i += 1) await q.add('r', null);
      await waitFor('all ran', () => startsMs.length === 6, { timeoutMs: 15_000 });
      startsMs.sort((x, y) => x - y);
      // Six starts at two per interval need at least two whole intervals, whether the
      // engine counts in fixed windows (BullMQ) or a sliding one.
      expect((startsMs.at(-1) ?? 0) - (startsMs[0] ?? 0)).toBeGreaterThanOrEqual(2 * rateLimit.intervalMs - 100);
    });

    it('counts the jobs waiting for a worker (the depth autoscale reads), not delayed or running ones', async () => {
      const q = queue<number>();
      await f.a.prepare(q.name);
      expect(await f.b.depth!(q.name)).toBe(0);
      for (let i = 0; i < 5; i += 1) await q.add('w', i, { priority: i % 2 });
      await q.add('w', 99, { delayMs: 60_000 });
      expect(await f.b.depth!(q.name)).toBe(5);
      let release = (): void => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      let running = 0;
      work(q, async () => { running += 1; await held; }, { concurrency: 2 });
      await waitFor('two running', () => running === 2);
      await waitFor('three waiting', async () => (await f.b.depth!(q.name)) === 3);
      release();
      await waitFor('none waiting', async () => (await f.b.depth!(q.name)) === 0);
    });

    it('counts the jobs it holds as completed (the dashboard\'s job rates), or declares it cannot', async () => {
      const q = queue<number>();
      await f.a.prepare(q.name);
      if (f.b.finishedCounts === undefined) {
        // RabbitMQ forgets an acknowledged message: nothing to count.
        expect(f.b.name).toBe('amqplib');
        return;
      }
      expect(await f.b.finishedCounts(q.name)).toEqual({ completed: 0, failed: 0 });
      let ran = 0;
      work(q, async () => { ran += 1; });
      for (let i = 0; i < 3; i += 1) await q.add('c', i);
      await waitFor('three completed', async () => (await f.b.finishedCounts!(q.name)).completed === 3);
      expect(ran).toBe(3);
      expect((await f.b.finishedCounts(q.name)).failed).toBe(0);
    });

    it('holds a delayed job back for its delay', async () => {
      const q = queue<string>();
      const ran: { data: string; atMs: number }[] = [];
      work(q, async (ctx) => { ran.push({ data: ctx.data, atMs: performance.now() }); }, { concurrency: 2 });
      const addedAtMs = performance.now();
      await q.add('d', 'later', { delayMs: 1_000 });
      await q.add('d', 'now');
      await waitFor('both ran', () => ran.length === 2);
      expect(ran.map((r) => r.data)).toEqual(['now', 'later']);
      expect((ran[1]?.atMs ?? 0) - addedAtMs).toBeGreaterThanOrEqual(950);
    });

    it('reports progress readable by id from another connection while the job runs', async () => {
      const q = queue<null>();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => { release = resolve; });
      work(q, async (ctx) => { await ctx.progress({ done: 50 }); await gate; });
      const { id } = await q.add('p', null);
      const other = new Queue(f.b, q.name);
      await waitFor('progress visible', async () => (await other.getJob(id))?.progress !== undefined);
      expect(await other.getJob(id)).toMatchObject({ state: 'active', progress: { done: 50 } });
      release();
      await waitFor('done', async () => (await other.getJob(id))?.state === 'completed');
    });

    it('a cancelled waiting job never runs; a running one sees its signal abort', async () => {
      const q = queue<string>();
      const ran: string[] = [];
      let sawAbort = false;
      work(q, async (ctx) => {
        ran.push(ctx.data);
        if (ctx.data === 'long') {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
          sawAbort = true;
          throw ctx.signal.reason;
        }
      });
      const waiting = await q.add('c', 'waiting', { delayMs: 300 });
      expect(await q.cancel(waiting.id)).toBe(true);
      const marker = await q.add('c', 'marker', { delayMs: 600 });
      await waitFor('marker ran', async () => (await q.getJob(marker.id))?.state === 'completed');
      expect(ran).toEqual(['marker']);
      expect(await q.getJob(waiting.id)).toMatchObject({ state: 'cancelled' });

      const long = await q.add('c', 'long');
      await waitFor('long started', async () => (await q.getJob(long.id))?.state === 'active');
      expect(await q.cancel(long.id)).toBe(true);
      const events = await collect(q, long.id);
      expect(events.at(-1)?.type).toBe('cancelled');
      expect(sawAbort).toBe(true);
      expect(await q.cancel(long.id)).toBe(false);
    });

    it('refuses a payload version the worker does not know, and a newer worker takes it after redrive', async () => {
      const q = queue<{ sku: string }>();
      const seen: number[] = [];
      const old = work(q, async (ctx) => { seen.push(ctx.v); }, { versions: [1] });
      const { id } = await q.add('v', { sku: 'x' }, { v: 2 });
      await waitFor('dead', async () => (await q.getJob(id))?.state === 'dead');
      expect((await q.getJob(id))?.error).toMatch(/version 2/);
      await old.close();
      work(q, async (ctx) => { seen.push(ctx.v); }, { versions: [1, 2] });
      await q.redrive();
      await waitFor('done', async () => (await q.getJob(id))?.state === 'completed');
      expect(seen).toEqual([2]);
    });

    it('events resume after a given event id without losing one', async () => {
      const q = queue<null>();
      work(q, async (ctx) => { for (let i = 1; i <= 3; i += 1) await ctx.progress(i); });
      const { id } = await q.add('e', null);
      const all = await collect(q, id);
      expect(all.map((e) => e.type)).toEqual(['active', 'progress', 'progress', 'progress', 'completed']);
      const other = new Queue(f.b, q.name);
      const rest = await collect(other, id, all[1]?.id);
      expect(rest.map((e) => e.data)).toEqual([2, 3, null]);
    });

    it('close lets a running job finish within the grace time', async () => {
      const q = queue<null>();
      let finished = false;
      const w = work(q, async () => { await new Promise((r) => setTimeout(r, 300)); finished = true; });
      const { id } = await q.add('g', null);
      await waitFor('started', async () => (await q.getJob(id))?.state === 'active');
      await w.close({ graceMs: 5_000 });
      expect(finished).toBe(true);
      expect((await q.getJob(id))?.state).toBe('completed');
    });

    it('close hands a job that outlives the grace time back to the queue, and another worker runs it', async () => {
      const q = queue<null>();
      let aborted = false;
      const w = work(q, async (ctx) => {
        if (ctx.name === 'stuck') {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
          aborted = true;
        }
      });
      const { id } = await q.add('stuck', null);
      await waitFor('started', async () => (await q.getJob(id))?.state === 'active');
      const t0 = performance.now();
      await w.close({ graceMs: 200 });
      expect(performance.now() - t0).toBeLessThan(5_000);
      expect(aborted).toBe(true);
      expect((await q.getJob(id))?.state).toBe('waiting');
      const ran: number[] = [];
      work(q, async (ctx) => { ran.push(ctx.attempt); }, {}, f.b);
      await waitFor('ran again', async () => (await q.getJob(id))?.state === 'completed');
      expect(ran).toEqual([1]);
    });

    it('drops a message that is not a job, reports it, and keeps running', async () => {
      const q = queue<string>();
      await q.ready();
      const errors: unknown[] = [];
      const ran: string[] = [];
      work(q, async (ctx) => { ran.push(ctx.data); }, { onError: (err) => errors.push(err) });
      await f.a.enqueue(q.name, { hello: 'not a job', name: 'junk', priority: 0 } as never, { delayMs: 0, first: false });
      await f.a.enqueue(q.name, { id: 'x', name: 'x', v: 'one', data: 1, priority: 0 } as never, { delayMs: 0, first: false });
      const { id } = await q.add('after', 'real');
      await waitFor('real job done', async () => (await q.getJob(id))?.state === 'completed');
      await waitFor('both reported', () => errors.length === 2);
      expect(errors.every((e) => e instanceof JobsMalformedJobError)).toBe(true);
      expect(ran).toEqual(['real']);
    });

    it('enqueues in the caller\'s transaction only where the backend declares it', async () => {
      const q = queue<null>();
      const fakeClient = { query: async () => ({ rows: [] }) };
      if (!f.a.capabilities.transactionalAdd) {
        await expect(q.add('t', null, { db: fakeClient })).rejects.toBeInstanceOf(JobsUnsupportedError);
      } else {
        expect(f.a.capabilities.transactionalAdd).toBe(true);
      }
    });
  });
}
