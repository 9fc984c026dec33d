/**
 * End-to-end latency of a job as its user sees it: from the POST that enqueues it to
 * its `completed` event arriving over Server-Sent Events, both through the scaleout
 * balancer (a process, `scaleout balancer`) to a Fastify app with the scaleout plugin,
 * a worker running the (no-op) job, BullMQ on the local Redis.
 *
 *   client ── POST /jobs ──► balancer ──► app: queue.add ──► { id }
 *   client ── GET /jobs/:id/events (SSE) ──► balancer ──► app: request.jobs.stream
 *   worker (this process) runs the job ──► tracker event ──► app ──► balancer ──► client
 *
 * Run: npx tsx bench/job-latency.ts [--jobs 200 --parallel 4 --docs]  (needs `npm run build`)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { scaleout } from '../src/fastify/index.js';
import { BullMQBackend, Queue, Worker } from '../src/jobs/index.js';
import { SseParser } from '../src/runtime/sse-parser.js';
import { writeSection } from './support/docs-section.js';
import { describeMachine, machineLine } from './support/machine.js';
import { freePort, waitForPort } from './support/net.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '200' },
    parallel: { type: 'string', default: '4' },
    docs: { type: 'boolean', default: false },
  },
});
const jobCount = Number(args.jobs);
const parallel = Number(args.parallel);
if (!(jobCount >= 1) || !(parallel >= 1)) {
  console.error('usage: tsx bench/job-latency.ts [--jobs N] [--parallel N] [--docs]');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: parallel * 2 });

function post(port: number, path: string): Promise<{ id: string }> {
  return new Promise((resolvePost, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => (res.statusCode === 200 ? resolvePost(JSON.parse(text) as { id: string }) : reject(new Error(`POST ${path}: ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves when the stream delivers the job's `completed` event. */
function completed(port: number, id: string): Promise<void> {
  return new Promise((resolveDone, reject) => {
    const parser = new SseParser();
    const req = http.get({ host: '127.0.0.1', port, path: `/jobs/${encodeURIComponent(id)}/events`, agent }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const m of parser.push(chunk)) {
          if ((JSON.parse(m.data) as { type: string }).type === 'completed') {
            resolveDone();
            req.destroy();
          }
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => reject(err));
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const prefix = `bench-latency-${randomBytes(4).toString('hex')}`;
  const backend = new BullMQBackend({ url: REDIS_URL, prefix });
  const queue = new Queue(backend, 'bench');
  const app = Fastify({ logger: false });
  await app.register(scaleout, { shutdown: false, jobs: { queues: { bench: queue } } });
  app.post('/jobs', async () => ({ id: (await app.jobs.queue('bench').add('noop', {})).id }));
  app.get<{ Params: { id: string } }>('/jobs/:id/events', (request, reply) => request.jobs.stream(request, reply, 'bench', request.params.id));
  const appUrl = new URL(await app.listen({ port: 0, host: '127.0.0.1' }));
  const workerBackend = new BullMQBackend({ url: REDIS_URL, prefix });
  const worker = new Worker(new Queue(workerBackend, 'bench'), async () => undefined, { concurrency: parallel });
  const port = await freePort();
  const balancer = spawn(process.execPath, [join(REPO, 'bin/scaleout.js'), 'balancer', '--listen', `127.0.0.1:${port}`, '--server', `app=${appUrl.host}`],
    { stdio: 'ignore', env: { ...process.env, NODE_ENV: 'production' } });
  try {
    await waitForPort('127.0.0.1', port);
    const one = async (): Promise<number> => {
      const began = performance.now();
      const { id } = await post(port, '/jobs');
      await completed(port, id);
      return performance.now() - began;
    };
    for (let i = 0; i < 20; i++) await one(); // warm-up
    const samples: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: parallel }, async () => {
      while (next++ < jobCount) samples.push(await one());
    }));
    samples.sort((a, b) => a - b);
    const p50 = percentile(samples, 50);
    const p99 = percentile(samples, 99);
    const line = `| ${samples.length} jobs, ${parallel} users at once | ${p50.toFixed(1)} | ${p99.toFixed(1)} | ${samples[samples.length - 1]!.toFixed(1)} |`;
    console.log('enqueue (POST) to the completed event over SSE, through the balancer (ms)\n');
    console.log('| run | p50 | p99 | max |\n| --- | --- | --- | --- |');
    console.log(line);
    if (args.docs) {
      writeSection(join(REPO, 'docs/benchmarks.md'), 'Jobs: from enqueue to the user\'s event', [
        `\`npx tsx bench/job-latency.ts\` (${new Date().toISOString().slice(0, 10)}; ${machineLine(describeMachine())}; the machine was shared with other work, load average ${loadavg()[0]!.toFixed(1)} at the end of the run, so figures move a lot between runs).`,
        '',
        'A client POSTs to enqueue a no-op job, then opens the job\'s SSE stream; both go through the scaleout balancer (its own process) to a Fastify app with the scaleout plugin; a worker (concurrency as the users) runs the job on BullMQ over the local Redis. The time is from the POST to the `completed` event read by the client, in milliseconds.',
        '',
        '| run | p50 | p99 | max |',
        '| --- | --- | --- | --- |',
        line,
      ].join('\n'), '# Benchmarks');
    }
  } finally {
    balancer.kill('SIGKILL');
    agent.destroy();
    await worker.close({ graceMs: 1000 });
    await app.close();
    queue.close();
    await backend.close();
    await workerBackend.close();
    const redis = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = nextCursor;
    } while (cursor !== '0');
    redis.disconnect();
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
