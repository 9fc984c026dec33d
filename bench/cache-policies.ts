/**
 * The second half of `npm run bench:cache`: cached queries and write-behind, against
 * PostgreSQL (DATABASE_URL, else 127.0.0.1:5432/test) and Redis.
 *
 * 1. Cached query hit (L1, and L2 with L1 off) of a two-table join by primary key,
 *    against the same query sent to PostgreSQL with a raw `pg` pool.
 * 2. Write-behind: acknowledged writes/s (`XADD` to a Redis with `appendonly yes`,
 *    `appendfsync everysec`, started for the run, plus the versioned cache set)
 *    against direct autocommit `UPDATE`s through a raw `pg` pool; then how fast one
 *    flusher drains the log into the database.
 *
 * Writes the `## Cache: queries and write-behind` section of docs/benchmarks.md.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Cache, PostgresTableLog, RedisL2Store, WriteBehind, WriteBehindFlusher } from '../dist/cache/index.js';
import { createDatabase } from '../dist/db/index.js';

export interface PolicyBenchOptions { durationMs: number; rounds: number; concurrency: number; redisUrl: string }
export interface PolicyBenchResult { rows: string[][]; ratios: string[] }

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROWS = 1_000;
const DRAIN_LIMIT_MS = 15_000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function measure(callers: number, durationMs: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let ops = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(Array.from({ length: callers }, async (_, c) => {
    let i = c * 97;
    while (performance.now() < deadline) {
      for (let b = 0; b < 16; b++) { await op(i++); ops++; }
    }
  }));
  return ops / ((performance.now() - started) / 1000);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runPolicyBench(o: PolicyBenchOptions): Promise<PolicyBenchResult> {
  const run = randomBytes(4).toString('hex');
  const products = `bench_qc_products_${run}`;
  const categories = `bench_qc_categories_${run}`;
  const kv = `bench_wb_kv_${run}`;
  const offsets = `bench_wb_offsets_${run}`;
  const logTable = `bench_wb_log_${run}`;
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: o.concurrency });
  const db = createDatabase({ primary: DATABASE_URL, pool: { max: o.concurrency } });
  await db.ready();
  await pool.query(`CREATE TABLE ${categories} (id int PRIMARY KEY, name text NOT NULL)`);
  await pool.query(`CREATE TABLE ${products} (id int PRIMARY KEY, name text NOT NULL, price int NOT NULL, category_id int NOT NULL)`);
  await pool.query(`INSERT INTO ${categories} SELECT i, 'category ' || i FROM generate_series(1, 20) i`);
  await pool.query(`INSERT INTO ${products} SELECT i, 'product ' || i, 1000 + i, 1 + i % 20 FROM generate_series(1, ${ROWS}) i`);
  await pool.query(`CREATE TABLE ${kv} (key text PRIMARY KEY, value jsonb NOT NULL)`);
  await pool.query(`INSERT INTO ${kv} SELECT 'k' || i, '{}' FROM generate_series(0, ${ROWS - 1}) i`);

  const prefix = `scaleout-bench:qc:${run}:`;
  const l2 = new RedisL2Store({ url: o.redisUrl, keyPrefix: prefix });
  const l1Cache = new Cache({ l2, defaultTtlMs: 3_600_000 });
  const l2Cache = new Cache({ l2, l1: false, defaultTtlMs: 3_600_000 });
  const sql = `SELECT p.id, p.name, p.price, c.name AS category FROM ${products} p JOIN ${categories} c ON c.id = p.category_id WHERE p.id = $1`;
  for (let i = 1; i <= ROWS; i++) await l1Cache.query(db, sql, [i]);

  // A Redis of the run's own, with the AOF on as write-behind needs it.
  const dir = mkdtempSync(join(tmpdir(), 'scaleout-bench-aof-'));
  const port = await freePort();
  const aofRedis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--appendfsync', 'everysec'], { stdio: 'ignore' });
  const logUrl = `redis://127.0.0.1:${port}`;
  const probe = new Redis(logUrl, { retryStrategy: () => 50 });
  probe.on('error', () => undefined);
  for (let i = 0; i < 100 && probe.status !== 'ready'; i++) await delay(50);
  const wbCache = new Cache({ l2, defaultTtlMs: 3_600_000 });
  const log = new WriteBehind({ stream: `bench:${run}`, url: logUrl, cache: wbCache });
  // The postgres profile's log: a table in the database the flusher writes to.
  // As many connections as the raw writes get, so both can group their commits alike.
  const pgLogPool = new pg.Pool({ connectionString: DATABASE_URL, max: o.concurrency });
  const pgLog = new PostgresTableLog({ table: logTable, pool: pgLogPool });
  const pgLogWriter = new WriteBehind({ log: pgLog, cache: wbCache });

  const scenarios: { name: string; op: (i: number) => Promise<unknown> }[] = [
    { name: 'raw pg query (join by primary key)', op: (i) => pool.query(sql, [1 + (i % ROWS)]) },
    { name: 'scaleout cache.query, L1 hit', op: (i) => l1Cache.query(db, sql, [1 + (i % ROWS)]) },
    { name: 'scaleout cache.query, L2 hit (L1 off)', op: (i) => l2Cache.query(db, sql, [1 + (i % ROWS)]) },
    { name: 'raw pg UPDATE (autocommit, synchronous_commit on)', op: (i) => pool.query(`UPDATE ${kv} SET value = $2 WHERE key = $1`, [`k${i % ROWS}`, { n: i }]) },
    { name: 'scaleout write-behind write (XADD, AOF everysec, + cache set)', op: (i) => log.write(`k${i % ROWS}`, { n: i }) },
    { name: 'scaleout write-behind write (PostgreSQL table log INSERT, + cache set)', op: (i) => pgLogWriter.write(`k${i % ROWS}`, { n: i }) },
  ];
  const samples = new Map(scenarios.map((s) => [s.name, [] as number[]]));
  for (const s of scenarios) await measure(o.concurrency, Math.min(500, o.durationMs), s.op);
  for (let r = 0; r < o.rounds; r++) {
    for (const s of scenarios) {
      const opsPerS = await measure(o.concurrency, o.durationMs, s.op);
      samples.get(s.name)!.push(opsPerS);
      console.log(`round ${r + 1}/${o.rounds}  ${s.name}: ${Math.round(opsPerS).toLocaleString('en-US')} ops/s`);
    }
  }

  // Drain what the write-behind rounds logged, with one flusher.
  const pending = await log.pending();
  const flusher = new WriteBehindFlusher<{ n: number }>({
    stream: `bench:${run}`, url: logUrl, db, offsetsTable: offsets, batchSize: 500,
    // One set-based statement per batch.
    applyBatch: async (tx, writes) => {
      await tx.query(`UPDATE ${kv} SET value = w.value FROM (SELECT unnest($1::text[]) AS key, unnest($2::jsonb[]) AS value) w WHERE ${kv}.key = w.key`,
        [writes.map((w) => w.key), writes.map((w) => JSON.stringify(w.value))]);
    },
  });
  const drainStart = performance.now();
  // Bounded, so a slow database does not stretch the run: the rate is what counts.
  while (performance.now() - drainStart < DRAIN_LIMIT_MS && (await flusher.flushOnce()) > 0) { /* next batch */ }
  const drainS = (performance.now() - drainStart) / 1000;
  const stats = flusher.stats();

  const med = (name: string): number => median(samples.get(name)!);
  const [rawQuery, l1Hit, l2Hit, rawUpdate, wbWrite, wbPgWrite] = scenarios.map((s) => s.name) as [string, string, string, string, string, string];
  const rows: string[][] = [['contender', 'ops/s (median)', 'vs raw']];
  for (const name of [rawQuery, l1Hit, l2Hit]) rows.push([name, Math.round(med(name)).toLocaleString('en-US'), `${(med(name) / med(rawQuery)).toFixed(2)}x`]);
  for (const name of [rawUpdate, wbWrite, wbPgWrite]) rows.push([name, Math.round(med(name)).toLocaleString('en-US'), `${(med(name) / med(rawUpdate)).toFixed(2)}x`]);
  const ratios = [
    `cached query L1 hit vs raw PostgreSQL query: ${(med(l1Hit) / med(rawQuery)).toFixed(2)}x`,
    `cached query L2 hit vs raw PostgreSQL query: ${(med(l2Hit) / med(rawQuery)).toFixed(2)}x`,
    `write-behind acknowledged writes vs direct PostgreSQL writes: ${(med(wbWrite) / med(rawUpdate)).toFixed(2)}x (Redis stream log), ` +
      `${(med(wbPgWrite) / med(rawUpdate)).toFixed(2)}x (PostgreSQL table log)`,
    `flusher applied ${stats.applied.toLocaleString('en-US')} of ${pending.toLocaleString('en-US')} logged entries in ${drainS.toFixed(1)} s: ${Math.round(stats.applied / drainS).toLocaleString('en-US')} entries/s ` +
      `(${stats.batches} transactions of up to 500 entries, coalesced per key, one set-based UPDATE each)`,
  ];

  await flusher.close();
  await log.close();
  await pgLogWriter.close();
  await pgLog.close();
  await pgLogPool.end();
  probe.disconnect();
  aofRedis.kill('SIGTERM');
  await new Promise((r) => aofRedis.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  await Promise.all([l1Cache.close(), l2Cache.close(), wbCache.close()]);
  const cleanup = new Redis(o.redisUrl);
  let cursor = '0';
  do {
    const [next, found] = await cleanup.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    if (found.length > 0) await cleanup.del(...found);
    cursor = next;
  } while (cursor !== '0');
  await cleanup.quit();
  await l2.close();
  for (const t of [products, categories, kv, offsets, logTable]) await pool.query(`DROP TABLE IF EXISTS ${t}`);
  await pool.end();
  await db.close();
  return { rows, ratios };
}
