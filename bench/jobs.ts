/**
 * The async-tier benchmark: jobs enqueued and processed per second through
 * scaleout/jobs against the raw engine library underneath, in the same run:
 *
 * - BullMQ: `Queue.add` + a `Worker` with a no-op processor, against scaleout's Queue
 *   and Worker on the BullMQ backend (which also writes each job's record and events).
 * - pg-boss: `send` + `fetch`/`complete` loops with a no-op handler, against scaleout on
 *   pg-boss (whose consumer is such a loop, plus the record and events of each job).
 *
 * A producer adds `--jobs` jobs with `--concurrency` adds in flight while one worker
 * with the same concurrency runs them; the time is from the first add to the last job
 * done. Each scenario first runs a warm-up round (a quarter of the jobs, not counted:
 * JIT, the database's caches of a new schema). Then scenarios are interleaved over
 * rounds, raw first in even rounds and scaleout first in odd ones, so neither side
 * always follows the other's leftovers (autovacuum, dirty pages). Reported: the median
 * of each side, and each round's ratio scaleout / raw with their median, since the
 * two runs of one round share the machine's mood (target: 0.9 or more).
 *
 * Run: npm run bench:jobs (this with its defaults, then bench/job-latency.ts and
 * bench/static.ts: the async tier's three figures in one run), or with options
 * npx tsx bench/jobs.ts [--jobs 2000 --rounds 3 --concurrency 16 --only rawPgBoss,scaleoutPgBoss]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { BullMQBackend, PgBossBackend, Queue, Worker } from '../src/jobs/index.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.SCALEOUT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    // Comma-separated scenario names (rawBullmq, scaleoutBullmq, rawPgBoss, scaleoutPgBoss), e.g. to profile one.
    only: { type: 'string' },
  },
});
const jobs = Number(args.jobs);
const rounds = Number(args.rounds);
const concurrency = Number(args.concurrency);
if (!(jobs >= 1) || !(rounds >= 1) || !(concurrency >= 1)) {
  console.error('usage: npx tsx bench/jobs.ts [--jobs N] [--rounds N] [--concurrency N]');
  process.exit(2);
}

/** How long an idle pg-boss consumer waits before it asks again, raw and scaleout alike. */
const PG_POLL_MS = 50;
const tag = `bench-${process.pid}-${randomBytes(3).toString('hex')}`;

/** CPU time of this process per job in the last `drive` (ms): the client side's share of the work. */
let lastCpuMsPerJob = 0;

/** Jobs of the round being run: `jobs`, or fewer in the warm-up. */
let roundJobs = jobs;

/** Adds `roundJobs` jobs with `concurrency` in flight; resolves when `done()` reaches them. */
async function drive(add: (i: number) => Promise<unknown>, done: () => number): Promise<number> {
  const jobs = roundJobs;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < jobs) await add(next++);
  }));
  while (done() < jobs) await new Promise((r) => setTimeout(r, 2));
  const cpu = process.cpuUsage(cpu0);
  lastCpuMsPerJob = (cpu.user + cpu.system) / 1_000 / jobs;
  return jobs / ((performance.now() - t0) / 1_000);
}

async function rawBullmq(round: number): Promise<number> {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const name = `raw-${round}`;
  const q = new BullQueue(name, { connection, prefix: `${tag}-raw` });
  let count = 0;
  const w = new BullWorker(name, async () => { count += 1; }, { connection, prefix: `${tag}-raw`, concurrency });
  try {
    return await drive((i) => q.add('j', { i }, { removeOnComplete: true }), () => count);
  } finally {
    await w.close();
    await q.obliterate({ force: true });
    await q.close();
    await connection.quit();
  }
}

async function scaleoutBullmq(round: number): Promise<number> {
  const backend = new BullMQBackend({ url: REDIS_URL, prefix: `${tag}-so` });
  const q = new Queue<{ i: number }>(backend, `so-${round}`);
  await q.ready();
  let count = 0;
  const w = new Worker(q, async () => { count += 1; }, { concurrency });
  try {
    return await drive((i) => q.add('j', { i }), () => count);
  } finally {
    await w.close({ graceMs: 0 });
    await backend.close();
  }
}

async function rawPgBoss(round: number): Promise<number> {
  const boss = new PgBoss({ connectionString: DATABASE_URL, schema: `${tag.replaceAll('-', '_')}_raw`, schedule: false, supervise: false });
  await boss.start();
  const name = `raw-${round}`;
  await boss.createQueue(name);
  let count = 0;
  let stop = false;
  // The scaleout backend's polling on raw pg-boss: one loop fetches as many jobs as it
  // has free slots, and again at once while it finds some (pg-boss's own work() waits an
  // interval even after a full batch, which would cap it at batchSize per interval);
  // each job is completed on its own.
  let running = 0;
  let slotFreed: (() => void) | undefined;
  const loop = (async () => {
    while (!stop) {
      const free = concurrency - running;
      if (free === 0) {
        await new Promise<void>((resolve) => { slotFreed = resolve; });
        slotFreed = undefined;
        continue;
      }
      const jobs = await boss.fetch(name, { batchSize: free }) ?? [];
      if (jobs.length === 0) { await new Promise((r) => setTimeout(r, PG_POLL_MS)); continue; }
      for (const job of jobs) {
        running += 1;
        void boss.complete(name, job.id).then(() => {
          count += 1;
          running -= 1;
          slotFreed?.();
        });
      }
    }
  })();
  try {
    return await drive((i) => boss.send(name, { i }), () => count);
  } finally {
    stop = true;
    slotFreed?.();
    await loop;
    await boss.stop({ graceful: false, wait: true, timeout: 1_000 });
  }
}

async function scaleoutPgBoss(round: number): Promise<number> {
  const backend = new PgBossBackend({ connectionString: DATABASE_URL, schema: `${tag.replaceAll('-', '_')}_so`, pollIntervalMs: PG_POLL_MS });
  const q = new Queue<{ i: number }>(backend, `so-${round}`);
  await q.ready();
  let count = 0;
  const w = new Worker(q, async () => { count += 1; }, { concurrency });
  try {
    return await drive((i) => q.add('j', { i }), () => count);
  } finally {
    await w.close({ graceMs: 0 });
    await backend.close();
  }
}

async function cleanup(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${tag}*`, 'COUNT', 1_000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = nextCursor;
  } while (cursor !== '0');
  await redis.quit();
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  const base = tag.replaceAll('-', '_');
  for (const s of [`${base}_raw`, `${base}_so`, `${base}_so_t`]) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const scenarios = { rawBullmq, scaleoutBullmq, rawPgBoss, scaleoutPgBoss };
const results: Record<keyof typeof scenarios, number[]> = { rawBullmq: [], scaleoutBullmq: [], rawPgBoss: [], scaleoutPgBoss: [] };
const cpuMs: Record<keyof typeof scenarios, number[]> = { rawBullmq: [], scaleoutBullmq: [], rawPgBoss: [], scaleoutPgBoss: [] };
/** The raw and scaleout scenarios of each engine, in that order. */
const pairs = [['rawBullmq', 'scaleoutBullmq'], ['rawPgBoss', 'scaleoutPgBoss']] as const;
const wanted = (name: string): boolean => args.only === undefined || args.only.split(',').includes(name);
/** Round number of the warm-up: its queue names stay apart from the counted rounds'. */
const WARMUP_ROUND = 1_000;
try {
  roundJobs = Math.max(100, Math.floor(jobs / 4));
  for (const pair of pairs) for (const name of pair) if (wanted(name)) await scenarios[name](WARMUP_ROUND);
  roundJobs = jobs;
  for (let round = 0; round < rounds; round += 1) {
    for (const pair of pairs) {
      for (const name of round % 2 === 0 ? pair : [...pair].reverse()) {
        if (!wanted(name)) continue;
        results[name].push(await scenarios[name](round));
        cpuMs[name].push(lastCpuMsPerJob);
      }
    }
  }
} finally {
  await cleanup();
}
const fmt = (n: number): string => n.toFixed(0).padStart(7);
/** Each round's ratio scaleout / raw, and their median. */
function roundRatios(raw: number[], ours: number[]): string {
  const ratios = ours.map((x, i) => x / (raw[i] ?? Number.NaN));
  return `rounds ${ratios.map((r) => r.toFixed(2)).join(', ')}; median of rounds ${median(ratios).toFixed(2)}x`;
}
console.log(`jobs enqueued + processed per second (${jobs} jobs, concurrency ${concurrency}, median of ${rounds} after a warm-up)`);
console.log(`BullMQ   raw ${fmt(median(results.rawBullmq))}   scaleout ${fmt(median(results.scaleoutBullmq))}   ratio ${(median(results.scaleoutBullmq) / median(results.rawBullmq)).toFixed(2)}x   (${roundRatios(results.rawBullmq, results.scaleoutBullmq)})`);
console.log(`pg-boss  raw ${fmt(median(results.rawPgBoss))}   scaleout ${fmt(median(results.scaleoutPgBoss))}   ratio ${(median(results.scaleoutPgBoss) / median(results.rawPgBoss)).toFixed(2)}x   (${roundRatios(results.rawPgBoss, results.scaleoutPgBoss)})`);
console.log(`bench process CPU per job (ms, median): BullMQ raw ${median(cpuMs.rawBullmq).toFixed(3)} scaleout ${median(cpuMs.scaleoutBullmq).toFixed(3)}; pg-boss raw ${median(cpuMs.rawPgBoss).toFixed(3)} scaleout ${median(cpuMs.scaleoutPgBoss).toFixed(3)}`);
