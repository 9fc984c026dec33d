import { describe, expect, it } from 'vitest';
import { pickBuckets } from './app-reshard.js';

describe('pickBuckets', () => {
  it('takes from the fullest shard first, its highest buckets first', () => {
    const owned = new Map([['s0', [0, 1, 2, 3, 4, 5]], ['s1', [6, 7, 8]], ['s2', []]]);
    expect(pickBuckets(owned, 's2', 4)).toEqual([2, 3, 4, 5]);
    expect(pickBuckets(owned, 's2', 5)).toEqual([2, 3, 4, 5, 8]);
    expect(pickBuckets(owned, 's2', 6)).toEqual([1, 2, 3, 4, 5, 8]);
  });

  it('never takes from the target, and is the same for the same directory', () => {
    const owned = new Map([['a', [0, 1]], ['b', [2, 3, 4, 5]]]);
    expect(pickBuckets(owned, 'b', 2)).toEqual([0, 1]);
    expect(pickBuckets(owned, 'a', 2)).toEqual(pickBuckets(owned, 'a', 2));
  });

  it('refuses more buckets than the other shards own', () => {
    expect(() => pickBuckets(new Map([['a', [0]], ['b', [1]]]), 'b', 2)).toThrow(/ask for at most 1/);
  });
});
