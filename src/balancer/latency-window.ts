/**
 * Latency over a sliding window, in fixed log-linear buckets (the HdrHistogram idea at
 * one significant digit): recording is a `Math.clz32`, a shift and an increment, with
 * no allocation, so it can sit on the proxy's hot path.
 *
 *     bucket of v µs:  v < 8            → v                         (exact)
 *                      2^e ≤ v < 2^e+1  → (e - 2) * 8 + top 3 bits  (8 per power of two, ≤ 12.5 % wide)
 *
 *     window: SLOTS slots of slotMs each, in a ring
 *       [ slot 0 | slot 1 | slot 2 | slot 3 | slot 4 ]
 *                    ▲ current: a record lands here; moving into a new slot clears it
 *     quantiles read the sum of all slots: the last (SLOTS - 1) * slotMs to SLOTS * slotMs.
 *
 * A quantile is reported as the upper bound of its bucket, so it never under-states.
 */

/** Slots in the ring: the window moves by a fifth of its length. */
export const LATENCY_WINDOW_SLOTS = 5;
/** Length of the sliding window p50/p99 are read over. @defaultValue 10000 */
export const DEFAULT_LATENCY_WINDOW_MS = 10_000;
/** Sub-buckets per power of two (precision: 1 / 8). */
const SUB_BITS = 3;
const SUB = 1 << SUB_BITS;
/** Values up to 2^31 µs (about 36 minutes); longer ones count in the last bucket. */
const MAX_US = 0x7fffffff;
export const LATENCY_BUCKETS = (31 - SUB_BITS + 1) * SUB;

/** The bucket index of a latency in whole microseconds. */
export function bucketOf(us: number): number {
  const v = us >= MAX_US ? MAX_US : us < 0 ? 0 : us | 0;
  if (v < SUB) return v;
  const e = 31 - Math.clz32(v);
  return (e - SUB_BITS + 1) * SUB + ((v >>> (e - SUB_BITS)) & (SUB - 1));
}

/** The largest value (µs) that falls in bucket `index`. */
export function bucketUpperUs(index: number): number {
  if (index < SUB) return index;
  const e = ((index / SUB) | 0) + SUB_BITS - 1;
  const sub = index & (SUB - 1);
  return (SUB + sub + 1) * 2 ** (e - SUB_BITS) - 1;
}

/** What the admin API shows: quantiles in milliseconds over the window, and how many they rest on. */
export interface LatencySummary {
  /** Median; 0 when nothing was recorded in the window. */
  p50Ms: number;
  /** 99th percentile; 0 when nothing was recorded in the window. */
  p99Ms: number;
  /** Exchanges recorded in the window. */
  count: number;
  windowMs: number;
}

export class LatencyWindow {
  readonly windowMs: number;
  readonly #slotMs: number;
  readonly #slots: Uint32Array[];
  /** The slot number (time / slotMs) each ring entry holds. */
  readonly #slotTimes: Float64Array;
  #current: Uint32Array;
  #currentTime = -1;

  constructor(windowMs: number = DEFAULT_LATENCY_WINDOW_MS) {
    this.windowMs = windowMs;
    this.#slotMs = Math.max(1, Math.floor(windowMs / LATENCY_WINDOW_SLOTS));
    this.#slots = Array.from({ length: LATENCY_WINDOW_SLOTS }, () => new Uint32Array(LATENCY_BUCKETS));
    this.#slotTimes = new Float64Array(LATENCY_WINDOW_SLOTS).fill(-1);
    this.#current = this.#slots[0]!;
  }

  /** Count one exchange of `us` microseconds that ended at `nowMs` (any monotonic ms clock). */
  record(us: number, nowMs: number): void {
    const time = Math.floor(nowMs / this.#slotMs);
    if (time !== this.#currentTime) this.#advance(time);
    this.#current[bucketOf(us)]!++;
  }

  #advance(time: number): void {
    const index = time % LATENCY_WINDOW_SLOTS;
    const slot = this.#slots[index]!;
    if (this.#slotTimes[index] !== time) {
      slot.fill(0);
      this.#slotTimes[index] = time;
    }
    this.#current = slot;
    this.#currentTime = time;
  }

  /** p50 and p99 over the slots still inside the window at `nowMs`. */
  summary(nowMs: number): LatencySummary {
    const oldest = Math.floor(nowMs / this.#slotMs) - LATENCY_WINDOW_SLOTS + 1;
    const totals = new Float64Array(LATENCY_BUCKETS);
    let count = 0;
    for (let i = 0; i < LATENCY_WINDOW_SLOTS; i++) {
      if (this.#slotTimes[i]! < oldest) continue;
      const slot = this.#slots[i]!;
      for (let b = 0; b < LATENCY_BUCKETS; b++) {
        const n = slot[b]!;
        if (n !== 0) {
          totals[b]! += n;
          count += n;
        }
      }
    }
    return { p50Ms: quantileMs(totals, count, 0.5), p99Ms: quantileMs(totals, count, 0.99), count, windowMs: this.windowMs };
  }
}

/** The `q` quantile (0..1) in ms of bucket counts summing to `count`: the upper bound of its bucket. */
export function quantileMs(totals: ArrayLike<number>, count: number, q: number): number {
  if (count === 0) return 0;
  const rank = Math.ceil(q * count);
  let seen = 0;
  for (let b = 0; b < LATENCY_BUCKETS; b++) {
    seen += totals[b]!;
    if (seen >= rank) return bucketUpperUs(b) / 1000;
  }
  return bucketUpperUs(LATENCY_BUCKETS - 1) / 1000;
}
