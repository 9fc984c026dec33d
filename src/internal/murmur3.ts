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
  let h = seed | 0;
  // Bytes not yet mixed, little-endian, and how many of them there are (0..3).
  let block = 0;
  let filled = 0;
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // This character's UTF-8 bytes packed little-endian into one int, and their count.
    let bytes: number;
    let count: number;
    if (c < 0x80) {
      bytes = c;
      count = 1;
    } else if (c < 0x800) {
      bytes = (0xc0 | (c >> 6)) | ((0x80 | (c & 0x3f)) << 8);
      count = 2;
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes = (0xe0 | (c >> 12)) | ((0x80 | ((c >> 6) & 0x3f)) << 8) | ((0x80 | (c & 0x3f)) << 16);
      count = 3;
    } else {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        bytes = (0xf0 | (cp >> 18)) | ((0x80 | ((cp >> 12) & 0x3f)) << 8) |
          ((0x80 | ((cp >> 6) & 0x3f)) << 16) | ((0x80 | (cp & 0x3f)) << 24);
        count = 4;
      } else {
        bytes = 0xbdbfef; // U+FFFD
        count = 3;
      }
    }
    length += count;
    for (; count > 0; count--) {
      block |= (bytes & 0xff) << (filled << 3);
      bytes >>>= 8;
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
