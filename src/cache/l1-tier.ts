import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './entry.js';

/** One L1 slot: the entry as L2 had it, and when this process last knew it matched L2. */
export interface L1Item {
  entry: CacheEntry;
  /** Clock time of the last read or check against L2 (or of the write, or of a bus message). */
  checkedAtMs: number;
}

/**
 * The in-process tier: an LRU bounded by entries and by bytes (the encoded size of
 * each entry, a fair proxy for its memory), plus the tag versions this process knows,
 * so `deleteByTag` from another instance invalidates in O(1): the bus message updates
 * one map entry, and every L1 item built with the old version stops matching.
 */
export class L1Tier {
  readonly #lru: LRUCache<string, L1Item>;
  // Tag name to the newest version token seen (from L2 reads, own writes, the bus).
  readonly #tags = new Map<string, string>();
  readonly #maxTags: number;

  constructor(maxEntries: number, maxBytes: number, onEvict: () => void) {
    this.#maxTags = maxEntries;
    this.#lru = new LRUCache<string, L1Item>({
      max: maxEntries,
      maxSize: maxBytes,
      // The encoded entry is measured once, when the item is set.
      sizeCalculation: (item) => Math.max(1, JSON.stringify(item.entry.v)?.length ?? 1),
      dispose: (_item, _key, reason) => { if (reason === 'evict') onEvict(); },
    });
  }

  /** The item for `key` when every tag it was built with is still current here. */
  get(key: string): L1Item | undefined {
    const item = this.#lru.get(key);
    if (item === undefined) return undefined;
    const t = item.entry.t;
    if (t !== undefined) {
      for (const tag in t) {
        const known = this.#tags.get(tag);
        if (known !== undefined && known !== t[tag]) {
          this.#lru.delete(key);
          return undefined;
        }
      }
    }
    return item;
  }

  set(key: string, entry: CacheEntry, checkedAtMs: number, sizeBytes?: number): void {
    this.#lru.set(key, { entry, checkedAtMs }, sizeBytes === undefined ? undefined : { size: Math.max(1, sizeBytes) });
  }

  delete(key: string): void {
    this.#lru.delete(key);
  }

  clear(): void {
    this.#lru.clear();
  }

  /** Record the current version of a tag. */
  setTag(tag: string, token: string): void {
    if (this.#tags.size >= this.#maxTags && !this.#tags.has(tag)) {
      // Forgetting a tag only costs a check against L2 later, never a stale read.
      const oldest = this.#tags.keys().next().value;
      if (oldest !== undefined) this.#tags.delete(oldest);
    }
    this.#tags.set(tag, token);
  }

  get size(): number {
    return this.#lru.size;
  }

  get bytes(): number {
    return this.#lru.calculatedSize;
  }
}
