import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry, jitteredTtlMs } from './entry.js';

describe('cache entry', () => {
  it('round-trips and rejects what is not an entry', () => {
    const e = { v: { a: [1, 'x'] }, k: 'tok', f: 1_767_225_600_000, g: 1_767_225_900_000, t: { products: 'p1', 'a|b': 'x|{"' } };
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
    const untagged = { v: 'text', k: 'tok', f: 10.5, g: 20 };
    expect(decodeEntry(encodeEntry(untagged))).toEqual(untagged);
    for (const bad of ['', 'null', '{', '"text"', '{"v":1}', '{"v":1,"k":"a","f":"1","g":2}', '{"v":1,"k":"a","f":1,"g":2,"t":5}',
      's1|', 's1|10|20|tok|0|', 's1|10|20|tok|0|{', 's1|x|20|tok|0|1', 's1|10|20|tok|-1|1', 's1|10|20|tok|5|[1]1', 's1|10|20|tok|99|{}1',
      's2|10|20|tok|0|1', 'x|10|20|tok|0|1']) {
      expect(decodeEntry(bad)).toBeUndefined();
    }
  });

  it('reads the JSON envelope written before the s1 format', () => {
    const e = { v: { a: [1, 'x'] }, k: 'tok', f: 10, g: 20, t: { products: 'p1' } };
    expect(decodeEntry(JSON.stringify(e))).toEqual(e);
  });

  it('jitter only shortens, by at most the given percentage', () => {
    expect(jitteredTtlMs(1_000, 10, () => 0)).toBe(1_000);
    expect(jitteredTtlMs(1_000, 10, () => 0.999999)).toBe(900);
    expect(jitteredTtlMs(1_000, 0, () => 0.5)).toBe(1_000);
  });
});
