import { randomBytes } from 'node:crypto';
import http from 'node:http';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullMQBackend, Queue, Worker } from '../../src/jobs/index.js';
import { scaleout, ScaleoutPluginOptionsError } from '../../src/fastify/index.js';
import { SseParser } from '../../src/runtime/sse-parser.js';
import { waitFor } from '../support/wait-for.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `jobs-option-${randomBytes(4).toString('hex')}`;

interface Frame { id: string | undefined; type: string; data: unknown }

/** One instance of a deployment: its own plugin and queue handle on the shared Redis. */
async function instance(): Promise<{ app: FastifyInstance; backend: BullMQBackend; url: string }> {
  const backend = new BullMQBackend({ url: REDIS_URL, prefix });
  const exportsQueue = new Queue(backend, 'exports');
  const app = Fastify({ logger: false });
  await app.register(scaleout, { shutdown: false, jobs: { queues: { exports: exportsQueue }, keepAliveMs: 50 } });
  app.post('/exports', async () => ({ id: (await app.jobs.queue('exports').add('export', { n: 3 })).id }));
  app.get<{ Params: { id: string } }>('/exports/:id/events', (request, reply) => request.jobs.stream(request, reply, 'exports', request.params.id));
  app.get<{ Params: { id: string }; Querystring: { after?: string } }>('/exports/:id', (request) => request.jobs.poll('exports', request.params.id, { after: request.query.after }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, backend, url };
}

/** An EventSource in a few lines: the frames and comments received so far. */
function connect(url: string, lastEventId?: string): { frames: Frame[]; comments: number; closed: Promise<void>; request: http.ClientRequest } {
  const parser = new SseParser();
  const state = { frames: [] as Frame[], comments: 0, closed: undefined as unknown as Promise<void>, request: undefined as unknown as http.ClientRequest };
  state.closed = new Promise((resolve) => {
    state.request = http.get(url, { headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        state.comments += chunk.split('\n').filter((l) => l.startsWith(':')).length;
        for (const m of parser.push(chunk)) {
          const body = JSON.parse(m.data) as { type: string; data: unknown };
          state.frames.push({ id: m.id, type: body.type, data: body.data });
        }
      });
      res.on('close', () => resolve());
    });
    state.request.on('error', () => resolve());
  });
  return state;
}

describe('the plugin wires the async tier in: jobs', () => {
  let a: Awaited<ReturnType<typeof instance>>;
  let b: Awaited<ReturnType<typeof instance>>;
  let workerBackend: BullMQBackend;
  let worker: Worker;
  // Each progress step waits for the test: the test decides when events happen.
  let released = 0;
  const step = (): void => { released++; };

  beforeAll(async () => {
    [a, b] = await Promise.all([instance(), instance()]);
    workerBackend = new BullMQBackend({ url: REDIS_URL, prefix });
    worker = new Worker(new Queue(workerBackend, 'exports'), async (ctx) => {
      for (let i = 1; i <= 3; i++) {
        await waitFor(`step ${i} released`, () => released >= i, { timeoutMs: 30_000 });
        await ctx.progress(i);
      }
      return 'ok';
    });
  });

  afterAll(async () => {
    await worker?.close({ graceMs: 0 });
    await Promise.all([a?.app.close(), b?.app.close()]);
    await Promise.all([a?.backend.close(), b?.backend.close(), workerBackend?.close()]);
  });

  it('streams a job enqueued on one instance through another, and resumes by Last-Event-ID after that one dies', async () => {
    const { id } = await (await fetch(`${a.url}/exports`, { method: 'POST' })).json() as { id: string };
    const first = connect(`${b.url}/exports/${id}/events`);
    await waitFor('the job is active', async () => (await a.app.jobs.queue('exports').getJob(id))?.state === 'active', { timeoutMs: 10_000 });
    step();
    const progress1 = await waitFor('progress 1 through b', () => first.frames.find((f) => f.type === 'progress' && f.data === 1), { timeoutMs: 10_000 });
    // Idle stream: keep-alive comments.
    await waitFor('a keep-alive comment', () => first.comments >= 2);

    // The instance holding the stream dies; the job goes on meanwhile.
    b.app.server.closeAllConnections();
    await first.closed;
    step();
    await waitFor('progress 2 stored', async () => (await a.app.jobs.queue('exports').getJob(id))?.progress === 2);

    const resumed = connect(`${a.url}/exports/${id}/events`, progress1.id);
    await waitFor('progress 2 after the reconnect', () => resumed.frames.some((f) => f.data === 2), { timeoutMs: 10_000 });
    step();
    await resumed.closed;
    const types = resumed.frames.map((f) => `${f.type}:${String(f.data)}`);
    expect(types).toEqual(['progress:2', 'progress:3', 'completed:ok']);

    // Polling, for clients without SSE: the same events after an id, and whether the job is over.
    const page = await (await fetch(`${a.url}/exports/${id}?after=${encodeURIComponent(progress1.id!)}`)).json() as { events: Array<{ type: string; data: unknown }>; lastId: string; done: boolean };
    expect(page.events.map((e) => `${e.type}:${String(e.data)}`)).toEqual(types);
    expect(page.done).toBe(true);
    expect(page.lastId).toBe(resumed.frames.at(-1)!.id);
  });

  it('refuses a jobs option without queues', async () => {
    const app = Fastify({ logger: false });
    await expect(app.register(scaleout, { shutdown: false, jobs: { queues: { x: {} as never } } })).rejects.toThrow(ScaleoutPluginOptionsError);
    await app.close().catch(() => undefined);
  });
});
