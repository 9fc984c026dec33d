import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Cache, MemcachedL2Store, RedisL2Store } from '../../src/cache/index.js';
import type { L2Store } from '../../src/cache/index.js';
import { RedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { MemcachedServer } from '../support/memcached-server.js';

const L2_TIMEOUT_MS = 300;
// Generous for a loaded 2-core machine; what matters is "bounded", not "fast".
const MAX_REQUEST_MS = L2_TIMEOUT_MS + 1_500;

interface Engine { kill(): Promise<void>; restart(): Promise<void> }

async function timed<T>(op: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await op();
  return { result, ms: performance.now() - started };
}

function describeEngineDown(name: string, start: () => Promise<{ engine: Engine; store: () => L2Store }>): void {
  describe(`cache with its ${name} L2 down`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => { for (const c of cleanups.reverse()) await c(); });

    it('fails open to the loader behind the breaker, never waits past the L2 timeout, and recovers by itself', async () => {
      const { engine, store } = await start();
      cleanups.push(() => engine.kill());
      const l2 = store();
      cleanups.push(() => l2.close());
      const cache = new Cache({ l2, l1: false, l2TimeoutMs: L2_TIMEOUT_MS, breakerFailureThreshold: 3, breakerCooldownMs: 500 });
      const run = randomBytes(4).toString('hex');
      await cache.getOrSet(`up:${run}`, () => 'cached');
      expect(await cache.getOrSetWithSource(`up:${run}`, () => 'x')).toMatchObject({ value: 'cached', source: 'l2' });

      await engine.kill();
      for (let i = 0; i < 8; i++) {
        const { result, ms } = await timed(() => cache.getOrSetWithSource(`down:${run}:${i}`, () => `loaded ${i}`));
        expect(result).toMatchObject({ value: `loaded ${i}`, source: 'loader' });
        expect(ms).toBeLessThan(MAX_REQUEST_MS);
      }
      expect(cache.stats().breakerState).not.toBe('closed');
      expect(cache.stats().l2Rejected).toBeGreaterThan(0);

      await engine.restart();
      const k = `back:${run}`;
      await waitFor('L2 to serve again', async () => {
        await cache.getOrSet(k, () => 'after restart');
        return (await cache.getOrSetWithSource(k, () => 'x')).source === 'l2';
      }, { timeoutMs: 15_000, intervalMs: 100 });
      expect(cache.stats().breakerState).toBe('closed');
      await cache.close();
    });
  });
}

describeEngineDown('memcached', async () => {
  const server = await MemcachedServer.start();
  return {
    engine: server,
    store: () => new MemcachedL2Store({ servers: server.servers, timeoutMs: 2_000 }),
  };
});

describeEngineDown('redis', async () => {
  const server = await RedisServer.start();
  return {
    engine: server,
    store: () => new RedisL2Store({ url: server.url, commandTimeoutMs: 2_000 }),
  };
});

describe('cache with a hung L2 (the engine accepts and never answers)', () => {
  it('answers from the loader within the L2 timeout, then the breaker stops even trying', async () => {
    const server = await MemcachedServer.start();
    // The store's own timeout is far longer than the cache's: the cache must not wait for it.
    const l2 = new MemcachedL2Store({ servers: server.servers, timeoutMs: 10_000 });
    try {
      const cache = new Cache({ l2, l1: false, l2TimeoutMs: L2_TIMEOUT_MS, breakerFailureThreshold: 2, breakerCooldownMs: 60_000 });
      await cache.getOrSet('warm-up', () => 1);
      server.pause();
      for (let i = 0; i < 4; i++) {
        // getOrSet starts with its own GET (the hit path), getOrSetWithSource with a read of entry and tags: both are bounded.
        const { result, ms } = await timed(() => (i % 2 === 0
          ? cache.getOrSet(`hung:${i}`, () => i).then((value) => ({ value, source: 'loader' }))
          : cache.getOrSetWithSource(`hung:${i}`, () => i)));
        expect(result).toMatchObject({ value: i, source: 'loader' });
        expect(ms).toBeLessThan(MAX_REQUEST_MS);
      }
      expect(cache.stats().breakerState).toBe('open');
      // Open: no L2 call at all, so no timeout to wait for.
      const { ms } = await timed(() => cache.getOrSet('hung:open', () => 'x'));
      expect(ms).toBeLessThan(L2_TIMEOUT_MS);
      await cache.close();
    } finally {
      server.resume();
      await l2.close();
      await server.kill();
    }
  });
});
