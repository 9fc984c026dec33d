import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/internal/clock.js';
import { Cache, PostgresBus, PostgresL2Store, RedisBus, RedisL2Store } from '../../src/cache/index.js';
import type { Bus, CacheResult, CacheStats } from '../../src/cache/index.js';
import { waitFor } from '../support/wait-for.js';
import { DATABASE_URL, deleteRedisKeys, REDIS_URL } from './support/engines.js';

const CHILD = fileURLToPath(new URL('./support/cache-process.ts', import.meta.url));

/** The cache of another app instance, in its own process. */
class CacheProcess {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;
  readonly ready: Promise<unknown>;

  constructor(args: string[]) {
    this.#child = fork(CHILD, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.result);
    });
    this.ready = new Promise((resolve) => this.#pending.set(0, { resolve, reject: resolve }));
  }

  #call(op: string, extra: object = {}): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, op, ...extra });
    });
  }

  get(key: string, value: unknown, tags?: string[]): Promise<CacheResult<unknown>> {
    return this.#call('get', { key, value, tags }) as Promise<CacheResult<unknown>>;
  }

  stats(): Promise<CacheStats> {
    return this.#call('stats') as Promise<CacheStats>;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((r) => this.#child.once('exit', r));
    await this.#call('close').catch(() => undefined);
    this.#child.kill();
    await exited;
  }
}

/** A bus that says it is connected and delivers nothing: every message is lost. */
class DeafBus implements Bus {
  readonly name = 'deaf';
  readonly connected = true;
  async publish(): Promise<void> {}
  async subscribe(): Promise<void> {}
  onConnectionChange(): void {}
  async close(): Promise<void> {}
}

describe('L1 coherence across instances (Redis bus)', () => {
  const run = randomBytes(4).toString('hex');
  const prefix = `scaleout-test:coherence:${run}:`;
  const channel = `scaleout_test_${run}`;
  const busName = `scaleout-test-bus-${run}`;
  const L1_MAX_STALE_MS = 1_500;
  let other: CacheProcess;
  let bus: RedisBus;
  let l2: RedisL2Store;
  let cache: Cache;
  let admin: Redis;

  beforeAll(async () => {
    other = new CacheProcess([REDIS_URL, prefix, channel, busName, String(L1_MAX_STALE_MS)]);
    bus = new RedisBus({ url: REDIS_URL, connectionName: `${busName}-here` });
    l2 = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
    cache = new Cache({ l2, bus, channel, l1MaxStaleMs: L1_MAX_STALE_MS });
    admin = new Redis(REDIS_URL);
    await Promise.all([other.ready, cache.ready()]);
  }, 30_000);

  afterAll(async () => {
    await other?.stop();
    await cache?.close();
    await bus?.close();
    await l2?.close();
    await admin?.quit();
    await deleteRedisKeys(prefix);
  });

  it('set, delete and deleteByTag in one process reach the other process\'s L1 through the bus', async () => {
    const k = `product_page:${run}:1`;
    const tag = `product:${run}:1`;
    expect(await other.get(k, 'v1', [tag])).toMatchObject({ value: 'v1', source: 'loader' });
    expect(await other.get(k, 'unused', [tag])).toMatchObject({ value: 'v1', source: 'l1' });

    await cache.set(k, 'v2', { tags: [tag] });
    const started = performance.now();
    await waitFor('the other L1 to drop v1', async () => (await other.get(k, 'unused', [tag])).value === 'v2');
    // Well before l1MaxStaleMs: the bus did it, not the periodic check.
    expect(performance.now() - started).toBeLessThan(L1_MAX_STALE_MS);
    expect(await other.get(k, 'unused', [tag])).toMatchObject({ value: 'v2', source: 'l1' });

    await cache.deleteByTag(tag);
    await waitFor('the tag bump to reach the other L1', async () => (await other.get(k, 'v3', [tag])).value === 'v3');

    await cache.delete(k);
    await waitFor('the delete to reach the other L1', async () => (await other.get(k, 'v4', [tag])).value === 'v4');
  });

  it('with its subscriber connection killed, the other L1 is stale at most l1MaxStaleMs, and the bus comes back', async () => {
    const k = `product_page:${run}:2`;
    await other.get(k, 'before', []);
    expect(await other.get(k, 'unused', [])).toMatchObject({ value: 'before', source: 'l1' });

    const clients = await admin.client('LIST') as string;
    const sub = clients.split('\n').find((line) => line.includes(` name=${busName}:sub `));
    expect(sub).toBeDefined();
    const id = /\bid=(\d+)/.exec(sub!)![1]!;
    await admin.client('KILL', 'ID', id);
    await cache.set(k, 'after', {});
    const started = performance.now();
    await waitFor('the other instance to serve the new value', async () => (await other.get(k, 'unused', [])).value === 'after',
      { timeoutMs: L1_MAX_STALE_MS + 5_000 });
    expect(performance.now() - started).toBeLessThan(L1_MAX_STALE_MS + 2_000);
    await waitFor('the other bus to reconnect', async () => (await other.stats()).busConnected);
    // And invalidations travel by bus again.
    await other.get(k, 'unused', []);
    await cache.set(k, 'again', {});
    await waitFor('the next invalidation by bus', async () => (await other.get(k, 'unused', [])).value === 'again',
      { timeoutMs: L1_MAX_STALE_MS - 200 });
  });

  it('several caches sharing one bus and channel all receive invalidations', async () => {
    const shared = new RedisBus({ url: REDIS_URL, connectionName: `${busName}-shared` });
    const stores = [new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix }), new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix })];
    const [c1, c2] = stores.map((l2s) => new Cache({ l2: l2s, bus: shared, channel, l1MaxStaleMs: 60_000 }));
    try {
      await Promise.all([c1!.ready(), c2!.ready()]);
      const k = `product_page:${run}:shared`;
      for (const c of [c1!, c2!]) {
        await c.getOrSet(k, () => 'old');
        expect(await c.getOrSetWithSource(k, () => 'x')).toMatchObject({ value: 'old', source: 'l1' });
      }
      await cache.set(k, 'new');
      await waitFor('both caches to drop the old value', async () =>
        (await c1!.getOrSet(k, () => 'x')) === 'new' && (await c2!.getOrSet(k, () => 'x')) === 'new');
    } finally {
      await c1!.close();
      await c2!.close();
      await shared.close();
      for (const s of stores) await s.close();
    }
  });

  it('when every bus message is lost, L1 serves the old value at most l1MaxStaleMs', async () => {
    const clock = new ManualClock(Date.now());
    const deaf = new Cache({ l2, bus: new DeafBus(), channel, l1MaxStaleMs: 1_000, clock });
    const k = `product_page:${run}:3`;
    await deaf.getOrSet(k, () => 'old');
    await cache.set(k, 'new');
    clock.advance(999);
    expect(await deaf.getOrSetWithSource(k, () => 'x')).toMatchObject({ value: 'old', source: 'l1' });
    clock.advance(2);
    expect(await deaf.getOrSetWithSource(k, () => 'x')).toMatchObject({ value: 'new', source: 'l2' });
    // A tag bump is caught the same way.
    const tag = `t-${run}`;
    await deaf.getOrSet(`${k}:t`, () => 'tagged', { tags: [tag] });
    await cache.deleteByTag(tag);
    clock.advance(1_001);
    expect(await deaf.getOrSetWithSource(`${k}:t`, () => 'rebuilt', { tags: [tag] })).toMatchObject({ value: 'rebuilt', source: 'loader' });
    await deaf.close();
  });
});

describe('L1 coherence across instances (PostgreSQL LISTEN/NOTIFY bus)', () => {
  const run = randomBytes(4).toString('hex');
  const table = `scaleout_cache_coh_${run}`;
  const channel = `scaleout_test_${run}`;
  const made: { close(): Promise<void> }[] = [];

  afterAll(async () => {
    for (const m of made.reverse()) await m.close();
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS "${table}"`);
    await client.end();
  });

  function instance(): { cache: Cache; bus: PostgresBus } {
    const bus = new PostgresBus({ connectionString: DATABASE_URL });
    const l2 = new PostgresL2Store({ connectionString: DATABASE_URL, table });
    const cache = new Cache({ l2, bus, channel, l1MaxStaleMs: 60_000 });
    made.push(l2, bus, cache);
    return { cache, bus };
  }

  it('an invalidation reaches the other L1; after its LISTEN connection is terminated the bus reconnects', async () => {
    const a = instance();
    const b = instance();
    await Promise.all([a.cache.ready(), b.cache.ready()]);
    const k = `product_page:${run}`;
    await b.cache.getOrSet(k, () => 'v1');
    expect(await b.cache.getOrSetWithSource(k, () => 'x')).toMatchObject({ source: 'l1' });
    await a.cache.set(k, 'v2');
    await waitFor('the NOTIFY to reach b', async () => (await b.cache.getOrSet(k, () => 'x')) === 'v2');

    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN "${channel}"`]);
    } finally {
      await admin.end();
    }
    await waitFor('both buses to listen again', () => a.bus.connected && b.bus.connected && b.cache.stats().l1Enabled);
    await b.cache.getOrSet(k, () => 'x');
    await a.cache.set(k, 'v3');
    await waitFor('the NOTIFY after reconnecting', async () => (await b.cache.getOrSet(k, () => 'x')) === 'v3');
  });
});
