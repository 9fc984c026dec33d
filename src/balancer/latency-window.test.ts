import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, LatencyWindow, bucketOf, bucketUpperUs } from './latency-window.js';

describe('latency buckets', () => {
  it('are contiguous, ordered, and each holds the values up to its upper bound', () => {
    let previousUpper = -1;
    for (let b = 0; b < LATENCY_BUCKETS; b++) {
      const upper = bucketUpperUs(b);
      expect(upper).toBeGreaterThan(previousUpper);
      expect(bucketOf(upper)).toBe(b);
      expect(bucketOf(previousUpper + 1)).toBe(b);
      previousUpper = upper;
    }
    expect(previousUpper).toBe(0x7fffffff);
  });

  it('are at most 12.5 % wide past the exact range, and clamp what is out of range', () => {
    for (const us of [9, 100, 1234, 99_999, 5_000_000]) {
      const b = bucketOf(us);
      expect(bucketUpperUs(b)).toBeGreaterThanOrEqual(us);
      expect(bucketUpperUs(b)).toBeLessThanOrEqual(us * 1.125 + 1);
    }
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(1e12)).toBe(LATENCY_BUCKETS - 1);
    expect(bucketOf(Number.NaN)).toBe(0);
  });
});

describe('LatencyWindow', () => {
  it('reads p50 and p99 from what was recorded, never below the true value', () => {
    const w = new LatencyWindow(10_000);
    for (let i = 1; i <= 1000; i++) w.record(i * 1000, 5_000); // 1 ms .. 1000 ms
    const s = w.summary(5_000);
    expect(s.count).toBe(1000);
    expect(s.p50Ms).toBeGreaterThanOrEqual(500);
    expect(s.p50Ms).toBeLessThanOrEqual(500 * 1.125);
    expect(s.p99Ms).toBeGreaterThanOrEqual(990);
    expect(s.p99Ms).toBeLessThanOrEqual(990 * 1.125);
  });

  it('forgets what is older than the window, a slot at a time', () => {
    const w = new LatencyWindow(10_000);
    w.record(900_000, 0); // one slow exchange at t=0
    for (let i = 0; i < 49; i++) w.record(2_000, 2_000);
    expect(w.summary(2_000).p99Ms).toBeGreaterThan(800);
    // Still inside the window at 9.9 s, gone once its slot falls out.
    expect(w.summary(9_900).count).toBe(50);
    expect(w.summary(10_000).count).toBe(49);
    expect(w.summary(10_000).p99Ms).toBeLessThan(3);
    expect(w.summary(30_000)).toEqual({ p50Ms: 0, p99Ms: 0, count: 0, windowMs: 10_000 });
  });

  it('reuses a slot after a full turn without keeping its old counts', () => {
    const w = new LatencyWindow(1_000);
    w.record(50_000, 0);
    w.record(1_000, 1_000); // the same ring entry as t=0, one turn later
    const s = w.summary(1_000);
    expect(s.count).toBe(1);
    expect(s.p99Ms).toBeLessThan(2);
  });
});
