import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Cache, RedisL2Store } from '../../src/cache/index.js';
import { BullMQBackend, everyCron, JobsOptionsError, Queue, ScheduledRounds } from '../../src/jobs/index.js';
import { waitFor } from '../support/wait-for.js';
import { deleteRedisKeys, REDIS_URL } from './support/engines.js';

const run = randomBytes(4).toString('hex');
const cachePrefix = `test:warmjobs:${run}:`;
const jobsPrefix = `scaleout-test-warmjobs-${run}`;

afterAll(async () => {
  await deleteRedisKeys(cachePrefix);
  await deleteRedisKeys(jobsPrefix);
});

describe('warmers run by workers of the jobs tier', () => {
  it('two instances warming one key: each tick runs once, on one of them, and builds the object once', async () => {
    const ticks: string[] = [];
    const instances = [0, 1].map((i) => {
      const backend = new BullMQBackend({ url: REDIS_URL, prefix: jobsPrefix, visibilityTimeoutMs: 2_000 });
      const queue = new Queue<null>(backend, `warm-${run}`);
      const rounds = new ScheduledRounds({ queue, onRun: (_name, tick) => ticks.push(`${tick} on ${i}`), scheduler: { intervalMs: 50, leaseMs: 1_000 } });
      const l2 = new RedisL2Store({ url: REDIS_URL, keyPrefix: cachePrefix });
      const cache = new Cache({ l2, warmRunner: rounds });
      return { backend, queue, rounds, l2, cache };
    });
    let loads = 0;
    // Fresh for 1.5 s, checked every second: every tick finds it turning stale before the next, and rebuilds it.
    const handles = instances.map(({ cache }) => cache.warm('product_page:1', () => ({ built: ++loads }), { intervalMs: 1_000, ttlMs: 1_500 }));
    await waitFor('four ticks', () => ticks.length >= 4, { timeoutMs: 15_000 });
    for (const h of handles) h.stop();
    const keys = ticks.map((t) => t.split(' on ')[0]!);
    // Exactly once per tick across both instances; the ticks are whole seconds apart.
    expect(new Set(keys).size).toBe(keys.length);
    const times = keys.map((k) => Date.parse(k.replace(/^schedule:warm:product_page:1:/, ''))).sort((a, b) => a - b);
    expect(times.every(Number.isFinite)).toBe(true);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1_000);
    // The first build (at warm()) plus one per tick: never one per instance.
    expect(loads).toBeGreaterThanOrEqual(keys.length);
    expect(loads).toBeLessThanOrEqual(keys.length + 2);
    const other = await instances[1]!.cache.getOrSetWithSource('product_page:1', () => ({ built: -1 }));
    expect(other.source).not.toBe('loader');

    // Stopped: no more rounds.
    const after = ticks.length;
    await new Promise((r) => setTimeout(r, 2_500));
    expect(ticks.length).toBeLessThanOrEqual(after + 1);
    for (const { rounds, cache, l2, queue, backend } of instances) {
      await cache.close();
      await rounds.close({ graceMs: 0 });
      await l2.close();
      await queue.close?.();
      await backend.close();
    }
  }, 40_000);

  it('takes intervals that divide a minute or an hour', () => {
    expect(everyCron(1_000)).toBe('*/1 * * * * *');
    expect(everyCron(15_000)).toBe('*/15 * * * * *');
    expect(everyCron(300_000)).toBe('0 */5 * * * *');
    expect(everyCron(3_600_000)).toBe('0 0 * * * *');
    expect(() => everyCron(7_000)).toThrow(JobsOptionsError);
    expect(() => everyCron(1_500)).toThrow(/whole number of seconds/);
  });
});
