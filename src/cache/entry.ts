import { randomBytes } from 'node:crypto';

/** TTLs are shortened by up to this share, at random, so keys cached together do not expire together. */
export const DEFAULT_TTL_JITTER_PERCENT = 10;

/**
 * What L2 holds under `v:<key>`, JSON-encoded. Times are wall-clock milliseconds
 * (`Date.now()` of the writer), since every instance reads them.
 *
 * ```text
 *   createdAt ── fresh ──► freshUntil ── grace (stale, still served) ──► graceUntil (gone)
 * ```
 */
export interface CacheEntry {
  /** The value. */
  v: unknown;
  /** Version token of this write; L1 copies compare it with L2's to revalidate. */
  k: string;
  /** Fresh until (ms since epoch). */
  f: number;
  /** Served stale until (ms since epoch); the L2 TTL ends here. */
  g: number;
  /** Tag name to the tag's version token when the value was built. */
  t?: Record<string, string>;
}

export function newVersionToken(): string {
  return randomBytes(9).toString('base64url');
}

/** The fresh lifetime after jitter: at most `ttlMs`, at least `ttlMs * (1 - jitterPercent/100)`. */
export function jitteredTtlMs(ttlMs: number, jitterPercent: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(ttlMs * (1 - (jitterPercent / 100) * random())));
}

export function encodeEntry(entry: CacheEntry): string {
  return JSON.stringify(entry);
}

/** The entry in `text`, or undefined when it is not one (corrupt, foreign, truncated). */
export function decodeEntry(text: string | undefined): CacheEntry | undefined {
  if (text === undefined) return undefined;
  try {
    const e = JSON.parse(text) as Partial<CacheEntry> | null;
    if (e === null || typeof e !== 'object' || !('v' in e) || typeof e.k !== 'string' ||
      typeof e.f !== 'number' || typeof e.g !== 'number') return undefined;
    if (e.t !== undefined && (typeof e.t !== 'object' || e.t === null)) return undefined;
    return e as CacheEntry;
  } catch {
    return undefined;
  }
}
