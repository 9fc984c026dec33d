import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Cache, CacheOptionsError, RedisL2Store } from '../../src/cache/index.js';
import type { Bus, L2Store } from '../../src/cache/index.js';
import { deleteRedisKeys, REDIS_URL } from './support/engines.js';
import { ManualClock } from '../../src/internal/clock.js';

describe('cache without L2', () => {
  it('serves L1 hits for the whole TTL, with no check against an L2 it does not have', async () => {
    const clock = new ManualClock(Date.now());
    const cache = new Cache({ clock, jitterPercent: 0, l1MaxStaleMs: 1_000 });
    let calls = 0;
    await cache.getOrSet('k', () => ++calls, { ttlMs: 60_000 });
    clock.advance(30_000);
    expect(await cache.getOrSetWithSource('k', () => ++calls)).toEqual({ value: 1, source: 'l1', stale: false });
    clock.advance(30_001);
    expect(await cache.getOrSetWithSource('k', () => ++calls)).toEqual({ value: 2, source: 'loader', stale: false });
    await cache.close();
  });
});

describe('cache options', () => {
  it('refuses a warm interval that is not a positive integer', async () => {
    const cache = new Cache();
    expect(() => cache.warm('k', () => 1, { intervalMs: 0 })).toThrow(CacheOptionsError);
    expect(() => cache.warm('k', () => 1, { intervalMs: Number.NaN })).toThrow(/intervalMs/);
    await cache.close();
  });
});

describe('cache lease', () => {
  it('a process that wins the lease just after another released it does not load again', async () => {
    const prefix = `scaleout-test:lease-race:${randomBytes(4).toString('hex')}:`;
    const storeA = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
    const storeB = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
    const a = new Cache({ l2: storeA, l2TimeoutMs: 5_000 });
    let reads = 0;
    // B misses, then A loads, writes and releases its lease, and only then B takes the lease.
    const racing: L2Store = {
      name: 'racing',
      getMany: async (keys) => {
        const reply = await storeB.getMany(keys);
        if (++reads === 1) await a.getOrSet('k', () => 'from A');
        return reply;
      },
      set: (k, v, t) => storeB.set(k, v, t),
      add: (k, v, t) => storeB.add(k, v, t),
      delete: (k) => storeB.delete(k),
      close: async () => undefined,
    };
    const b = new Cache({ l2: racing, l2TimeoutMs: 5_000 });
    try {
      let loadsB = 0;
      expect(await b.getOrSetWithSource('k', () => { loadsB++; return 'from B'; })).toMatchObject({ value: 'from A', source: 'l2' });
      expect(loadsB).toBe(0);
    } finally {
      await a.close();
      await b.close();
      await storeA.close();
      await storeB.close();
      await deleteRedisKeys(prefix);
    }
  });
});

/** A bus whose connection the test switches off and on. */
class SwitchBus implements Bus {
  readonly name = 'switch';
  connected = true;
  readonly #listeners: ((up: boolean) => void)[] = [];
  async publish(): Promise<void> {}
  async subscribe(): Promise<void> {}
  onConnectionChange(listener: (up: boolean) => void): void { this.#listeners.push(listener); }
  async close(): Promise<void> {}
  set(up: boolean): void {
    this.connected = up;
    for (const l of this.#listeners) l(up);
  }
}

describe('cache with its bus down', () => {
  it('clears L1 and reads L2 until the bus is back', async () => {
    const prefix = `scaleout-test:bus-down:${randomBytes(4).toString('hex')}:`;
    const l2 = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
    const bus = new SwitchBus();
    const cache = new Cache({ l2, bus, l2TimeoutMs: 5_000 });
    try {
      await cache.ready();
      await cache.getOrSet('k', () => 'v');
      expect(await cache.getOrSetWithSource('k', () => 'x')).toMatchObject({ source: 'l1' });
      bus.set(false);
      expect(cache.stats()).toMatchObject({ l1Enabled: false, l1Entries: 0 });
      expect(await cache.getOrSetWithSource('k', () => 'x')).toMatchObject({ value: 'v', source: 'l2' });
      expect(await cache.getOrSetWithSource('k', () => 'x')).toMatchObject({ value: 'v', source: 'l2' });
      bus.set(true);
      expect(await cache.getOrSetWithSource('k', () => 'x')).toMatchObject({ value: 'v', source: 'l2' });
      expect(await cache.getOrSetWithSource('k', () => 'x')).toMatchObject({ value: 'v', source: 'l1' });
    } finally {
      await cache.close();
      await l2.close();
      await deleteRedisKeys(prefix);
    }
  });
});

describe('cache tags and a load in flight', () => {
  it('a value whose tag was bumped while it was loading is not served afterwards', async () => {
    const prefix = `scaleout-test:tag-race:${randomBytes(4).toString('hex')}:`;
    const l2 = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
    const cache = new Cache({ l2, l2TimeoutMs: 5_000 });
    try {
      let n = 0;
      const first = await cache.getOrSet('k', async () => {
        n++;
        await cache.deleteByTag('products'); // the data changed while the old version was being read
        return 'old';
      }, { tags: ['products'] });
      expect(first).toBe('old');
      expect(await cache.getOrSetWithSource('k', () => { n++; return 'new'; }, { tags: ['products'] })).toMatchObject({ value: 'new', source: 'loader' });
      expect(n).toBe(2);
    } finally {
      await cache.close();
      await l2.close();
      await deleteRedisKeys(prefix);
    }
  });
});
