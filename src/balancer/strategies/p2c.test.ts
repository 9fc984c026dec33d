import { describe, expect, it } from 'vitest';
import { P2cStrategy } from './p2c.js';

interface FakeServer { id: string; weight: number; inFlight: number; load: number }
const server = (id: string, weight = 1): FakeServer => ({ id, weight, inFlight: 0, load: 0 });
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

/** A random source that replays `values` in a loop. */
function replay(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('P2cStrategy', () => {
  it('spreads sequential traffic evenly over idle servers', () => {
    const p2c = new P2cStrategy<FakeServer>({ random: seeded(1) });
    const list = ['a', 'b', 'c', 'd'].map((id) => server(id));
    p2c.update(list);
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const id = p2c.pick(noKey)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const id of ['a', 'b', 'c', 'd']) expect(Math.abs(counts.get(id)! - 2500)).toBeLessThan(150);
  });

  it('keeps in-flight counts closer together than one random choice under concurrency', () => {
    // 64 requests in flight over 8 servers; they finish in a scrambled order.
    const simulate = (makePick: (list: FakeServer[]) => () => FakeServer): { counts: number[]; meanSpread: number } => {
      const list = Array.from({ length: 8 }, (_, i) => server(`s${i}`));
      const pick = makePick(list);
      const window: FakeServer[] = [];
      const counts = new Array<number>(8).fill(0);
      let spreadSum = 0;
      for (let i = 0; i < 10_000; i++) {
        if (window.length === 64) window.splice((i * 7919) % 64, 1)[0]!.inFlight--;
        const s = pick();
        s.inFlight++;
        window.push(s);
        counts[list.indexOf(s)]!++;
        const inFlight = list.map((x) => x.inFlight);
        spreadSum += Math.max(...inFlight) - Math.min(...inFlight);
      }
      return { counts, meanSpread: spreadSum / 10_000 };
    };
    const two = simulate((list) => {
      const p2c = new P2cStrategy<FakeServer>({ random: seeded(2) });
      p2c.update(list);
      return () => p2c.pick(noKey)!;
    });
    const one = simulate((list) => {
      const random = seeded(2);
      return () => list[Math.floor(random() * list.length)]!;
    });
    for (const c of two.counts) expect(Math.abs(c - 1250)).toBeLessThan(1250 * 0.05);
    // Seeded: about 3.5 against 7.5 on average.
    expect(two.meanSpread).toBeLessThan(one.meanSpread * 0.6);
  });

  it('takes the less loaded of the two sampled servers, per unit of weight', () => {
    const [a, b, c] = [server('a'), server('b', 4), server('c')];
    a.inFlight = 2; // 2 per unit
    b.inFlight = 4; // 1 per unit
    c.inFlight = 0;
    // 0.0 -> a; 0.4 of the two others -> b.
    const p2c = new P2cStrategy<FakeServer>({ random: replay(0, 0.4) });
    p2c.update([a, b, c]);
    expect(p2c.pick(noKey)).toBe(b);
  });

  it('samples two distinct servers, so the busiest of three is never picked', () => {
    const p2c = new P2cStrategy<FakeServer>({ random: seeded(3) });
    const [a, b, c] = [server('a'), server('b'), server('c')];
    a.inFlight = 10;
    p2c.update([a, b, c]);
    for (let i = 0; i < 1000; i++) expect(p2c.pick(noKey)).not.toBe(a);
  });

  it('samples only among non-excluded servers', () => {
    const list = ['a', 'b', 'c'].map((id) => server(id));
    list[1]!.inFlight = 5;
    list[2]!.inFlight = 9;
    // With a excluded, any draw leaves b and c as the two candidates: b wins.
    for (const r of [0, 0.3, 0.6, 0.99]) {
      const p2c = new P2cStrategy<FakeServer>({ random: replay(r, r) });
      p2c.update(list);
      expect(p2c.pick({ hashKey: undefined, exclude: list[0] })!.id).toBe('b');
    }
  });

  it('stays in range when the random source misbehaves', () => {
    const list = ['a', 'b', 'c'].map((id) => server(id));
    for (const r of [1, -0.5, Number.NaN, 7]) {
      const p2c = new P2cStrategy<FakeServer>({ random: () => r });
      p2c.update(list);
      expect(list).toContain(p2c.pick(noKey));
    }
  });
});
