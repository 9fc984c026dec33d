import { describe, expect, it } from 'vitest';
import { planRebalance } from './rebalance-plan.js';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('planRebalance', () => {
  it('gives a new shard its fair share, taken from the fullest shards', () => {
    const owned = new Map([['a', range(0, 8)], ['b', range(8, 12)], ['c', []]]);
    // 12 buckets over 3 shards: c needs 4, and only a holds more than 4.
    expect(planRebalance(owned, 'c')).toEqual([4, 5, 6, 7]);
  });

  it('moves nothing when the target already has its share, and is deterministic', () => {
    const owned = new Map([['a', range(0, 4)], ['b', range(4, 8)]]);
    expect(planRebalance(owned, 'b')).toEqual([]);
    const uneven = new Map([['a', range(0, 6)], ['b', range(6, 9)], ['c', range(9, 12)], ['d', []]]);
    expect(planRebalance(uneven, 'd')).toEqual(planRebalance(uneven, 'd'));
    expect(planRebalance(uneven, 'd')).toEqual([3, 4, 5]);
  });
});
