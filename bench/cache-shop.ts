/**
 * The cache in a deployment (`npm run bench:cache -- --part shop`):
 *
 *  1. Product page req/s through the balancer of a `scaleout up` of the shop with an
 *     order history ({@link DEMO_ORDERS}), with the cache (the page object, rendered,
 *     from L1/L2) and without (`SHOP_CACHE=off`: every request reads the product, its
 *     stock, counts "bought together" over both shards' orders and reads the related
 *     products), measured with autocannon.
 *  2. The cross-process stampede: 3 processes, each with its own `Cache` on one Redis
 *     L2, miss one key 1000 times at once in total; the loader counts its calls in Redis.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const STAMPEDE_PROCESSES = 3;
const STAMPEDE_CALLERS = 1000;
const STAMPEDE_LOADER_MS = 200;
/** The shop's order history (SHOP_DEMO_ORDERS): what "bought together" on a product page counts over. */
export const DEMO_ORDERS = 5_000;

export interface ShopBenchOptions {
  durationMs: number;
  connections: number;
  redisUrl: string;
}

export interface ShopBenchResult {
  rows: string[][];
  ratios: string[];
  /** How long one product page takes alone (sequential requests), without and with the cache. */
  pageDbMs: string;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** A copy of the shop under the repo (so `scaleout` resolves), its balancer on `port`, the cache on or off. */
async function shopCopy(port: number, cache: boolean): Promise<string> {
  const dir = join(REPO, '.e2e', `bench-shop-${randomBytes(4).toString('hex')}`);
  await cp(join(REPO, 'examples', 'shop'), dir, { recursive: true, filter: (s) => !s.split(/[\\/]/).includes('.scaleout') });
  const file = join(dir, 'scaleout.config.ts');
  const config = await readFile(file, 'utf8');
  // The app's own product page is what is measured: no static tier in front of it (the
  // pre-rendered pages would answer instead), and no autoscale changing the instances midway.
  const patched = config
    .replace(/listen: '127\.0\.0\.1:\d+'/, `listen: '127.0.0.1:${port}'`)
    .replace(/entry: 'src\/server\.ts',/, `entry: 'src/server.ts', env: { SHOP_CACHE: '${cache ? 'on' : 'off'}', SHOP_DEMO_ORDERS: '${DEMO_ORDERS}' },`)
    .replace(/\n\s*autoscale: \{ min: \d+, max: \d+, target: \{ cpu: \d+ \}, cooldownMs: [\d_]+ \},/, '')
    .replace(/\n\s*static: \{[^}]*\},/, '');
  if (!patched.includes(`127.0.0.1:${port}`) || !patched.includes('SHOP_CACHE') || /\bstatic:|cpu: \d/.test(patched)) {
    throw new Error(`cannot patch ${file}; update bench/cache-shop.ts`);
  }
  await writeFile(file, patched);
  return dir;
}

async function waitForPage(url: string, up: ChildProcess, timeoutMs = 240_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (up.exitCode !== null) throw new Error(`scaleout up exited with ${up.exitCode} before serving`);
    const ok = await fetch(url, { headers: { accept: 'text/html' } }).then((r) => r.ok, () => false);
    if (ok) return;
    await delay(250);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** req/s of GET /products/3 (HTML) through the balancer of a fresh `scaleout up`. */
async function shopReqPerSec(cache: boolean, options: ShopBenchOptions): Promise<{ rps: number; p99Ms: number; errors: number; sources: string; aloneMs: number }> {
  const port = await freePort();
  const dir = await shopCopy(port, cache);
  const env = { ...process.env };
  for (const name of ['REDIS_URL', 'DATABASE_URL', 'DATABASE_REPLICA_URLS', 'NODE_OPTIONS', 'CACHE_REDIS_URL', 'MEMCACHED_URL']) delete env[name];
  const up = spawn(process.execPath, [join(REPO, 'bin', 'scaleout.js'), 'up', dir], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  up.stderr?.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
  const url = `http://127.0.0.1:${port}/products/3`;
  try {
    await waitForPage(url, up);
    const seen = new Map<string, number>();
    const alone: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const answer = await fetch(url, { headers: { accept: 'text/html' } });
      await answer.text();
      alone.push(performance.now() - started);
      const source = answer.headers.get('x-shop-cache') ?? '?';
      seen.set(source, (seen.get(source) ?? 0) + 1);
    }
    alone.sort((a, b) => a - b);
    // A short warm-up: connections, JIT, the first loads.
    await autocannon({ url, connections: options.connections, duration: 2, headers: { accept: 'text/html' } });
    const result = await autocannon({ url, connections: options.connections, duration: options.durationMs / 1000, headers: { accept: 'text/html' } });
    return {
      rps: result.requests.average, p99Ms: result.latency.p99, errors: result.errors + result.non2xx,
      sources: [...seen].map(([s, n]) => `${s} ${n}`).join(', '),
      aloneMs: alone[Math.floor(alone.length / 2)]!,
    };
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${stderr}`, { cause: err });
  } finally {
    up.kill('SIGTERM');
    await new Promise((done) => (up.exitCode !== null ? done(undefined) : up.once('exit', done)));
    await rm(dir, { recursive: true, force: true });
  }
}

// One stampede process: waits for `go` on stdin, then starts its share of callers at once.
const STAMPEDE_CHILD = `
import { Cache, RedisL2Store } from ${JSON.stringify(join(REPO, 'dist', 'cache', 'index.js'))};
import { Redis } from 'ioredis';
const [url, prefix, key, counter, callers, loaderMs] = process.argv.slice(1);
const counts = new Redis(url);
const l2 = new RedisL2Store({ url, keyPrefix: prefix });
const cache = new Cache({ l2, l1: false });
const loader = async () => { await counts.incr(counter); await new Promise((r) => setTimeout(r, Number(loaderMs))); return { built: process.pid }; };
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  const results = await Promise.allSettled(Array.from({ length: Number(callers) }, () => cache.getOrSet(key, loader, { ttlMs: 60000 })));
  const failed = results.filter((r) => r.status === 'rejected').length;
  process.stdout.write(JSON.stringify({ failed }) + '\\n');
  await cache.close(); await l2.close(); counts.disconnect();
  process.exit(0);
});
`;

async function stampede(redisUrl: string): Promise<{ loaderCalls: number; failed: number; ms: number }> {
  const run = randomBytes(4).toString('hex');
  const prefix = `bench:stampede:${run}:`;
  const counter = `${prefix}loader-calls`;
  const perProcess = Math.ceil(STAMPEDE_CALLERS / STAMPEDE_PROCESSES);
  const children = Array.from({ length: STAMPEDE_PROCESSES }, (_, i) => spawn(process.execPath, [
    '--input-type=module', '-e', STAMPEDE_CHILD, redisUrl, prefix, 'product_page:1', counter,
    String(i === STAMPEDE_PROCESSES - 1 ? STAMPEDE_CALLERS - perProcess * (STAMPEDE_PROCESSES - 1) : perProcess), String(STAMPEDE_LOADER_MS),
  ], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = children.map((child) => {
    let buffer = '';
    const waiters: Array<(line: string) => void> = [];
    const queue: string[] = [];
    child.stdout!.on('data', (c: Buffer) => {
      buffer += c.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const waiter = waiters.shift();
        if (waiter === undefined) queue.push(line);
        else waiter(line);
      }
    });
    return (): Promise<string> => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((done) => waiters.push(done)));
  });
  await Promise.all(lines.map((next) => next()));
  const startedAt = performance.now();
  for (const child of children) child.stdin!.write('go\n');
  const reports = await Promise.all(lines.map(async (next) => JSON.parse(await next()) as { failed: number }));
  const ms = performance.now() - startedAt;
  const redis = new Redis(redisUrl);
  const loaderCalls = Number(await redis.get(counter));
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  return { loaderCalls, failed: reports.reduce((n, r) => n + r.failed, 0), ms };
}

export async function runShopBench(options: ShopBenchOptions): Promise<ShopBenchResult> {
  const without = await shopReqPerSec(false, options);
  const withCache = await shopReqPerSec(true, options);
  const storm = await stampede(options.redisUrl);
  const rows = [
    ['product page through the balancer', 'req/s', 'p99 ms', 'errors', 'x-shop-cache of 20 requests'],
    ['without the cache (SHOP_CACHE=off)', without.rps.toFixed(0), String(without.p99Ms), String(without.errors), without.sources],
    ['with the cache', withCache.rps.toFixed(0), String(withCache.p99Ms), String(withCache.errors), withCache.sources],
  ];
  const ratios = [
    `product page with the cache: ${(withCache.rps / without.rps).toFixed(1)}x the req/s without it (target >= 10x)`,
    `stampede: ${STAMPEDE_CALLERS} concurrent misses of one key in ${STAMPEDE_PROCESSES} processes -> ${storm.loaderCalls} loader call(s) ` +
      `(target exactly 1), ${storm.failed} failed, all answered in ${storm.ms.toFixed(0)} ms (loader takes ${STAMPEDE_LOADER_MS} ms)`,
  ];
  const pageDbMs = `one request alone, through the balancer: median ${without.aloneMs.toFixed(1)} ms without the cache, ${withCache.aloneMs.toFixed(1)} ms with it`;
  return { rows, ratios, pageDbMs };
}
