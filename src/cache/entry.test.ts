import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry, jitteredTtlMs } from './entry.js';

describe('cache entry', () => {
  it('round-trips and rejects what is not an entry', () => {
    const e = { v: { a: [1, 'x'] }, k: 'tok', f: 10, g: 20, t: { products: 'p1' } };
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
    for (const bad of ['', 'null', '{', '"text"', '{"v":1}', '{"v":1,"k":"a","f":"1","g":2}', '{"v":1,"k":"a","f":1,"g":2,"t":5}']) {
      expect(decodeEntry(bad)).toBeUndefined();
    }
  });

  it('jitter only shortens, by at most the given percentage', () => {
    expect(jitteredTtlMs(1_000, 10, () => 0)).toBe(1_000);
    expect(jitteredTtlMs(1_000, 10, () => 0.999999)).toBe(900);
    expect(jitteredTtlMs(1_000, 0, () => 0.5)).toBe(1_000);
  });
});
