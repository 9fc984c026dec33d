import { describe, expect, it } from 'vitest';
import { LeastLoadStrategy } from './least-load.js';

interface FakeServer { id: string; weight: number; inFlight: number; load: number }
const server = (id: string, load: number, weight = 1): FakeServer => ({ id, weight, inFlight: 0, load });
const noKey = { hashKey: undefined, exclude: undefined };

/** mulberry32: a small seeded PRNG, so distributions are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Picks `total` times with `concurrency` requests in flight; the oldest finishes first.
 * Reported loads stay fixed throughout, as they do between two reports.
 */
function run(strategy: LeastLoadStrategy<FakeServer>, list: FakeServer[], total: number, concurrency: number): Map<string, number> {
  strategy.update(list);
  const window: FakeServer[] = [];
  const counts = new Map<string, number>(list.map((s) => [s.id, 0]));
  for (let i = 0; i < total; i++) {
    if (window.length >= concurrency) window.shift()!.inFlight--;
    const s = strategy.pick(noKey)!;
    s.inFlight++;
    window.push(s);
    counts.set(s.id, counts.get(s.id)! + 1);
  }
  return counts;
}

describe('LeastLoadStrategy', () => {
  it('sends most traffic to the less loaded server, but not all of it, under concurrency', () => {
    const counts = run(new LeastLoadStrategy({ random: seeded(1) }), [server('a', 0.1), server('b', 0.9)], 10_000, 20);
    const share = counts.get('a')! / 10_000;
    expect(share).toBeGreaterThan(0.6);
    expect(share).toBeLessThan(0.95);
  });

  it('bounds the lead of the preferred server to about Δload / loadPerInFlight requests', () => {
    const a = server('a', 0.1);
    const b = server('b', 0.9);
    const ll = new LeastLoadStrategy<FakeServer>({ random: seeded(2), loadPerInFlight: 0.1 });
    ll.update([a, b]);
    for (let i = 0; i < 100; i++) {
      ll.pick(noKey)!.inFlight++;
      expect(a.inFlight - b.inFlight).toBeLessThanOrEqual(9);
    }
    expect(b.inFlight).toBeGreaterThan(40);
  });

  it('herds onto the lowest report when the in-flight charge is 0 (why it exists)', () => {
    const counts = run(new LeastLoadStrategy({ random: seeded(3), loadPerInFlight: 0 }), [server('a', 0.1), server('b', 0.9)], 2000, 20);
    expect(counts.get('a')).toBe(2000);
  });

  it('spreads evenly when loads are equal, sequentially and under concurrency', () => {
    for (const concurrency of [1, 32]) {
      const list = ['a', 'b', 'c', 'd'].map((id) => server(id, 0.5));
      const counts = run(new LeastLoadStrategy({ random: seeded(4 + concurrency) }), list, 10_000, concurrency);
      for (const c of counts.values()) expect(Math.abs(c - 2500)).toBeLessThan(150);
    }
  });

  it('does not send everything to one low reporter in a larger pool', () => {
    const list = [server('low', 0), ...Array.from({ length: 7 }, (_, i) => server(`s${i}`, 0.6))];
    const counts = run(new LeastLoadStrategy({ random: seeded(5) }), list, 10_000, 64);
    const low = counts.get('low')! / 10_000;
    expect(low).toBeGreaterThan(1 / 8);
    expect(low).toBeLessThan(0.5);
  });

  it('charges in-flight requests per unit of weight', () => {
    const heavy = server('heavy', 0.5, 4);
    const light = server('light', 0.5, 1);
    heavy.inFlight = 3; // 0.5 + 0.1 * 3/4
    light.inFlight = 1; // 0.5 + 0.1 * 1
    const ll = new LeastLoadStrategy<FakeServer>({ random: seeded(6) });
    ll.update([heavy, light]);
    expect(ll.pick(noKey)).toBe(heavy);
  });

  it('treats a garbage load report as idle rather than letting it win or crash', () => {
    const bad = server('bad', Number.NaN);
    const ok = server('ok', 0.2);
    const ll = new LeastLoadStrategy<FakeServer>({ random: seeded(7) });
    ll.update([bad, ok]);
    expect(ll.pick(noKey)).toBe(bad);
    bad.load = -5;
    expect(ll.pick(noKey)).toBe(bad);
    bad.inFlight = 5;
    expect(ll.pick(noKey)).toBe(ok);
  });
});
