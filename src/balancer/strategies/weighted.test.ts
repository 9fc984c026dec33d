import { describe, expect, it } from 'vitest';
import { WeightedStrategy } from './weighted.js';

interface FakeServer { id: string; weight: number; inFlight: number; load: number }
const server = (id: string, weight = 1): FakeServer => ({ id, weight, inFlight: 0, load: 0 });
const noKey = { hashKey: undefined, exclude: undefined };

function sequence(w: WeightedStrategy<FakeServer>, picks: number): string {
  let out = '';
  for (let i = 0; i < picks; i++) out += w.pick(noKey)!.id;
  return out;
}

describe('WeightedStrategy', () => {
  it('interleaves smoothly like nginx: weights 5,1,1 give a a b a c a a', () => {
    const w = new WeightedStrategy<FakeServer>();
    w.update([server('a', 5), server('b', 1), server('c', 1)]);
    expect(sequence(w, 21)).toBe('aabacaa'.repeat(3));
  });

  it('splits 3:1 exactly over 400 picks, never two turns in a row for the light server', () => {
    const w = new WeightedStrategy<FakeServer>();
    w.update([server('a', 3), server('b', 1)]);
    const out = sequence(w, 400);
    expect(out.split('').filter((c) => c === 'a')).toHaveLength(300);
    expect(out.split('').filter((c) => c === 'b')).toHaveLength(100);
    expect(out).not.toMatch(/bb|aaaa/);
  });

  it('splits fractional weights in proportion', () => {
    const w = new WeightedStrategy<FakeServer>();
    w.update([server('a', 0.5), server('b', 1.5), server('c', 2)]);
    const out = sequence(w, 400);
    const count = (id: string): number => out.split('').filter((c) => c === id).length;
    expect([count('a'), count('b'), count('c')]).toEqual([50, 150, 200]);
  });

  it('reads weights at pick time, so slow start takes effect without update()', () => {
    const a = server('a', 1);
    const b = server('b', 1);
    const w = new WeightedStrategy<FakeServer>();
    w.update([a, b]);
    expect(sequence(w, 100).split('').filter((c) => c === 'b')).toHaveLength(50);
    b.weight = 0.25;
    const out = sequence(w, 500);
    // 1 : 0.25 is 4 : 1; the scores carried over shift the first turns by at most one.
    expect(Math.abs(out.split('').filter((c) => c === 'b').length - 100)).toBeLessThanOrEqual(1);
  });

  it('keeps running scores across update() for servers that stay', () => {
    const w = new WeightedStrategy<FakeServer>();
    const list = [server('a', 5), server('b', 1), server('c', 1)];
    w.update(list);
    const first = sequence(w, 3);
    w.update(list);
    expect(first + sequence(w, 4)).toBe('aabacaa');
  });

  it('leaves the excluded server out of the turn entirely', () => {
    const [a, b] = [server('a', 3), server('b', 1)];
    const w = new WeightedStrategy<FakeServer>();
    w.update([a, b]);
    for (let i = 0; i < 50; i++) expect(w.pick({ hashKey: undefined, exclude: a })!.id).toBe('b');
    // a gained nothing while excluded, so the 3:1 pattern resumes as before.
    expect(sequence(w, 400).split('').filter((c) => c === 'a')).toHaveLength(300);
  });

  it('gives a server with a broken weight no turns instead of corrupting the others', () => {
    const w = new WeightedStrategy<FakeServer>();
    w.update([server('a', 1), server('bad', Number.NaN), server('b', 1)]);
    expect(sequence(w, 6)).toBe('ababab');
  });
});
