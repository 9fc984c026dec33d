import { describe, expect, it } from 'vitest';
import { Cache, CacheOptionsError } from '../../src/cache/index.js';
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
