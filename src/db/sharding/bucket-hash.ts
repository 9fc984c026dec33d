import { murmur3 } from '../../internal/murmur3.js';
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
 * MurmurHash3 x86 32-bit (seed 0) of the UTF-8 encoding of `text`, unsigned. The same
 * function runs inside PostgreSQL (`scaleout_murmur3_32`), so a shard can compute a
 * row's bucket without trusting the client. Lone surrogates hash as U+FFFD, as the pg
 * driver sends them.
 */
export function murmur3Text(text: string): number {
  return murmur3(text);
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
