/**
 * The cache benchmark, in one run, all in this process against the Redis on
 * 127.0.0.1:6379 (REDIS_URL):
 *
 * 1. L1 hit: `cache.getOrSet` on keys that are in L1, against the same cache-aside
 *    written by hand over a raw `lru-cache` (an async function, as an app awaits it),
 *    and against bentocache with its memory driver (target: >= 0.8x raw lru-cache).
 * 2. L2 hit: `cache.getOrSet` with L1 off, so every call reads Redis, against a raw
 *    ioredis GET + JSON.parse and against bentocache with only its redis driver
 *    (target: within 1.2x of raw ioredis, i.e. >= 0.83x its ops/s). The raw GET is also
 *    shown with ioredis auto-pipelining and with the socket corked per tick, the way
 *    `RedisL2Store` sends its reads, to tell the cache's own cost from the batching's gain.
 *
 * 3. Cached queries and write-behind (bench/cache-policies.ts): a cached query hit
 *    against the raw PostgreSQL query, and acknowledged write-behind writes against
 *    direct PostgreSQL writes.
 *
 * Scenarios are interleaved over several rounds and the median is reported.
 * Prints ratios and writes docs/benchmarks.md (## Cache, ## Cache: queries and write-behind).
 *
 * Run: npm run bench:cache [-- --duration 2 --rounds 5 --concurrency 16 --part objects|policies|shop|all]
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
// The built library, as users run it (`npm run bench:cache` builds first).
import { Cache, RedisL2Store } from '../dist/cache/index.js';
import { writeSection } from './support/docs-section.js';
import { runPolicyBench } from './cache-policies.js';
import { DEMO_ORDERS, runShopBench } from './cache-shop.js';

/** Seconds each scenario is measured per round. @defaultValue 2 */
export const DEFAULT_DURATION_S = 2;
/** @defaultValue 5 */
export const DEFAULT_ROUNDS = 5;
/** Concurrent callers in the L2 scenarios (each awaits, then calls again). @defaultValue 16 */
export const DEFAULT_CONCURRENCY = 16;
/** Distinct keys cycled through. @defaultValue 1000 */
export const KEYS = 1_000;
/** @defaultValue */
export const TARGET_L1_VS_LRU = 0.8;
/** Within 1.2x of raw ioredis: at least 1/1.2 of its ops/s. */
export const TARGET_L2_VS_IOREDIS = 1 / 1.2;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: String(DEFAULT_DURATION_S) },
    rounds: { type: 'string', default: String(DEFAULT_ROUNDS) },
    concurrency: { type: 'string', default: String(DEFAULT_CONCURRENCY) },
    'no-docs': { type: 'boolean', default: false },
    part: { type: 'string', default: 'all' },
  },
});
const durationMs = Number(args.duration) * 1000;
const rounds = Number(args.rounds);
const concurrency = Number(args.concurrency);
if (!(durationMs > 0) || !(rounds >= 1) || !(concurrency >= 1) || !['objects', 'policies', 'shop', 'all'].includes(args.part)) {
  console.error('usage: npx tsx bench/cache.ts [--duration S] [--rounds N] [--concurrency N] [--part objects|policies|shop|all] [--no-docs]');
  process.exit(2);
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// Every section written by one run carries the same start time, so the docs show which figures belong together.
const RUN_AT = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
/** The ratios the cache's targets name, collected from every part of the run and printed together at the end. */
const summary: string[] = [];
const run = randomBytes(4).toString('hex');
const keys = Array.from({ length: KEYS }, (_, i) => `product_page:${i}`);
// A small cached object, the size of a product card.
const value = (i: number): object => ({ id: i, name: `Product ${i}`, price: 1999 + i, tags: ['a', 'b'], description: 'x'.repeat(200) });
const neverCalled = (): never => { throw new Error('the benchmark only measures hits'); };

interface Scenario { name: string; group: 'L1 hit' | 'L2 hit'; callers: number; op: (key: string) => Promise<unknown> }

interface Sample { opsPerS: number; cpuUsPerOp: number }

/** Ops/s of `op` over `durationMs` with `callers` concurrent loops, and this process's CPU time per op. */
async function measure(s: Scenario): Promise<Sample> {
  let ops = 0;
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  await Promise.all(Array.from({ length: s.callers }, async (_, c) => {
    let i = c * 97;
    while (performance.now() < deadline) {
      // Batches keep the clock read off the hot path.
      for (let b = 0; b < 64; b++) {
        await s.op(keys[i++ % KEYS]!);
        ops++;
      }
    }
  }));
  const cpu = process.cpuUsage(cpuAtStart);
  return { opsPerS: ops / ((performance.now() - started) / 1000), cpuUsPerOp: (cpu.user + cpu.system) / ops };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const prefix = `scaleout-bench:cache:${run}:`;
  const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(' / ');

  // L1 contenders, all filled with the same objects.
  const lru = new LRUCache<string, object>({ max: 10_000 });
  const rawL1GetOrSet = async (key: string, loader: () => object | Promise<object>): Promise<object> => {
    const hit = lru.get(key);
    if (hit !== undefined) return hit;
    const v = await loader();
    lru.set(key, v);
    return v;
  };
  const l1Cache = new Cache({ defaultTtlMs: 3_600_000 });
  const bentoMemory = new BentoCache({ default: 'm', stores: { m: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) } });

  // L2 contenders, each reading its own copy of the objects in Redis.
  const redis = new Redis(REDIS_URL);
  const redisPipelined = new Redis(REDIS_URL, { enableAutoPipelining: true });
  const redisCorked = new Redis(REDIS_URL);
  // What RedisL2Store does: while GETs await replies, the socket corked for the rest of the tick.
  let corked: Redis['stream'] | undefined;
  const uncork = (): void => { const stream = corked; corked = undefined; stream?.uncork(); };
  const corkedGet = (key: string): Promise<string | null> => {
    if (corked === undefined && redisCorked.status === 'ready' && redisCorked.commandQueue.length > 0) { corked = redisCorked.stream; corked.cork(); process.nextTick(uncork); }
    return redisCorked.get(key);
  };
  const l2Store = new RedisL2Store({ url: REDIS_URL, keyPrefix: `${prefix}s:` });
  const l2Cache = new Cache({ l2: l2Store, l1: false, defaultTtlMs: 3_600_000 });
  const bentoRedisConn = new Redis(REDIS_URL, { keyPrefix: `${prefix}b:` });
  const bentoRedis = new BentoCache({ default: 'r', stores: { r: bentostore().useL2Layer(redisDriver({ connection: bentoRedisConn })) } });

  for (let i = 0; i < KEYS; i++) {
    const k = keys[i]!;
    await rawL1GetOrSet(k, () => value(i));
    await l1Cache.getOrSet(k, () => value(i));
    await bentoMemory.getOrSet({ key: k, factory: () => value(i), ttl: '1h' });
    await redis.set(`${prefix}r:${k}`, JSON.stringify(value(i)), 'PX', 3_600_000);
    await l2Cache.getOrSet(k, () => value(i));
    await bentoRedis.getOrSet({ key: k, factory: () => value(i), ttl: '1h' });
  }

  const scenarios: Scenario[] = [
    { name: 'raw lru-cache (hand-written cache-aside)', group: 'L1 hit', callers: 1, op: (k) => rawL1GetOrSet(k, neverCalled) },
    { name: 'scaleout Cache (L1)', group: 'L1 hit', callers: 1, op: (k) => l1Cache.getOrSet(k, neverCalled) },
    { name: 'bentocache (memory driver)', group: 'L1 hit', callers: 1, op: (k) => bentoMemory.getOrSet({ key: k, factory: neverCalled, ttl: '1h' }) },
    { name: 'raw ioredis GET + JSON.parse', group: 'L2 hit', callers: concurrency, op: async (k) => JSON.parse((await redis.get(`${prefix}r:${k}`))!) },
    { name: 'raw ioredis GET + JSON.parse, auto-pipelining', group: 'L2 hit', callers: concurrency, op: async (k) => JSON.parse((await redisPipelined.get(`${prefix}r:${k}`))!) },
    { name: 'raw ioredis GET + JSON.parse, socket corked per tick', group: 'L2 hit', callers: concurrency, op: async (k) => JSON.parse((await corkedGet(`${prefix}r:${k}`))!) },
    { name: 'scaleout Cache (L2 Redis, L1 off)', group: 'L2 hit', callers: concurrency, op: (k) => l2Cache.getOrSet(k, neverCalled) },
    { name: 'bentocache (redis driver, no L1)', group: 'L2 hit', callers: concurrency, op: (k) => bentoRedis.getOrSet({ key: k, factory: neverCalled, ttl: '1h' }) },
  ];

  const samples = new Map<string, number[]>(scenarios.map((s) => [s.name, []]));
  const cpuSamples = new Map<string, number[]>(scenarios.map((s) => [s.name, []]));
  // One short warm-up round so the JIT has seen every path before measuring.
  for (const s of scenarios) await measure({ ...s, op: s.op }).then(() => undefined);
  for (let r = 0; r < rounds; r++) {
    for (const s of scenarios) {
      const { opsPerS, cpuUsPerOp } = await measure(s);
      samples.get(s.name)!.push(opsPerS);
      cpuSamples.get(s.name)!.push(cpuUsPerOp);
      console.log(`round ${r + 1}/${rounds}  ${s.group}  ${s.name}: ${Math.round(opsPerS).toLocaleString('en-US')} ops/s, ${cpuUsPerOp.toFixed(2)} µs CPU/op`);
    }
  }

  const med = (name: string): number => median(samples.get(name)!);
  const cpuMed = (name: string): number => median(cpuSamples.get(name)!);
  const rows: string[][] = [['scenario', 'contender', 'ops/s (median)', 'vs raw', 'CPU µs/op (median)', 'CPU vs raw']];
  for (const s of scenarios) {
    const raw = s.group === 'L1 hit' ? scenarios[0]! : scenarios[3]!;
    rows.push([s.group, s.name, Math.round(med(s.name)).toLocaleString('en-US'), `${(med(s.name) / med(raw.name)).toFixed(2)}x`,
      cpuMed(s.name).toFixed(2), `${(cpuMed(s.name) / cpuMed(raw.name)).toFixed(2)}x`]);
  }
  const l1Ratio = med(scenarios[1]!.name) / med(scenarios[0]!.name);
  const l1VsBento = med(scenarios[1]!.name) / med(scenarios[2]!.name);
  const l2Ratio = med(scenarios[6]!.name) / med(scenarios[3]!.name);
  const l2VsPipelined = med(scenarios[6]!.name) / med(scenarios[4]!.name);
  const l2VsCorked = med(scenarios[6]!.name) / med(scenarios[5]!.name);
  const l2VsBento = med(scenarios[6]!.name) / med(scenarios[7]!.name);
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const ratios = [
    `L1 hit vs raw lru-cache: ${l1Ratio.toFixed(2)}x — target >= ${TARGET_L1_VS_LRU}x: ${verdict(l1Ratio >= TARGET_L1_VS_LRU)}`,
    `L1 hit vs bentocache (memory): ${l1VsBento.toFixed(2)}x`,
    `L2 hit vs raw ioredis GET: ${l2Ratio.toFixed(2)}x (a call costs ${(1 / l2Ratio).toFixed(2)}x raw) — target within 1.2x: ${verdict(l2Ratio >= TARGET_L2_VS_IOREDIS)}`,
    `L2 hit CPU per op vs raw ioredis GET: ${(cpuMed(scenarios[6]!.name) / cpuMed(scenarios[3]!.name)).toFixed(2)}x`,
    `L2 hit vs raw ioredis GET with auto-pipelining: ${l2VsPipelined.toFixed(2)}x`,
    `L2 hit vs raw ioredis GET with the socket corked per tick (as the store sends it): ${l2VsCorked.toFixed(2)}x ops/s, ${(cpuMed(scenarios[6]!.name) / cpuMed(scenarios[5]!.name)).toFixed(2)}x CPU per op`,
    `L2 hit vs bentocache (redis): ${l2VsBento.toFixed(2)}x`,
  ];
  summary.push(ratios[0]!, ratios[1]!, ratios[2]!, ratios[6]!);
  const machine = `${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}; Node ${process.version}; Redis at ${REDIS_URL.replace(/\/\/[^@]*@/, '//')}`;
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`\n${rows.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n')}\n\n${ratios.join('\n')}\n\nmachine: ${machine}`);

  if (!args['no-docs']) {
    const [header, ...body] = rows;
    const table = [header!, header!.map((_, i) => (i < 2 ? '---' : '---:')), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
    const docs = resolve(fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url)));
    writeSection(docs, 'Cache', [
      `Measured by \`npm run bench:cache\` (run of ${RUN_AT}; ${rounds} rounds x ${durationMs / 1000} s per scenario, interleaved, median; ${KEYS} keys;`,
      `L1 hits from 1 caller, L2 hits from ${concurrency} concurrent callers; values are ~300-byte JSON objects).`,
      'CPU is this process\'s user + system time per operation (Redis\'s own time not included); on a machine shared with',
      'other work it is steadier than ops/s.',
      '', `Machine: ${machine}.`, '', table, '', ...ratios.map((r) => `- ${r}`), '',
      `The machine is shared with other work (load average ${loadAtStart} at the start, ${loadavg().map((l) => l.toFixed(1)).join(' / ')} at the end).`,
      '"raw lru-cache" is the cache-aside an app writes by hand: an async function that returns the LRU\'s value or loads it.',
      'An L1 hit of the scaleout cache also checks the entry\'s TTL, its tags and its age against `l1MaxStaleMs`; an L2 hit',
      'adds the breaker, a timeout per call and the entry\'s header (times, version, tags) to the raw GET. `RedisL2Store`',
      'corks its socket for the GETs of one tick (one write for all of them), so the raw GET is shown plain (the target, as an',
      'app writes it), with ioredis auto-pipelining, and corked the same way (the cache\'s own cost: the ratio to that row).',
    ].join('\n'), '# Benchmarks\n\nEach section is written by its benchmark in `bench/`.');
    console.log(`\nwrote ${docs} (## Cache)`);
  }

  await l1Cache.close();
  await l2Cache.close();
  await bentoMemory.disconnectAll();
  await bentoRedis.disconnectAll().catch(() => undefined);
  await l2Store.close();
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    if (found.length > 0) await redis.del(...found);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
  await redisPipelined.quit();
  await redisCorked.quit();
  bentoRedisConn.disconnect();
}

async function policies(): Promise<void> {
  const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(' / ');
  const { rows, ratios } = await runPolicyBench({ durationMs, rounds, concurrency, redisUrl: REDIS_URL });
  summary.push(...ratios.slice(0, 3));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`\n${rows.map((r) => r.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n')}\n\n${ratios.join('\n')}`);
  if (args['no-docs']) return;
  const [header, ...body] = rows;
  const table = [header!, ['---', '---:', '---:'], ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
  const machine = `${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}; Node ${process.version}`;
  const docs = resolve(fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url)));
  writeSection(docs, 'Cache: queries and write-behind', [
    `Measured by \`npm run bench:cache\` (run of ${RUN_AT}; part \`policies\`; ${rounds} rounds x ${durationMs / 1000} s per contender, interleaved, median;`,
    `${concurrency} concurrent callers; PostgreSQL on 127.0.0.1:5432 with synchronous_commit on; the write-behind log is a`,
    'redis-server started for the run with `appendonly yes`, `appendfsync everysec`, or a PostgreSQL table in the same database;',
    'the cache L2 is the Redis on 6379).',
    '', `Machine: ${machine}.`, '', table, '', ...ratios.map((r) => `- ${r}`), '',
    `The machine is shared with other work (load average ${loadAtStart} at the start, ${loadavg().map((l) => l.toFixed(1)).join(' / ')} at the end).`,
    'The cached query is a two-table join by primary key over 1 000 products, the cheapest kind of query for PostgreSQL, so',
    'the ratio is a floor: a heavier query gains more. A direct write waits for the WAL flush of its commit; a write-behind write',
    'waits for Redis to take it, or for the commit of one INSERT into the log table (one WAL flush, like the direct write, but',
    'no row lock on the product: writes to one key do not queue behind each other), plus the cache set; it reaches the database',
    'later, in batches.',
  ].join('\n'), '# Benchmarks\n\nEach section is written by its benchmark in `bench/`.');
  console.log(`\nwrote ${docs} (## Cache: queries and write-behind)`);
}

/** Seconds of autocannon per shop run (with and without the cache). @defaultValue 10 */
export const SHOP_DURATION_S = 10;
/** @defaultValue 32 */
export const SHOP_CONNECTIONS = 32;

async function shop(): Promise<void> {
  const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(' / ');
  const { rows, ratios, pageDbMs } = await runShopBench({ durationMs: SHOP_DURATION_S * 1000, connections: SHOP_CONNECTIONS, redisUrl: REDIS_URL });
  summary.push(...ratios);
  console.log(`\n${rows.map((r) => r.join(' | ')).join('\n')}\n\n${ratios.join('\n')}`);
  if (args['no-docs']) return;
  const [header, ...body] = rows;
  const table = [header!, ['---', '---:', '---:', '---:', '---'], ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
  const machine = `${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}; Node ${process.version}`;
  const docs = resolve(fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url)));
  writeSection(docs, 'Cache: the shop and the stampede', [
    `Measured by \`npm run bench:cache\` (run of ${RUN_AT}; part \`shop\`): a \`scaleout up\` of the shop (3 instances, embedded PostgreSQL with a`,
    `synchronous replica, 2 shard databases, the sessions' Redis and the cache's own Redis; ${DEMO_ORDERS.toLocaleString('en-US')} orders of demo`,
    `customers seeded with SHOP_DEMO_ORDERS), GET /products/3 as HTML, anonymous, through the balancer, autocannon ${SHOP_CONNECTIONS} connections`,
    `for ${SHOP_DURATION_S} s after a 2 s warm-up, once with \`SHOP_CACHE=off\` and once with the cache.`,
    'The stampede: 3 node processes, each with its own `Cache` (L1 off) on the Redis at 6379, start their share of 1000',
    '`getOrSet` calls of one missing key at once; the loader takes 200 ms and counts its calls with INCR in Redis.',
    '', `Machine: ${machine}.`, '', table, '', ...ratios.map((r) => `- ${r}`), '',
    `Load average ${loadAtStart} at the start, ${loadavg().map((l) => l.toFixed(1)).join(' / ')} at the end; everything (load generator,`,
    'balancer, instances, engines) shares the 2 cores with other jobs on the machine, so the absolute numbers are low and the',
    'ratio is what to read.',
    '',
    'What a request does. Both: the balancer hop, Fastify, the session lookup (none for an anonymous visitor: no cookie),',
    'the security headers, the page layout (header with the visitor\'s login and cart, footer with the instance and the',
    'object\'s source). Without the cache, the product page object is built on every request: the product by primary key',
    '(replica), its stock (primary), "bought together" (for each of the 2 shards, every order holding the product through a',
    'GIN index, its other items counted per product; the counts summed), the related products by primary key, and the',
    `product's part of the page rendered (${pageDbMs}). With the cache, the object comes from L1 (checked against L2`,
    'every 5 s), already rendered: only the layout around it is built per request.',
  ].join('\n'), '# Benchmarks\n\nEach section is written by its benchmark in `bench/`.');
  console.log(`\nwrote ${docs} (## Cache: the shop and the stampede)`);
}

if (args.part === 'objects' || args.part === 'all') await main();
if (args.part === 'policies' || args.part === 'all') await policies();
if (args.part === 'shop' || args.part === 'all') await shop();
console.log(`\nThe ratios of this run (${RUN_AT}):\n${summary.map((r) => `- ${r}`).join('\n')}`);
