import { describe, expect, it } from 'vitest';
import { bucketOf, keyText, murmur3Text } from './bucket-hash.js';
import { ShardKeyError } from './errors.js';

describe('murmur3Text', () => {
  it('matches the reference vectors over UTF-8 (x86 32-bit, seed 0)', () => {
    expect(murmur3Text('')).toBe(0);
    expect(murmur3Text('hello')).toBe(0x248bfa47);
    expect(murmur3Text('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
  });
});

describe('bucketOf', () => {
  it('routes the text, number and bigint forms of one key to the same bucket', () => {
    expect(bucketOf(42, 4096)).toBe(bucketOf('42', 4096));
    expect(bucketOf(42n, 4096)).toBe(bucketOf('42', 4096));
    expect(bucketOf(-7, 64)).toBe(bucketOf('-7', 64));
  });

  it('stays in range and spreads keys over buckets', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) {
      const b = bucketOf(`user-${i}`, 16);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(16);
      counts[b]!++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });

  it('refuses keys that have no canonical text', () => {
    expect(() => keyText(1.5)).toThrow(ShardKeyError);
    expect(() => keyText(Number.NaN)).toThrow(ShardKeyError);
    expect(() => keyText(2 ** 60)).toThrow(ShardKeyError);
    expect(() => keyText(null as unknown as string)).toThrow(ShardKeyError);
    expect(() => keyText({} as unknown as string)).toThrow(ShardKeyError);
  });
});
