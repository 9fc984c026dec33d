import { describe, expect, it } from 'vitest';
import { ProcessUsageSampler, readTicks } from './process-usage.js';

describe('ProcessUsageSampler', () => {
  it('reads this process: memory at once, CPU from the second sample on', () => {
    const sampler = new ProcessUsageSampler();
    const first = sampler.sample([process.pid], 0).get(process.pid)!;
    expect(first.cpuPercent).toBeNull();
    expect(first.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    // Burn some CPU so the second sample has ticks to count.
    const until = performance.now() + 120;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    const second = sampler.sample([process.pid], 1000).get(process.pid)!;
    expect(second.cpuPercent).toBeGreaterThan(0);
    expect(x).toBeGreaterThan(0);
  });

  it('leaves out pids that do not exist, and forgets them', () => {
    const sampler = new ProcessUsageSampler();
    expect(sampler.sample([2 ** 22 + 12345]).size).toBe(0);
    expect(readTicks(2 ** 22 + 12345)).toBeUndefined();
  });
});
