import { describe, expect, it } from 'vitest';
import { murmur3 } from './murmur3.js';

/** Textbook byte-wise MurmurHash3 x86 32-bit, to check the streaming UTF-8 version against. */
function reference(bytes: Uint8Array, seed = 0): number {
  let h = seed | 0;
  const blocks = bytes.length & ~3;
  const mixK = (k: number): number => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    return Math.imul(k, 0x1b873593);
  };
  for (let i = 0; i < blocks; i += 4) {
    h ^= mixK(bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  for (let i = bytes.length - 1; i >= blocks; i--) k = (k << 8) | bytes[i]!;
  if (bytes.length & 3) h ^= mixK(k);
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

describe('murmur3', () => {
  it('matches published MurmurHash3_x86_32 values', () => {
    expect(murmur3('')).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('hello')).toBe(0x248bfa47);
    expect(murmur3('Hello, world!', 1234)).toBe(0xfaf6cdb3);
    expect(murmur3('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
  });

  it('hashes the UTF-8 bytes, lone surrogates as U+FFFD like Buffer does', () => {
    const samples = [
      'a', 'ab', 'abc', 'abcd', 'abcde', 'é', 'ü-ß', '€uro', '中文键', '😀', 'a😀b', '\ud800', 'x\udc00y',
      '\ud83d', '\u0000', '\u07ff\u0800\uffff', '192.168.1.10', 'session=abc; id=42',
    ];
    for (let i = 0; i < 200; i++) {
      let s = '';
      for (let j = 0; j < i % 13; j++) s += String.fromCharCode((i * 7919 + j * 104729) % 0x10000);
      samples.push(s);
    }
    for (const s of samples) {
      expect(murmur3(s, 42), JSON.stringify(s)).toBe(reference(Buffer.from(s, 'utf8'), 42));
    }
  });
});
