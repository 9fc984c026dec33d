import { describe, expect, it } from 'vitest';
import { RoundRobinStrategy } from './round-robin.js';

interface FakeServer { id: string; weight: number; inFlight: number; load: number }
const server = (id: string, weight = 1): FakeServer => ({ id, weight, inFlight: 0, load: 0 });
const noKey = { hashKey: undefined, exclude: undefined };

describe('RoundRobinStrategy', () => {
  it('rotates in list order, exactly evenly, ignoring weight and load', () => {
    const rr = new RoundRobinStrategy<FakeServer>();
    const list = [server('a', 5), server('b'), server('c')];
    list[0]!.inFlight = 100;
    rr.update(list);
    const order = Array.from({ length: 9 }, () => rr.pick(noKey)!.id).join('');
    expect(order).toBe('abcabcabc');
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const id = rr.pick(noKey)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([1000, 1000, 1000]);
  });

  it('steps over the excluded server and carries on from there', () => {
    const rr = new RoundRobinStrategy<FakeServer>();
    const [a, b, c] = [server('a'), server('b'), server('c')];
    rr.update([a, b, c]);
    expect(rr.pick({ hashKey: undefined, exclude: a })!.id).toBe('b');
    expect(rr.pick(noKey)!.id).toBe('c');
    expect(rr.pick({ hashKey: undefined, exclude: c })!.id).toBe('a');
    expect(rr.pick({ hashKey: undefined, exclude: c })!.id).toBe('b');
    expect(rr.pick({ hashKey: undefined, exclude: c })!.id).toBe('a');
  });

  it('keeps its position across updates instead of restarting at the first server', () => {
    const rr = new RoundRobinStrategy<FakeServer>();
    const list = [server('a'), server('b'), server('c'), server('d')];
    rr.update(list);
    rr.pick(noKey);
    rr.update(list);
    expect(rr.pick(noKey)!.id).toBe('b');
    rr.pick(noKey);
    rr.pick(noKey);
    rr.update(list.slice(0, 2));
    expect(rr.pick(noKey)!.id).toBe('a');
  });
});
