import { murmur3 } from '../../internal/murmur3.js';
import { RoundRobinStrategy } from './round-robin.js';
import { ServerList } from './server-list.js';
import { resolveHashBalanceFactor, resolveHashVirtualNodes } from './strategy-options.js';
import type { PickContext, Strategy, StrategyServer } from './strategy.js';

/** Options of {@link HashStrategy}. */
export interface HashOptions {
  /**
   * Bounded-load factor: a server is passed over while it has more than
   * `ceil(factor * (totalInFlight + 1) * weight / totalWeight)` requests in flight.
   * @defaultValue {@link DEFAULT_HASH_BALANCE_FACTOR} (1.25)
   */
  hashBalanceFactor?: number;
  /**
   * Ring points of the heaviest server; lighter servers get proportionally fewer
   * (at least one).
   * @defaultValue {@link DEFAULT_HASH_VIRTUAL_NODES} (160)
   */
  hashVirtualNodes?: number;
}

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, "Consistent
 * Hashing with Bounded Loads"; HAProxy's `hash-balance-factor`).
 *
 * Each server owns points on a 32-bit ring, at `murmur3("<id>#<n>")` for n = 0, 1, ...;
 * a key belongs to the first point at or after `murmur3(key)`, wrapping around:
 *
 *         0 ─── a#3 ─── b#0 ─── a#1 ─── c#2 ─── ... ─── 2^32
 *                  key ──▶ b     key ──▶ c
 *
 * Points depend only on the server id, so adding a server only takes keys from others
 * onto the new one (about 1/(n+1) of them), and removing one only moves its own keys.
 * The heaviest server gets `hashVirtualNodes` points and others fewer in proportion to
 * weight; a server's points for a smaller weight are a subset of those for a larger one,
 * so slow start moves keys onto the warming server only (unless it outweighs every other
 * server: a change of the heaviest weight rescales everyone's points).
 *
 * Bounded load: walking clockwise from the key, a server is skipped while taking the
 * request would put it above `factor` times its weight share of all requests in flight,
 * so a hot key spills to the next servers instead of saturating its home. Bounds exist
 * for every load: some server is always under its cap (their sum exceeds the total).
 * `exclude` is skipped the same way. If every other server is over its cap (possible
 * only with `exclude`), the key's first non-excluded server takes it anyway.
 *
 * A request without a key (`hashKey` undefined) is balanced round-robin: there is nothing
 * to be sticky on, and sending all of them to one fixed server would overload it.
 *
 * pick() hashes the key, finds its point in O(1) on average (a bucket table over the top
 * bits of the hash narrows the binary search to a point or two), and sums in-flight
 * counts, O(n), only when the home server is busy.
 */
export class HashStrategy<S extends StrategyServer = StrategyServer> implements Strategy<S> {
  readonly name = 'hash' as const;
  #list = new ServerList<S>();
  #fallback = new RoundRobinStrategy<S>();
  readonly #factor: number;
  readonly #virtualNodes: number;
  /** Sorted ring points, and the index in `#list` of the server owning each. */
  #points = new Uint32Array(0);
  #owners = new Uint32Array(0);
  /**
   * `#points[#buckets[b] .. #buckets[b + 1])` are the points whose top bits equal b, so a
   * lookup binary-searches one or two points instead of the whole ring.
   */
  #buckets = new Uint32Array(2);
  #bucketShift = 31;
  /** Point hashes per server id, kept across updates so slow-start rebuilds only sort. */
  #pointCache = new Map<string, Uint32Array>();
  /** `#seen[i] === #epoch` marks server i as already tried during this pick. */
  #seen = new Uint32Array(0);
  #epoch = 0;

  constructor(options: HashOptions = {}) {
    this.#factor = resolveHashBalanceFactor(options.hashBalanceFactor);
    this.#virtualNodes = resolveHashVirtualNodes(options.hashVirtualNodes);
  }

  update(servers: readonly S[]): void {
    this.#list.update(servers);
    this.#fallback.update(servers);
    this.#buildRing(this.#list.items);
    this.#seen = new Uint32Array(this.#list.items.length);
    this.#epoch = 0;
  }

  pick(ctx: PickContext): S | undefined {
    if (ctx.hashKey === undefined) return this.#fallback.pick(ctx);
    const items = this.#list.items;
    const n = items.length;
    if (n === 0) return undefined;
    const skip = this.#list.indexOf(ctx.exclude);
    if (skip >= 0 && n === 1) return undefined;

    const points = this.#points;
    const owners = this.#owners;
    const hash = murmur3(ctx.hashKey);
    const bucket = hash >>> this.#bucketShift;
    let pos = lowerBound(points, hash, this.#buckets[bucket]!, this.#buckets[bucket + 1]!);
    if (pos === points.length) pos = 0;

    const home = owners[pos]!;
    // An idle server is under any cap (ceil of a positive number is >= 1): the common
    // case needs no O(n) sum.
    if (home !== skip && items[home]!.inFlight === 0) return items[home];

    let totalInFlight = 0;
    let totalWeight = 0;
    for (let i = 0; i < n; i++) {
      totalInFlight += items[i]!.inFlight;
      totalWeight += items[i]!.weight;
    }
    const perWeight = (this.#factor * (totalInFlight + 1)) / totalWeight;

    const seen = this.#seen;
    if (++this.#epoch === 0xffffffff) {
      seen.fill(0);
      this.#epoch = 1;
    }
    const epoch = this.#epoch;
    const candidates = skip >= 0 ? n - 1 : n;
    let tried = 0;
    let first = -1;
    for (let step = 0; step < points.length && tried < candidates; step++) {
      const o = owners[pos]!;
      if (++pos === points.length) pos = 0;
      if (o === skip || seen[o] === epoch) continue;
      seen[o] = epoch;
      tried++;
      if (first < 0) first = o;
      const s = items[o]!;
      if (s.inFlight + 1 <= Math.ceil(perWeight * s.weight)) return s;
    }
    return first >= 0 ? items[first] : undefined;
  }

  #buildRing(items: readonly S[]): void {
    let maxWeight = 0;
    for (const s of items) if (s.weight > maxWeight) maxWeight = s.weight;
    // Points sort by hash, then by id, so the ring does not depend on list order even
    // when two points collide. Packed as hash * 2^21 + id rank: one numeric sort.
    const byId = items.map((s, i) => ({ id: s.id, i })).sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : x.i - y.i));
    const rankToIndex = byId.map((e) => e.i);
    const counts = items.map((s) => {
      const share = maxWeight > 0 && s.weight > 0 ? s.weight / maxWeight : 1;
      return Math.max(1, Math.round(this.#virtualNodes * share));
    });
    let total = 0;
    for (const c of counts) total += c;
    const packed = new Float64Array(total);
    const cache = new Map<string, Uint32Array>();
    let at = 0;
    for (let rank = 0; rank < byId.length; rank++) {
      const index = rankToIndex[rank]!;
      const id = items[index]!.id;
      const hashes = this.#pointHashes(id, counts[index]!, cache);
      for (let r = 0; r < counts[index]!; r++) packed[at++] = hashes[r]! * RANK_SPAN + rank;
    }
    this.#pointCache = cache;
    packed.sort();
    this.#points = new Uint32Array(total);
    this.#owners = new Uint32Array(total);
    for (let p = 0; p < total; p++) {
      const v = packed[p]!;
      const rank = v % RANK_SPAN;
      this.#points[p] = (v - rank) / RANK_SPAN;
      this.#owners[p] = rankToIndex[rank]!;
    }
    this.#buildBuckets();
  }

  #buildBuckets(): void {
    const points = this.#points;
    // About one point per bucket; at least 16 buckets so the shift stays below 32.
    const bits = Math.min(16, Math.max(4, Math.floor(Math.log2(Math.max(1, points.length)))));
    const count = 2 ** bits;
    const shift = 32 - bits;
    const buckets = new Uint32Array(count + 1);
    let p = 0;
    for (let b = 0; b < count; b++) {
      while (p < points.length && points[p]! >>> shift < b) p++;
      buckets[b] = p;
    }
    buckets[count] = points.length;
    this.#buckets = buckets;
    this.#bucketShift = shift;
  }

  #pointHashes(id: string, count: number, into: Map<string, Uint32Array>): Uint32Array {
    let hashes = into.get(id) ?? this.#pointCache.get(id);
    if (hashes === undefined || hashes.length < count) {
      const grown = new Uint32Array(Math.max(count, this.#virtualNodes));
      for (let r = 0; r < grown.length; r++) grown[r] = murmur3(`${id}#${r}`);
      hashes = grown;
    }
    into.set(id, hashes);
    return hashes;
  }
}

/** Room for 2^21 servers per point hash in the packed sort key (2^32 * 2^21 < 2^53). */
const RANK_SPAN = 2 ** 21;

/** First index in [lo, hi) whose value is >= `target`, or `hi` when none. */
function lowerBound(points: Uint32Array, target: number, lo: number, hi: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
