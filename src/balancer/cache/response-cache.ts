import { LRUCache } from 'lru-cache';
import type { Clock } from '../../internal/clock.js';
import type { ResolvedResponseCacheOptions } from '../options.js';
import { keyTarget } from './cacheability.js';

/**
 * One stored answer, kept as the bytes a hit writes:
 *
 *     wire:  status line + fields   "age: N\r\n"   "\r\n"   body
 *            └─ head (as stored) ─┘                         └ body ┘
 *            └────────────── headLength ──────────────┘
 *
 * A hit is one socket write of `wire` (of its first `headLength` bytes for a HEAD).
 * Only Age changes while it is stored, once a second at most: `wire` is rebuilt then.
 */
export class CachedResponse {
  readonly key: string;
  /** Status line and fields as stored, latin1, each line with its CRLF; no Age, no final CRLF. */
  readonly head: string;
  /** The same for the 304 answered to a matching If-None-Match (no Content-Length or Content-Type). */
  readonly notModifiedHead: string;
  readonly body: Buffer;
  readonly etag: string | undefined;
  /** Lowercase names of the request fields it varies on, and their values in the request that stored it. */
  readonly varyNames: readonly string[];
  readonly varyValues: readonly (string | undefined)[];
  readonly storedAtMs: number;
  readonly expiresAtMs: number;
  readonly initialAgeSec: number;
  /** Bytes it holds against the cache's maxBytes. */
  readonly size: number;
  #ageSec = -1;
  #wire: Buffer = Buffer.alloc(0);
  #headLength = 0;
  #notModifiedAgeSec = -1;
  #notModified: Buffer = Buffer.alloc(0);

  constructor(fields: {
    key: string; head: string; notModifiedHead: string; body: Buffer; etag: string | undefined;
    varyNames: readonly string[]; varyValues: readonly (string | undefined)[]; storedAtMs: number; lifetimeMs: number; initialAgeSec: number;
  }) {
    this.key = fields.key;
    this.head = fields.head;
    this.notModifiedHead = fields.notModifiedHead;
    this.body = fields.body;
    this.etag = fields.etag;
    this.varyNames = fields.varyNames;
    this.varyValues = fields.varyValues;
    this.storedAtMs = fields.storedAtMs;
    this.expiresAtMs = fields.storedAtMs + fields.lifetimeMs;
    this.initialAgeSec = fields.initialAgeSec;
    this.size = fields.key.length + 2 * fields.head.length + fields.notModifiedHead.length + 2 * fields.body.length + 64;
  }

  #age(nowMs: number): number {
    return this.initialAgeSec + Math.max(0, Math.floor((nowMs - this.storedAtMs) / 1000));
  }

  /** The whole answer (head, Age, empty line, body) as of `nowMs`. */
  wire(nowMs: number): Buffer {
    const age = this.#age(nowMs);
    if (age !== this.#ageSec) {
      const head = `${this.head}age: ${age}\r\n\r\n`;
      const wire = Buffer.allocUnsafe(head.length + this.body.length);
      wire.write(head, 0, 'latin1');
      this.body.copy(wire, head.length);
      this.#wire = wire;
      this.#headLength = head.length;
      this.#ageSec = age;
    }
    return this.#wire;
  }

  /** Bytes of `wire()` up to and including the empty line (what a HEAD gets). */
  get headLength(): number {
    return this.#headLength;
  }

  /** The 304 as of `nowMs`. */
  notModified(nowMs: number): Buffer {
    const age = this.#age(nowMs);
    if (age !== this.#notModifiedAgeSec) {
      this.#notModified = Buffer.from(`${this.notModifiedHead}age: ${age}\r\n\r\n`, 'latin1');
      this.#notModifiedAgeSec = age;
    }
    return this.#notModified;
  }
}

/** What `GET /pools/:name` and /metrics show of a pool's cache. */
export interface ResponseCacheSnapshot {
  /** Requests answered from the cache (304s included). */
  hits: number;
  /** Of the hits, 304s to a matching If-None-Match. */
  notModified: number;
  /** Cacheable requests that went to a server (nothing stored, stale, or another variant). */
  misses: number;
  /** Requests the cache may not answer (a body, Authorization, no Host, a key too long). */
  bypasses: number;
  /** Answers stored. */
  stores: number;
  /** Answers to cacheable requests that were not stored (see cacheability.ts for why). */
  refused: number;
  /** Entries removed by purges. */
  purged: number;
  entries: number;
  bytes: number;
  maxBytes: number;
}

/**
 * A pool's response cache: stored answers by key (cacheability.ts), bounded by bytes
 * with least-recently-used eviction (lru-cache `maxSize`). Freshness is checked on
 * lookup with the injected clock; a stale entry is dropped then (an entry nobody asks
 * for again leaves by eviction).
 */
export class ResponseCache {
  readonly options: ResolvedResponseCacheOptions;
  readonly clock: Clock;
  readonly #entries: LRUCache<string, CachedResponse>;
  readonly counters = { hits: 0, notModified: 0, misses: 0, bypasses: 0, stores: 0, refused: 0, purged: 0 };

  constructor(options: ResolvedResponseCacheOptions) {
    this.options = options;
    this.clock = options.clock;
    this.#entries = new LRUCache<string, CachedResponse>({ maxSize: options.maxBytes, sizeCalculation: (entry) => entry.size });
  }

  /** The fresh entry under `key`, or undefined (a stale one is removed). */
  get(key: string, nowMs: number): CachedResponse | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (nowMs >= entry.expiresAtMs || nowMs < entry.storedAtMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(entry: CachedResponse): void {
    if (entry.size > this.options.maxBytes) return;
    this.#entries.set(entry.key, entry);
    this.counters.stores++;
  }

  /**
   * Removes every entry, or those whose target starts with `pathPrefix` (any host).
   * @returns how many were removed
   */
  purge(pathPrefix?: string): number {
    let removed = 0;
    if (pathPrefix === undefined || pathPrefix === '/' || pathPrefix === '') {
      removed = this.#entries.size;
      this.#entries.clear();
    } else {
      for (const key of [...this.#entries.keys()]) {
        if (keyTarget(key).startsWith(pathPrefix)) {
          this.#entries.delete(key);
          removed++;
        }
      }
    }
    this.counters.purged += removed;
    return removed;
  }

  snapshot(): ResponseCacheSnapshot {
    return { ...this.counters, entries: this.#entries.size, bytes: this.#entries.calculatedSize, maxBytes: this.options.maxBytes };
  }
}
