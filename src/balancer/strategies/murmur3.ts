/**
 * MurmurHash3 x86 32-bit over the UTF-8 bytes of a string, encoded on the fly so hashing
 * a key allocates nothing (no Buffer, no TextEncoder). Lone surrogates are hashed as
 * U+FFFD, as `Buffer.from(s, 'utf8')` encodes them, so results match a byte-wise
 * MurmurHash3 of that buffer.
 *
 * Non-cryptographic: fine for spreading keys over a ring, not for anything an attacker
 * must not steer.
 */
export function murmur3(text: string, seed = 0): number {
  h = seed | 0;
  block = 0;
  filled = 0;
  length = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      push(c);
    } else if (c < 0x800) {
      push(0xc0 | (c >> 6));
      push(0x80 | (c & 0x3f));
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        push(0xf0 | (c >> 18));
        push(0x80 | ((c >> 12) & 0x3f));
        push(0x80 | ((c >> 6) & 0x3f));
        push(0x80 | (c & 0x3f));
      } else {
        push(0xef);
        push(0xbf);
        push(0xbd);
      }
    } else {
      push(0xe0 | (c >> 12));
      push(0x80 | ((c >> 6) & 0x3f));
      push(0x80 | (c & 0x3f));
    }
  }
  if (filled > 0) {
    let k = Math.imul(block, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

// Hash state lives at module level rather than in a closure so each call allocates
// nothing; murmur3 never re-enters itself, so sharing it is safe.
let h = 0;
let block = 0;
let filled = 0;
let length = 0;

function push(byte: number): void {
  block |= byte << (filled << 3);
  length++;
  if (++filled === 4) {
    let k = Math.imul(block, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    block = 0;
    filled = 0;
  }
}
