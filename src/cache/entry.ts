import { randomBytes } from 'node:crypto';

/** TTLs are shortened by up to this share, at random, so keys cached together do not expire together. */
export const DEFAULT_TTL_JITTER_PERCENT = 10;

/**
 * An entry as the cache sees it. Times are wall-clock milliseconds (`Date.now()` of
 * the writer), since every instance reads them.
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

/**
 * What L2 holds under `v:<key>`: a short text header, then the value's JSON.
 *
 * ```text
 *   s1|<fresh until>|<grace until>|<version token>|<length of the tags' JSON>|<tags' JSON><value's JSON>
 *   s1|1767225600000|1767225900000|q2V0bWJ4cTJWMHR|0|{"id":3,"name":"Product 3"}
 * ```
 *
 * An L2 hit is read with a few `indexOf`s and one `JSON.parse` of the value alone: the
 * JSON envelope it replaces (`{"v":…,"k":…,"f":…,"g":…,"t":…}`) cost a larger parse and
 * a check of every field on each hit. The tags' JSON is length-prefixed because tag
 * names and versions may hold any character. `s1` is the format's version; a reader
 * treats a header it does not know as a miss, so a later format only costs one reload
 * per key.
 */
export function encodeEntry(entry: CacheEntry): string {
  const tags = entry.t === undefined ? '' : JSON.stringify(entry.t);
  // JSON.stringify gives undefined for undefined, a function or a symbol; the caller refuses those.
  return `${HEADER}${entry.f}|${entry.g}|${entry.k}|${tags.length}|${tags}${JSON.stringify(entry.v)}`;
}

const HEADER = 's1|';
const OPEN_BRACE = 123; // '{'

/** The entry in `text`, or undefined when it is not one (corrupt, foreign, truncated, another format). */
export function decodeEntry(text: string | null | undefined): CacheEntry | undefined {
  if (text === undefined || text === null) return undefined;
  if (text.startsWith(HEADER)) return decodeV1(text);
  // The JSON envelope written before the `s1` format: still read, so entries stored by
  // an older version stay hits while a deploy rolls.
  if (text.charCodeAt(0) === OPEN_BRACE) return decodeJsonEnvelope(text);
  return undefined;
}

function decodeV1(text: string): CacheEntry | undefined {
  const fEnd = text.indexOf('|', HEADER.length);
  const gEnd = fEnd < 0 ? -1 : text.indexOf('|', fEnd + 1);
  const kEnd = gEnd < 0 ? -1 : text.indexOf('|', gEnd + 1);
  const tEnd = kEnd < 0 ? -1 : text.indexOf('|', kEnd + 1);
  if (tEnd < 0) return undefined;
  const f = readNumber(text, HEADER.length, fEnd);
  const g = readNumber(text, fEnd + 1, gEnd);
  const tagsLength = readNumber(text, kEnd + 1, tEnd);
  if (Number.isNaN(f) || Number.isNaN(g) || !Number.isSafeInteger(tagsLength) || tagsLength < 0) return undefined;
  const valueStart = tEnd + 1 + tagsLength;
  if (valueStart >= text.length) return undefined;
  try {
    const entry: CacheEntry = { v: JSON.parse(text.slice(valueStart)) as unknown, k: text.slice(gEnd + 1, kEnd), f, g };
    if (tagsLength > 0) {
      const t = JSON.parse(text.slice(tEnd + 1, valueStart)) as unknown;
      if (t === null || typeof t !== 'object' || Array.isArray(t)) return undefined;
      entry.t = t as Record<string, string>;
    }
    return entry;
  } catch {
    return undefined;
  }
}

/** The number written between `start` and `end`; NaN when there is none. Integers, the usual case, are read in place. */
function readNumber(text: string, start: number, end: number): number {
  if (end <= start) return Number.NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    // A fraction or an exponent (a test clock, a custom TTL): let Number read it.
    if (d < 0 || d > 9 || i - start > 15) return Number(text.slice(start, end));
    n = n * 10 + d;
  }
  return n;
}

function decodeJsonEnvelope(text: string): CacheEntry | undefined {
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
