import { describe, expect, it } from 'vitest';
import { bucketOf, keyText, murmur3, murmur3Text } from './bucket-hash.js';
import { ShardKeyError } from './errors.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('murmur3', () => {
  it('matches the reference vectors (x86 32-bit, seed 0)', () => {
    expect(murmur3(utf8(''))).toBe(0);
    expect(murmur3(utf8('hello'))).toBe(0x248bfa47);
    expect(murmur3(utf8('The quick brown fox jumps over the lazy dog'))).toBe(0x2e4ff723);
    expect(murmur3(new Uint8Array([0x21, 0x43, 0x65, 0x87]))).toBe(0xf55b516b);
    expect(murmur3(new Uint8Array([0x21, 0x43, 0x65]))).toBe(0x7e4a8634);
    expect(murmur3(new Uint8Array([0x21, 0x43]))).toBe(0xa0f7b07a);
    expect(murmur3(new Uint8Array([0x21]))).toBe(0x72661cf4);
    expect(murmur3(new Uint8Array([0, 0, 0, 0]))).toBe(0x2362f9de);
  });
});

describe('murmur3Text', () => {
  it('equals murmur3 over the UTF-8 bytes, for every kind of character', () => {
    const pieces = ['a', 'Z', '~', '\u0080', 'é', '\u07ff', '\u0800', '中', '\uffff', '\u{1F600}', '\u{10FFFF}',
      '\ud800', '\udc00', '\udbff\udfff', '\ue000'];
    let seed = 1;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 2000; i++) {
      let s = '';
      const n = next() % 14;
      for (let j = 0; j < n; j++) s += pieces[next() % pieces.length]!;
      expect(murmur3Text(s), JSON.stringify(s)).toBe(murmur3(utf8(s)));
    }
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
