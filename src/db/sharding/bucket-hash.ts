import { ShardKeyError } from './errors.js';

/**
 * The id stored in `scaleout_shard_meta.hash`. It names the whole recipe: MurmurHash3
 * x86 32-bit, seed 0, over the UTF-8 bytes of the key's canonical text, modulo the
 * bucket count. Changing any part of it would silently re-home every row, so the
 * directory refuses to open with another id.
 */
export const HASH_ID = 'murmur3_32-utf8-v1';

/** A value a row can be routed by. */
export type ShardKey = string | number | bigint;

/**
 * MurmurHash3 x86 32-bit (Austin Appleby's reference, seed 0) of the first `len`
 * bytes of `bytes`, unsigned.
 * The same function runs inside PostgreSQL (`scaleout_murmur3_32`), so a shard can
 * compute a row's bucket without trusting the client.
 */
export function murmur3(bytes: Uint8Array, len = bytes.length): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const blockEnd = len & ~3;
  let h = 0;
  let k: number;
  for (let i = 0; i < blockEnd; i += 4) {
    k = (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  k = 0;
  switch (len & 3) {
    case 3: k ^= bytes[blockEnd + 2]! << 16; // falls through
    case 2: k ^= bytes[blockEnd + 1]! << 8; // falls through
    case 1:
      k ^= bytes[blockEnd]!;
      k = Math.imul(k, c1);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, c2);
      h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/**
 * {@link murmur3} of the UTF-8 encoding of `text`. Routing hashes every key, and a
 * fresh byte array per key costs more than the hash, so the text is encoded into one
 * reused buffer. Lone surrogates become U+FFFD, as the pg driver sends them.
 */
export function murmur3Text(text: string): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  if (text.length * 3 > scratch.length) scratch = new Uint8Array(text.length * 3);
  const { written } = encoder.encodeInto(text, scratch);
  return murmur3(scratch, written);
}

/**
 * The canonical text of a shard key: what `column::text` prints in PostgreSQL for
 * the same value, so the router and the shard's trigger agree on the bucket.
 * Strings are taken as they are (a uuid must be lower case, as PostgreSQL prints it);
 * numbers must be safe integers; bigints print in decimal.
 */
export function keyText(key: ShardKey): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'bigint') return key.toString();
  if (typeof key === 'number') {
    if (!Number.isSafeInteger(key)) throw new ShardKeyError(`${key} is not a safe integer`);
    return String(key);
  }
  throw new ShardKeyError(`got ${key === null ? 'null' : typeof key}`);
}

/** The bucket of `key` among `buckets`: `murmur3(utf8(keyText(key))) mod buckets`. */
export function bucketOf(key: ShardKey, buckets: number): number {
  return murmur3Text(keyText(key)) % buckets;
}
