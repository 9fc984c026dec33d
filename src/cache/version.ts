import { CacheOptionsError } from './errors.js';

/**
 * How long L2 remembers the newest version written for a key, past the entry itself:
 * a writer delayed longer than this (or than the entry's lifetime, if longer) could
 * put an older value back.
 * @defaultValue 24 hours
 */
export const DEFAULT_VERSION_TTL_MS = 24 * 60 * 60 * 1_000;

const WIDTH = 20;
const MAX = 10n ** BigInt(WIDTH);

/** A version as a zero-padded decimal, so that L2 engines compare versions as strings. */
export function versionString(version: number | bigint): string {
  let v: bigint;
  if (typeof version === 'bigint') v = version;
  else if (Number.isSafeInteger(version)) v = BigInt(version);
  else throw new CacheOptionsError(`a version must be a non-negative safe integer or a bigint, got ${String(version)}`);
  if (v < 0n || v >= MAX) throw new CacheOptionsError(`a version must be at least 0 and below 10^${WIDTH}, got ${v}`);
  return v.toString().padStart(WIDTH, '0');
}

/** A Redis stream id (`<ms>-<seq>`) as a version: later entries get larger versions. */
export function streamIdVersion(id: string): bigint {
  const match = /^(\d+)-(\d+)$/.exec(id);
  if (match === null) throw new CacheOptionsError(`not a stream id: ${id}`);
  // A millisecond holds far fewer than ten million entries, and the result stays within 20 digits.
  return BigInt(match[1]!) * 10_000_000n + BigInt(match[2]!);
}
