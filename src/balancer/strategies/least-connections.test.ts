import { describe, expect, it } from 'vitest';
import { LeastConnectionsStrategy } from './least-connections.js';

interface FakeServer { id: string; weight: number; inFlight: number; load: number }
const server = (id: string, weight = 1): FakeServer => ({ id, weight, inFlight: 0, load: 0 });
const noKey = { hashKey: undefined, exclude: undefined };

describe('LeastConnectionsStrategy', () => {
  it('picks the server with the fewest requests in flight', () => {
    const lc = new LeastConnectionsStrategy<FakeServer>();
    const [a, b, c] = [server('a'), server('b'), server('c')];
    a.inFlight = 4;
    b.inFlight = 1;
    c.inFlight = 2;
    lc.update([a, b, c]);
    for (let i = 0; i < 10; i++) expect(lc.pick(noKey)).toBe(b);
  });

  it('breaks ties by rotation, so idle servers share sequential traffic evenly', () => {
    const lc = new LeastConnectionsStrategy<FakeServer>();
    lc.update([server('a'), server('b'), server('c')]);
    let out = '';
    for (let i = 0; i < 9; i++) out += lc.pick(noKey)!.id;
    expect(out).toBe('abcabcabc');
  });

  it('divides by weight: fewer in flight per unit of weight wins', () => {
    const lc = new LeastConnectionsStrategy<FakeServer>();
    const [a, b] = [server('a', 4), server('b', 1)];
    a.inFlight = 3; // 0.75 per unit
    b.inFlight = 1; // 1 per unit
    lc.update([a, b]);
    expect(lc.pick(noKey)).toBe(a);
  });

  it('follows weights 3:1 when requests pile up', () => {
    const lc = new LeastConnectionsStrategy<FakeServer>();
    const [a, b] = [server('a', 3), server('b', 1)];
    lc.update([a, b]);
    for (let i = 0; i < 400; i++) lc.pick(noKey)!.inFlight++;
    expect(a.inFlight).toBe(300);
    expect(b.inFlight).toBe(100);
  });

  it('follows weights under steady concurrency (oldest request finishes first)', () => {
    const lc = new LeastConnectionsStrategy<FakeServer>();
    const list = [server('a', 3), server('b', 1), server('c', 2)];
    lc.update(list);
    const window: FakeServer[] = [];
    const counts = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      if (window.length === 24) window.shift()!.inFlight--;
      const s = lc.pick(noKey)!;
      s.inFlight++;
      window.push(s);
      counts.set(s.id, (counts.get(s.id) ?? 0) + 1);
    }
    expect(counts.get('a')! / 6000).toBeCloseTo(3 / 6, 1);
    expect(counts.get('b')! / 6000).toBeCloseTo(1 / 6, 1);
    expect(counts.get('c')! / 6000).toBeCloseTo(2 / 6, 1);
  });

  it('skips the excluded server even when it is the least busy', () => {
    const lc = new LeastConnectionsStrategy<FakeServer>();
    const [a, b] = [server('a'), server('b')];
    b.inFlight = 50;
    lc.update([a, b]);
    expect(lc.pick({ hashKey: undefined, exclude: a })).toBe(b);
  });
});
