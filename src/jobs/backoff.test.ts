import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './backoff.js';

describe('retryDelayMs', () => {
  it('doubles with each attempt up to the cap when there is no jitter', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => retryDelayMs(a, 100, 1_000, 0))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('with jitter stays between (1 - jitter) and 1 times the exponential value', () => {
    expect(retryDelayMs(3, 100, 10_000, 0.5, () => 0)).toBe(400);
    expect(retryDelayMs(3, 100, 10_000, 0.5, () => 0.999_999)).toBe(200);
    expect(retryDelayMs(3, 100, 10_000, 1, () => 0.5)).toBe(200);
  });

  it('spreads delays of jobs that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(4, 1_000, 60_000, 0.5)));
    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(4_000);
  });
});
