import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/internal/clock.js';
import {
  Cache, CacheKeyError, CacheOptionsError, CacheValueError, cacheKey,
} from '../../src/cache/index.js';
import type { CacheOptions, L2Store } from '../../src/cache/index.js';
import { decodeEntry } from '../../src/cache/entry.js';
import { waitFor } from '../support/wait-for.js';

/** A way to open L2 stores on one engine (each its own connection, like separate instances). */
export interface CacheL2Fixture {
  store(): L2Store;
  cleanup(): Promise<void>;
}

/** Cached-object behaviour (tiers, stampede, grace, tags, warm) on a real L2 engine. */
export function describeCacheBehaviour(name: string, open: () => Promise<CacheL2Fixture>): void {
  describe(`cache on ${name}`, () => {
    let f: CacheL2Fixture;
    const stores: L2Store[] = [];
    const caches: Cache[] = [];
    beforeAll(async () => { f = await open(); });
    afterAll(async () => {
      for (const c of caches) await c.close();
      for (const s of stores) await s.close();
      await f?.cleanup();
    });

    function cache(options: CacheOptions = {}): Cache {
      const l2 = f.store();
      stores.push(l2);
      // A generous L2 timeout: on a loaded machine a short one would make the cache fail
      // open (by design) and blur what these tests look at. engine-down.test.ts covers timeouts.
      const c = new Cache({ l2, l2TimeoutMs: 5_000, ...options });
      caches.push(c);
      return c;
    }
    const key = (): string => cacheKey('product_page', randomBytes(6).toString('hex'));

    it('a miss calls the loader; then L1 serves this instance and L2 serves another', async () => {
      const [a, b] = [cache(), cache()];
      const k = key();
      let calls = 0;
      const loader = (): { id: string; n: number } => ({ id: k, n: ++calls });
      expect(await a.getOrSetWithSource(k, loader)).toEqual({ value: { id: k, n: 1 }, source: 'loader', stale: false });
      expect(await a.getOrSetWithSource(k, loader)).toMatchObject({ value: { id: k, n: 1 }, source: 'l1' });
      expect(await b.getOrSetWithSource(k, loader)).toMatchObject({ value: { id: k, n: 1 }, source: 'l2' });
      expect(await b.getOrSet(k, loader)).toEqual({ id: k, n: 1 });
      expect(calls).toBe(1);
      expect(a.stats()).toMatchObject({ l1Hits: 1, misses: 1, loads: 1 });
    });

    it('single flight: 50 concurrent callers in one instance share one loader call', async () => {
      const a = cache();
      const k = key();
      let calls = 0;
      let release!: () => void;
      const gate = new Promise<void>((r) => { release = r; });
      const all = Promise.all(Array.from({ length: 50 }, () => a.getOrSet(k, async () => { calls++; await gate; return 'v'; })));
      await waitFor('the loader to start', () => calls === 1);
      release();
      expect(new Set(await all)).toEqual(new Set(['v']));
      expect(calls).toBe(1);
    });

    it('single flight on the L2 hit path: concurrent callers of one key share one GET', async () => {
      const [a, b] = [cache({ l1: false }), cache({ l1: false })];
      const k = key();
      await a.getOrSet(k, () => 'v');
      const before = b.stats().l2Calls;
      const all = await Promise.all(Array.from({ length: 20 }, () => b.getOrSet(k, () => 'loaded')));
      expect(all).toEqual(Array.from({ length: 20 }, () => 'v'));
      expect(b.stats().l2Calls - before).toBe(1);
    });

    it('reads entries in the JSON envelope of earlier versions; an unknown format is a miss', async () => {
      const a = cache({ l1: false });
      const raw = f.store();
      stores.push(raw);
      const [old, future] = [key(), key()];
      const now = Date.now();
      await raw.set(`v:${old}`, JSON.stringify({ v: { n: 1 }, k: 'tok', f: now + 60_000, g: now + 120_000 }), 120_000);
      await raw.set(`v:${future}`, `s9|${now + 60_000}|${now + 120_000}|tok|0|1`, 120_000);
      expect(await a.getOrSetWithSource(old, () => ({ n: 2 }))).toEqual({ value: { n: 1 }, source: 'l2', stale: false });
      expect(await a.getOrSet(old, () => ({ n: 2 }))).toEqual({ n: 1 });
      expect(await a.getOrSet(future, () => 2)).toBe(2);
      expect(decodeEntry((await raw.getMany([`v:${future}`]))[0])?.v).toBe(2);
    });

    it('the lease: five instances missing at once call the loader once between them', async () => {
      const instances = Array.from({ length: 5 }, () => cache({ leaseWaitMs: 10_000 }));
      const k = key();
      let calls = 0;
      let release!: () => void;
      const gate = new Promise<void>((r) => { release = r; });
      const loader = async (): Promise<string> => { calls++; await gate; return 'built once'; };
      const all = Promise.all(instances.map((c) => c.getOrSetWithSource(k, loader)));
      await waitFor('one loader to start', () => calls === 1);
      release();
      const results = await all;
      expect(results.map((r) => r.value)).toEqual(Array(5).fill('built once'));
      expect(results.filter((r) => r.source === 'loader')).toHaveLength(1);
      expect(calls).toBe(1);
    });

    it('a lease whose holder died blocks others at most leaseWaitMs, then they load', async () => {
      const raw = f.store();
      stores.push(raw);
      const a = cache({ leaseWaitMs: 300 });
      const k = key();
      expect(await raw.add(`l:${k}`, 'a dead process', 60_000)).toBe(true);
      const started = performance.now();
      expect(await a.getOrSetWithSource(k, () => 'fresh')).toMatchObject({ value: 'fresh', source: 'loader' });
      expect(performance.now() - started).toBeLessThan(3_000);
    });

    it('grace: a stale value is served at once while one background call rebuilds it', async () => {
      const clock = new ManualClock(Date.now());
      const a = cache({ clock, jitterPercent: 0 });
      const k = key();
      let version = 0;
      let calls = 0;
      const loader = (): string => { calls++; return `v${++version}`; };
      await a.getOrSet(k, loader, { ttlMs: 1_000, graceMs: 60_000 });
      clock.advance(1_500);
      const stale = await Promise.all([1, 2, 3].map(() => a.getOrSetWithSource(k, loader, { ttlMs: 1_000, graceMs: 60_000 })));
      expect(stale.map((r) => [r.value, r.stale])).toEqual([['v1', true], ['v1', true], ['v1', true]]);
      await waitFor('the refreshed value', async () => (await a.getOrSetWithSource(k, loader, { ttlMs: 1_000, graceMs: 60_000 })).value === 'v2');
      expect(calls).toBe(2);
    });

    it('grace: the stale value is served when the loader fails; without one the loader error comes through', async () => {
      const clock = new ManualClock(Date.now());
      const a = cache({ clock, jitterPercent: 0 });
      const k = key();
      await a.getOrSet(k, () => 'good', { ttlMs: 1_000, graceMs: 60_000 });
      clock.advance(2_000);
      const b = cache({ clock, jitterPercent: 0 });
      const failing = (): never => { throw new Error('database down'); };
      // b has no L1 copy: it finds the stale entry in L2 and serves it.
      expect(await b.getOrSetWithSource(k, failing, { ttlMs: 1_000, graceMs: 60_000 })).toMatchObject({ value: 'good', stale: true });
      clock.advance(120_000);
      await expect(b.getOrSet(k, failing, { ttlMs: 1_000, graceMs: 60_000 })).rejects.toThrow('database down');
      await expect(a.getOrSet(key(), failing)).rejects.toThrow('database down');
    });

    it('delete and deleteByTag make every instance miss; tags leave other entries alone', async () => {
      const [a, b] = [cache(), cache()];
      const tag = `products-${randomBytes(4).toString('hex')}`;
      const [k1, k2, k3] = [key(), key(), key()];
      let n = 0;
      const loader = (): number => ++n;
      await a.getOrSet(k1, loader, { tags: [tag] });
      await a.getOrSet(k2, loader, { tags: [tag, 'other'] });
      await a.getOrSet(k3, loader, { tags: ['other'] });
      await b.deleteByTag(tag);
      // a has no bus here: its L1 copies are checked against L2 only after l1MaxStaleMs,
      // so look through a third instance that has no L1.
      const c = cache({ l1: false });
      expect(await c.getOrSetWithSource(k1, loader, { tags: [tag] })).toMatchObject({ value: 4, source: 'loader' });
      expect(await c.getOrSetWithSource(k2, loader, { tags: [tag, 'other'] })).toMatchObject({ value: 5, source: 'loader' });
      expect(await c.getOrSetWithSource(k3, loader, { tags: ['other'] })).toMatchObject({ value: 3, source: 'l2' });
      await a.delete(k3);
      expect(await c.getOrSetWithSource(k3, loader, { tags: ['other'] })).toMatchObject({ value: 6, source: 'loader' });
    });

    it('set replaces the value every instance reads from L2', async () => {
      const [a, b] = [cache(), cache({ l1: false })];
      const k = key();
      await a.getOrSet(k, () => 'old');
      await a.set(k, 'new', { ttlMs: 60_000 });
      expect(await b.getOrSetWithSource(k, () => 'loader')).toMatchObject({ value: 'new', source: 'l2' });
    });

    it('warm builds the object ahead of time and rebuilds it after an invalidation', async () => {
      const a = cache();
      const raw = f.store();
      stores.push(raw);
      const k = key();
      let n = 0;
      const inL2 = async (): Promise<unknown> => {
        const [text] = await raw.getMany([`v:${k}`]);
        return decodeEntry(text)?.v;
      };
      const handle = a.warm(k, () => `built ${++n}`, { intervalMs: 100, ttlMs: 60_000 });
      try {
        await waitFor('the first build in L2', async () => (await inL2()) === 'built 1');
        await raw.delete(`v:${k}`);
        await waitFor('the rebuild after delete', async () => (await inL2()) === 'built 2');
      } finally {
        handle.stop();
      }
      expect(n).toBe(2); // not rebuilt on every round while it is fresh
    });

    it('refuses values, keys and options it cannot hold, with errors that say so', async () => {
      const a = cache();
      await expect(a.getOrSet(key(), () => undefined)).rejects.toBeInstanceOf(CacheValueError);
      await expect(a.getOrSet(key(), () => 10n)).rejects.toBeInstanceOf(CacheValueError);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(a.getOrSet(key(), () => cyclic)).rejects.toBeInstanceOf(CacheValueError);
      await expect(a.getOrSet('', () => 1)).rejects.toBeInstanceOf(CacheKeyError);
      await expect(a.getOrSet('x'.repeat(2_000), () => 1)).rejects.toBeInstanceOf(CacheKeyError);
      await expect(a.deleteByTag('')).rejects.toBeInstanceOf(CacheKeyError);
      await expect(a.getOrSet(key(), () => 1, { ttlMs: -5 })).rejects.toBeInstanceOf(CacheOptionsError);
      expect(() => new Cache({ l1MaxStaleMs: 0 })).toThrow(CacheOptionsError);
      expect(() => new Cache({ jitterPercent: 90 } as CacheOptions)).toThrow(/jitterPercent/);
      expect(() => new Cache({ unknown: 1 } as CacheOptions)).toThrow(/unknown/);
      // Keys the engine could not hold raw (spaces, non-ASCII) still work.
      expect(await a.getOrSet(`odd key ключ ${randomBytes(4).toString('hex')}`, () => 'ok')).toBe('ok');
    });

    it('exports hits, misses, evictions and L2 latency as Prometheus metrics', async () => {
      const register = new Registry();
      const a = cache({ register, name: 'shop', l1MaxEntries: 2 });
      for (let i = 0; i < 4; i++) await a.getOrSet(`${key()}-${i}`, () => i);
      const k = key();
      await a.getOrSet(k, () => 'x');
      await a.getOrSet(k, () => 'x');
      const text = await register.metrics();
      expect(text).toMatch(/scaleout_cache_hits_total\{cache="shop",tier="l1"\} 1/);
      expect(text).toMatch(/scaleout_cache_misses_total\{cache="shop"\} 5/);
      expect(text).toMatch(/scaleout_cache_evictions_total\{cache="shop"\} 3/);
      expect(text).toMatch(/scaleout_cache_l2_duration_seconds_count\{cache="shop",op="get"\} [1-9]/);
      expect(text).toMatch(/scaleout_cache_breaker_open\{cache="shop"\} 0/);
    });
  });
}
