import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { systemClock } from '../internal/clock.js';
import type { Clock } from '../internal/clock.js';
import type { Bus } from './bus/bus.js';
import { CacheMetrics } from './cache-metrics.js';
import type { Database, Queryable } from '../db/index.js';
import type { QueryResultRow } from 'pg';
import type { CacheStats } from './cache-metrics.js';
import { checkEntryOptions, resolveCacheOptions, validEntryOptions } from './cache-options.js';
import type { CacheOptions, EntryOptions, ResolvedCacheOptions } from './cache-options.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { decodeEntry, encodeEntry, jitteredTtlMs, newVersionToken } from './entry.js';
import type { CacheEntry } from './entry.js';
import { CacheClosedError, CacheOptionsError, CacheUnsupportedError, CacheValueError } from './errors.js';
import { DEFAULT_VERSION_TTL_MS, versionString } from './version.js';
import { L1Tier } from './l1-tier.js';
import { L2Guard } from './l2-guard.js';
import { L2Entries, TAG, V } from './l2-entries.js';
import type { L2Read } from './l2-entries.js';
import { QueryCache } from './query-cache.js';
import type { CachedQueryResult, QueryCacheOptions } from './query-cache.js';
import { TurnClock } from './turn-clock.js';
import { assertKey, MAX_KEY_CHARS } from './validate.js';

/** Where a value came from: this process's memory, the shared tier, or the loader. */
export type CacheSource = 'l1' | 'l2' | 'loader';

export interface CacheResult<T> {
  value: T;
  source: CacheSource;
  /** True when the value is past its TTL (served within grace while it is rebuilt, or because the loader failed). */
  stale: boolean;
}

/**
 * Builds a value. It receives the versions of the entry's tags it is built against
 * (undefined when L2 is away), for loaders that must read at least as new as the
 * write that bumped a tag (the query cache does).
 */
export type Loader<T> = (tagVersions?: Readonly<Record<string, string>>) => T | Promise<T>;

/** Stops a `warm` loop. */
export interface WarmHandle {
  stop(): void;
}

export interface WarmOptions extends EntryOptions {
  /** How often to check and rebuild the object. Keep it below `ttlMs`. */
  intervalMs: number;
}

// Bus messages: {o: origin, d: key} drops a key from L1; {o, t: tag, k: token} bumps a tag.
interface BusMessage { o: string; d?: string; t?: string; k?: string }

// Pauses between two looks at L2 while another process holds the lease.
const LEASE_POLL_MIN_MS = 5;
const LEASE_POLL_MAX_MS = 100;

const LEASE = 'l:';
const VERSION = 'n:';

/**
 * A two-tier cache of cached objects: L1 in this process, L2 shared by every
 * instance, with single flight, a cross-process lease, grace, tags and an L1 kept
 * coherent by the bus plus a periodic check against L2.
 *
 * ```text
 *   getOrSet(key) ─► L1 fresh and checked within l1MaxStaleMs? ─yes─► value ('l1')
 *                      │ no (or stale in grace: serve it, refresh in background)
 *                      ▼  (one call per key in flight in this process)
 *                    L2: entry + tag versions, one round trip ─ fresh, tags match ─► value ('l2')
 *                      │ missing / stale / breaker open
 *                      ▼
 *                    lease (add l:key) ─ won ─► loader ─► L2, L1 ─► value ('loader')
 *                      │ lost: serve stale if any, else wait for the holder's value,
 *                      ▼       else (holder slow or dead) load without the lease
 * ```
 *
 * @example
 * ```ts
 * const cache = new Cache({ l2: new RedisL2Store(), bus: new RedisBus() });
 * const page = await cache.getOrSet(cacheKey('product_page', id), () => render(id), { ttlMs: 30_000, graceMs: 300_000, tags: ['products'] });
 * ```
 */
export class Cache {
  readonly #o: ResolvedCacheOptions;
  readonly #clock: Clock;
  readonly #id = randomBytes(8).toString('base64url');
  readonly #l1: L1Tier | undefined;
  readonly #l2: L2Guard | undefined;
  readonly #tiers: L2Entries;
  readonly #bus: Bus | undefined;
  readonly #breaker: CircuitBreaker;
  readonly #metrics: CacheMetrics;
  readonly #inflight = new Map<string, Promise<CacheResult<unknown>>>();
  // getOrSet's L2 GETs in flight (the hit path), shared the same way. A plain object,
  // not a Map: with an entry added and removed per call, a long-lived Map cost about
  // 2 µs per L2 hit here (measured), as much as the rest of the cache's work on it.
  readonly #reads: Record<string, Promise<unknown> | undefined> = Object.create(null) as Record<string, Promise<unknown> | undefined>;
  readonly #refreshing = new Set<string>();
  readonly #warmers = new Set<() => void | Promise<void>>();
  readonly #ready: Promise<void>;
  #busUp: boolean;
  #closed = false;
  #queries: QueryCache | undefined;
  // The L1 hit path's clock; undefined when a clock was injected (tests), which is then used as is.
  readonly #turnClock: TurnClock | undefined;
  // Without L2 there is nothing to check L1 against: its entries live until their TTL.
  readonly #l1MaxStaleMs: number;

  constructor(options: CacheOptions = {}) {
    this.#o = resolveCacheOptions(options);
    this.#clock = this.#o.clock ?? systemClock;
    this.#turnClock = this.#clock === systemClock ? new TurnClock() : undefined;
    this.#l1MaxStaleMs = this.#o.l2 === undefined ? Number.POSITIVE_INFINITY : this.#o.l1MaxStaleMs;
    this.#metrics = new CacheMetrics(this.#o.register, this.#o.name, () => this.stats());
    this.#breaker = new CircuitBreaker({
      failureThreshold: this.#o.breakerFailureThreshold, cooldownMs: this.#o.breakerCooldownMs, now: () => this.#clock.now(),
    });
    if (this.#o.l1) this.#l1 = new L1Tier(this.#o.l1MaxEntries, this.#o.l1MaxBytes, () => { this.#metrics.counts.l1Evictions++; });
    if (this.#o.l2 !== undefined) this.#l2 = new L2Guard(this.#o.l2, this.#breaker, this.#o.l2TimeoutMs, this.#metrics);
    this.#tiers = new L2Entries(this.#l2, this.#l1);
    this.#bus = this.#o.bus;
    this.#busUp = this.#bus?.connected ?? true;
    this.#ready = Promise.resolve();
    if (this.#bus !== undefined) {
      const bus = this.#bus;
      bus.onConnectionChange((up) => {
        // Messages sent while we were away are lost: forget everything L1 holds, and
        // keep it off until we hear again.
        this.#l1?.clear();
        this.#busUp = up;
      });
      this.#ready = bus.subscribe(this.#o.channel, (m) => this.#onMessage(m)).then(() => { this.#busUp = bus.connected; }, () => undefined);
    }
  }

  /** Resolves once the bus subscription is up (or its first attempt failed); L1 is off until then. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** The value for `key`: from L1, L2, or `loader` (then stored in both). */
  getOrSet<T>(key: string, loader: Loader<T>, options?: EntryOptions): Promise<T> {
    if (typeof key === 'string' && key.length <= MAX_KEY_CHARS && !this.#closed) {
      // The L1 hit is the hot path: one promise, no result object.
      if (this.#l1 !== undefined && this.#busUp) {
        const item = this.#l1.get(key);
        if (item !== undefined) {
          const now = this.#turnClock?.now() ?? this.#clock.now();
          if (now < item.entry.f && now - item.checkedAtMs <= this.#l1MaxStaleMs) {
            this.#metrics.counts.l1Hits++;
            return Promise.resolve(item.entry.v as T);
          }
          return this.getOrSetWithSource(key, loader, options).then((r) => r.value);
        }
      }
      if (this.#l2 !== undefined && key.length > 0 && this.#untagged(options)) {
        // One call per key in flight: a call that arrives meanwhile shares it.
        const pending = this.#inflight.get(key);
        if (pending !== undefined) return pending.then((r) => r.value as T);
        return (this.#reads[key] ?? this.#l2Get(key, loader, options)) as Promise<T>;
      }
    }
    return this.getOrSetWithSource(key, loader, options).then((r) => r.value);
  }

  /** Like `getOrSet`, and says where the value came from and whether it is stale. */
  getOrSetWithSource<T>(key: string, loader: Loader<T>, options?: EntryOptions): Promise<CacheResult<T>> {
    // Not async, so an L1 hit costs no extra promise tick; bad input still rejects.
    try {
      assertKey(key);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (this.#closed) return Promise.reject(new CacheClosedError('cache'));
    const now = this.#clock.now();
    const item = this.#l1On() ? this.#l1!.get(key) : undefined;
    if (item !== undefined && now - item.checkedAtMs <= this.#l1MaxStaleMs) {
      const e = item.entry;
      if (now < e.f) {
        this.#metrics.counts.l1Hits++;
        return Promise.resolve({ value: e.v as T, source: 'l1', stale: false });
      }
      if (now < e.g) {
        this.#metrics.counts.staleServed++;
        this.#refreshInBackground(key, loader, options);
        return Promise.resolve({ value: e.v as T, source: 'l1', stale: true });
      }
    }
    const pending = this.#inflight.get(key);
    if (pending !== undefined) return pending as Promise<CacheResult<T>>;
    const p = this.#resolve(key, loader, options, item?.entry)
      .finally(() => { this.#inflight.delete(key); });
    this.#inflight.set(key, p);
    return p;
  }

  /** True for valid options without tags: the entry is then one GET away, with no tag versions to check. */
  #untagged(options: EntryOptions | undefined): boolean {
    return options === undefined || (validEntryOptions(options) && (options.tags === undefined || options.tags.length === 0));
  }

  /**
   * The L2 hit path of an untagged key with nothing in L1: one GET, and a fresh entry
   * is the answer, with no promise of ours but the guard's. Anything else (missing,
   * stale, unreadable, L2 away) continues the full way with what the GET found, so L2
   * is not asked twice.
   */
  #l2Get<T>(key: string, loader: Loader<T>, options: EntryOptions | undefined): Promise<T> {
    const p = this.#l2!.get<T>(V + key, (text) => {
      delete this.#reads[key];
      const e = decodeEntry(text);
      if (e !== undefined) {
        const now = this.#clock.now();
        if (now < e.f) {
          this.#metrics.counts.l2Hits++;
          if (this.#l1On()) this.#l1!.set(key, e, now, text!.length);
          return e.v as T;
        }
      }
      return this.#resolveAfterRead(key, loader, options, { entry: e, tokens: {}, bytes: text?.length ?? 0 });
    }, () => {
      delete this.#reads[key];
      return this.#resolveAfterRead(key, loader, options, null);
    });
    this.#reads[key] = p;
    return p;
  }

  /** Continue a lookup after the hit path's GET (null: it failed), joining a call for the key already in flight. */
  #resolveAfterRead<T>(key: string, loader: Loader<T>, options: EntryOptions | undefined, read: L2Read | null): Promise<T> {
    let p = this.#inflight.get(key) as Promise<CacheResult<T>> | undefined;
    if (p === undefined) {
      const started = this.#resolve(key, loader, options, undefined, read).finally(() => { this.#inflight.delete(key); });
      this.#inflight.set(key, started);
      p = started;
    }
    return p.then((r) => r.value);
  }

  /** Store a value now (replacing what L2 holds) and drop every other instance's L1 copy. */
  async set<T>(key: string, value: T, options?: EntryOptions): Promise<void> {
    assertKey(key);
    checkEntryOptions(options);
    if (this.#closed) throw new CacheClosedError('cache');
    const tokens = await this.#tiers.tagTokens(options?.tags ?? [], true);
    const { entry, text } = this.#build(key, value, options, tokens);
    this.#l1?.delete(key);
    if (this.#l2 !== undefined) await this.#l2.call('set', (s) => s.set(V + key, text, entry.g - this.#clock.now()));
    if (this.#l1On()) this.#l1!.set(key, entry, this.#clock.now(), text.length);
    await this.#publish({ o: this.#id, d: key });
  }

  /**
   * Store `value` only if `version` is newer than any version stored for `key` before
   * (an atomic compare in L2: a Lua script on Redis, a conditional upsert on
   * PostgreSQL), so a slower writer never replaces a newer value. `version` comes
   * from the database row (a version column, `updated_at` in microseconds): a
   * non-negative integer that grows with every write of the row. True when stored.
   */
  async setVersioned<T>(key: string, value: T, version: number | bigint, options?: EntryOptions): Promise<boolean> {
    assertKey(key);
    checkEntryOptions(options);
    if (this.#closed) throw new CacheClosedError('cache');
    const versionText = versionString(version);
    const store = this.#l2?.store;
    if (this.#l2 === undefined || store?.setIfNewer === undefined) throw new CacheUnsupportedError(store?.name ?? 'missing', 'a versioned set');
    const tokens = await this.#tiers.tagTokens(options?.tags ?? [], true);
    const { entry, text } = this.#build(key, value, options, tokens);
    this.#l1?.delete(key);
    const ttlMs = entry.g - this.#clock.now();
    const stored = await this.#l2.call('set', (s) => s.setIfNewer!(V + key, text, ttlMs, VERSION + key, versionText, Math.max(ttlMs, DEFAULT_VERSION_TTL_MS)));
    if (stored) {
      if (this.#l1On()) this.#l1!.set(key, entry, this.#clock.now(), text.length);
      await this.#publish({ o: this.#id, d: key });
    }
    return stored;
  }

  /** Remove `key` from L2 and from every instance's L1. Throws `CacheL2UnavailableError` when L2 cannot be reached. */
  async delete(key: string): Promise<void> {
    assertKey(key);
    if (this.#closed) throw new CacheClosedError('cache');
    this.#l1?.delete(key);
    if (this.#l2 !== undefined) await this.#l2.call('delete', (s) => s.delete(V + key));
    await this.#publish({ o: this.#id, d: key });
  }

  /**
   * Invalidate every entry built with `tag`, in O(1): the tag gets a new version, and
   * entries that recorded the old one stop matching. No key is scanned or deleted;
   * the old entries expire by their TTL.
   */
  async deleteByTag(tag: string): Promise<void> {
    assertKey(tag, 'tag');
    if (this.#closed) throw new CacheClosedError('cache');
    const token = newVersionToken();
    this.#l1?.setTag(tag, token);
    if (this.#l2 !== undefined) await this.#l2.call('set', (s) => s.set(TAG + tag, token, undefined));
    await this.#publish({ o: this.#id, t: tag, k: token });
  }

  /**
   * Bump several tags at once; `versionNote` (e.g. `@<consistency token>`) is appended
   * to each new version, where loaders can read it. The query cache uses this.
   */
  async deleteByTags(tags: readonly string[], versionNote = ''): Promise<void> {
    for (const tag of tags) assertKey(tag, 'tag');
    if (this.#closed) throw new CacheClosedError('cache');
    await Promise.all(tags.map(async (tag) => {
      const token = newVersionToken() + versionNote;
      this.#l1?.setTag(tag, token);
      if (this.#l2 !== undefined) await this.#l2.call('set', (s) => s.set(TAG + tag, token, undefined));
      await this.#publish({ o: this.#id, t: tag, k: token });
    }));
  }

  /**
   * A cached query: the result of `sql` with `params` on `db`, cached under a hash of
   * the re-printed SQL and the parameters, and invalidated on every instance by any
   * write through a `scaleout/db` database attached to a cache (see `attach`) to a
   * table it reads. A query that cannot be parsed, or that calls a volatile function,
   * runs uncached (`cached: false`, counted in `queriesUncacheable`).
   */
  query<R extends QueryResultRow = QueryResultRow>(
    db: Queryable, sql: string, params?: readonly unknown[], options?: QueryCacheOptions,
  ): Promise<CachedQueryResult<R>> {
    if (this.#closed) return Promise.reject(new CacheClosedError('cache'));
    return this.#queryCache().query<R>(db, sql, params, options);
  }

  /**
   * Bump the table versions of every write `db` makes, so cached queries on those
   * tables miss on every instance. `query(db, ...)` attaches by itself; an instance
   * that writes without ever calling `query` must attach. Returns a detach function.
   */
  attach(db: Pick<Database, 'on'>): () => void {
    return this.#queryCache().attach(db);
  }

  #queryCache(): QueryCache {
    this.#queries ??= new QueryCache({
      getOrSet: (key, loader, options) => this.getOrSet(key, loader, options),
      deleteByTags: (tags, note) => this.deleteByTags(tags, note),
      count: (name) => { this.#metrics.counts[name]++; },
    });
    return this.#queries;
  }

  /**
   * Build `key` ahead of time: now, then every `intervalMs`. An instance rebuilds only
   * when L2's entry is missing, invalidated, or would turn stale before the next round,
   * and only while it holds the lease, so N instances warming one key build it about
   * once per TTL, not N times. With a `warmRunner` (the jobs tier) the rounds run there,
   * one process per tick, named `warm:<key>`; without one, on a timer in this process.
   */
  warm<T>(key: string, loader: Loader<T>, options: WarmOptions): WarmHandle {
    assertKey(key);
    const { intervalMs, ...entryOptions } = options;
    checkEntryOptions(entryOptions);
    if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
      throw new CacheOptionsError(`warm intervalMs must be a positive integer number of milliseconds, got ${String(intervalMs)}`);
    }
    let running = false;
    const round = (): void => {
      if (running || this.#closed) return;
      running = true;
      this.#warmOnce(key, loader, entryOptions, intervalMs).catch(() => undefined).finally(() => { running = false; });
    };
    // The first build happens now either way: the object is there before the first tick.
    round();
    let stop: () => void | Promise<void>;
    const runner = this.#o.warmRunner;
    if (runner !== undefined) {
      const task = runner.every(`warm:${key}`, intervalMs, async () => {
        if (this.#closed) return;
        await this.#warmOnce(key, loader, entryOptions, intervalMs);
      });
      stop = () => task.stop();
    } else {
      const timer = setInterval(round, intervalMs);
      timer.unref();
      stop = () => clearInterval(timer);
    }
    this.#warmers.add(stop);
    return { stop: () => { this.#warmers.delete(stop); void Promise.resolve(stop()).catch(() => undefined); } };
  }

  stats(): CacheStats {
    return {
      ...this.#metrics.counts,
      l2LatencyTotalMs: this.#metrics.l2LatencyTotalMs,
      breakerState: this.#breaker.state,
      busConnected: this.#bus?.connected ?? false,
      l1Enabled: this.#l1On(),
      l1Entries: this.#l1?.size ?? 0,
      l1Bytes: this.#l1?.bytes ?? 0,
    };
  }

  /** Stop warmers. The L2 store and the bus belong to the caller, who closes them. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#queries?.detachAll();
    for (const stop of this.#warmers) await Promise.resolve(stop()).catch(() => undefined);
    this.#warmers.clear();
    this.#l1?.clear();
  }

  #l1On(): boolean {
    return this.#l1 !== undefined && this.#busUp;
  }

  /** `read`: what L2 already answered for an untagged key (null: it failed), else undefined. */
  async #resolve<T>(
    key: string, loader: Loader<T>, options: EntryOptions | undefined, l1Entry: CacheEntry | undefined, read?: L2Read | null,
  ): Promise<CacheResult<T>> {
    checkEntryOptions(options);
    const tags = options?.tags ?? [];
    const now = this.#clock.now();
    // An L1 entry that is still within grace can be served if everything else fails.
    let stale: { entry: CacheEntry; source: CacheSource } | undefined =
      l1Entry !== undefined && now < l1Entry.g ? { entry: l1Entry, source: 'l1' } : undefined;
    let tokens: Record<string, string> | undefined;
    if (this.#l2 !== undefined && read !== null) {
      try {
        read ??= await this.#tiers.read(key, tags);
        tokens = read.tokens;
        const e = read.entry;
        // L2 answered, so it is the truth: an L1 copy it no longer has was invalidated.
        if (stale?.entry.k !== e?.k) stale = undefined;
        if (e !== undefined) {
          if (now < e.f) {
            this.#metrics.counts.l2Hits++;
            if (this.#l1On()) this.#l1!.set(key, e, now, read.bytes);
            return { value: e.v as T, source: 'l2', stale: false };
          }
          if (now < e.g) {
            stale = { entry: e, source: 'l2' };
            // Serve the stale copy now and let one background call rebuild it.
            if (this.#l1On()) this.#l1!.set(key, e, now, read.bytes);
            this.#metrics.counts.staleServed++;
            this.#refreshInBackground(key, loader, options);
            return { value: e.v as T, source: 'l2', stale: true };
          }
        }
      } catch {
        // L2 is away: fail open to the loader, without a lease.
      }
    }
    this.#metrics.counts.misses++;
    return this.#load(key, loader, options, tokens, stale);
  }

  /** Load under the lease; `tokens` undefined means L2 is unusable, so no lease and no L2 write. */
  async #load<T>(
    key: string, loader: Loader<T>, options: EntryOptions | undefined, tokens: Record<string, string> | undefined,
    stale: { entry: CacheEntry; source: CacheSource } | undefined,
  ): Promise<CacheResult<T>> {
    let leased = false;
    if (this.#l2 !== undefined && tokens !== undefined) {
      try {
        leased = await this.#l2.call('add', (s) => s.add(LEASE + key, this.#id, this.#o.leaseMs));
      } catch {
        tokens = undefined;
      }
      if (leased) {
        // Another holder may have written the value and released its lease between our
        // read and our add: look once more before loading again.
        const again = await this.#tiers.read(key, options?.tags ?? []).catch(() => undefined);
        const now = this.#clock.now();
        if (again?.entry !== undefined && now < again.entry.f) {
          this.#l2.call('delete', (s) => s.delete(LEASE + key)).catch(() => undefined);
          this.#metrics.counts.l2Hits++;
          if (this.#l1On()) this.#l1!.set(key, again.entry, now, again.bytes);
          return { value: again.entry.v as T, source: 'l2', stale: false };
        }
      }
      if (!leased && tokens !== undefined) {
        if (stale !== undefined) {
          this.#metrics.counts.staleServed++;
          return { value: stale.entry.v as T, source: stale.source, stale: true };
        }
        const waited = await this.#waitForHolder<T>(key, options?.tags ?? []);
        if (waited !== undefined) return waited;
      }
    }
    try {
      let value: T;
      try {
        this.#metrics.counts.loads++;
        value = await loader(tokens);
      } catch (err) {
        this.#metrics.counts.loaderErrors++;
        if (stale !== undefined && this.#clock.now() < stale.entry.g) {
          this.#metrics.counts.staleServed++;
          return { value: stale.entry.v as T, source: stale.source, stale: true };
        }
        throw err;
      }
      const { entry, text } = this.#build(key, value, options, tokens ?? {});
      if (this.#l1On()) this.#l1!.set(key, entry, this.#clock.now(), text.length);
      if (this.#l2 !== undefined && tokens !== undefined) {
        await this.#l2.call('set', (s) => s.set(V + key, text, entry.g - this.#clock.now())).catch(() => undefined);
      }
      return { value, source: 'loader', stale: false };
    } finally {
      if (leased) this.#l2!.call('delete', (s) => s.delete(LEASE + key)).catch(() => undefined);
    }
  }

  /** Another process holds the lease: look at L2 with growing pauses until its value lands. */
  async #waitForHolder<T>(key: string, tags: readonly string[]): Promise<CacheResult<T> | undefined> {
    const deadline = this.#clock.now() + this.#o.leaseWaitMs;
    let pauseMs = LEASE_POLL_MIN_MS;
    let holderDone = false;
    while ((this.#clock.now() < deadline || holderDone) && !this.#closed) {
      if (!holderDone) await delay(pauseMs);
      pauseMs = Math.min(pauseMs * 2, LEASE_POLL_MAX_MS);
      try {
        const read = await this.#tiers.read(key, tags);
        const now = this.#clock.now();
        if (read.entry !== undefined && now < read.entry.f) {
          this.#metrics.counts.l2Hits++;
          if (this.#l1On()) this.#l1!.set(key, read.entry, now, read.bytes);
          return { value: read.entry.v as T, source: 'l2', stale: false };
        }
        // The holder is gone (done or its loader failed) and left nothing usable: load ourselves.
        if (holderDone) return undefined;
        const lease = await this.#l2!.call('get', (s) => s.getMany([LEASE + key]));
        // Its value may have landed between the two reads: look once more, without pausing.
        if (lease[0] === undefined) holderDone = true;
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  #refreshInBackground<T>(key: string, loader: Loader<T>, options: EntryOptions | undefined): void {
    if (this.#refreshing.has(key) || this.#closed) return;
    this.#refreshing.add(key);
    (async () => {
      checkEntryOptions(options);
      let tokens: Record<string, string> | undefined;
      if (this.#l2 !== undefined) tokens = await this.#tiers.tagTokens(options?.tags ?? [], false).catch(() => undefined);
      // No stale fallback: a failed refresh leaves the stale value in place until grace ends.
      await this.#load(key, loader, options, tokens, undefined);
    })().catch(() => undefined).finally(() => { this.#refreshing.delete(key); });
  }

  async #warmOnce<T>(key: string, loader: Loader<T>, options: EntryOptions, intervalMs: number): Promise<void> {
    if (this.#l2 === undefined) {
      const item = this.#l1?.get(key);
      if (item === undefined || item.entry.f - this.#clock.now() <= intervalMs) await this.#load(key, loader, options, undefined, undefined);
      return;
    }
    const read = await this.#tiers.read(key, options.tags ?? []);
    const now = this.#clock.now();
    if (read.entry !== undefined && read.entry.f - now > intervalMs) {
      if (this.#l1On()) this.#l1!.set(key, read.entry, now, read.bytes);
      return;
    }
    const leased = await this.#l2.call('add', (s) => s.add(LEASE + key, this.#id, this.#o.leaseMs));
    if (!leased) return; // another instance is building it right now
    try {
      this.#metrics.counts.loads++;
      const value = await loader(read.tokens);
      const { entry, text } = this.#build(key, value, options, read.tokens);
      await this.#l2.call('set', (s) => s.set(V + key, text, entry.g - this.#clock.now()));
      if (this.#l1On()) this.#l1!.set(key, entry, this.#clock.now(), text.length);
      // Other instances may hold the old copy in L1.
      await this.#publish({ o: this.#id, d: key });
    } finally {
      await this.#l2.call('delete', (s) => s.delete(LEASE + key)).catch(() => undefined);
    }
  }

  #build(key: string, value: unknown, options: EntryOptions | undefined, tokens: Record<string, string>): { entry: CacheEntry; text: string } {
    const now = this.#clock.now();
    const f = now + jitteredTtlMs(options?.ttlMs ?? this.#o.defaultTtlMs, this.#o.jitterPercent);
    const entry: CacheEntry = { v: value, k: newVersionToken(), f, g: f + (options?.graceMs ?? this.#o.defaultGraceMs) };
    if (Object.keys(tokens).length > 0) entry.t = tokens;
    let text: string | undefined;
    try {
      text = encodeEntry(entry);
      // JSON.stringify drops undefined at the top level, and a round trip must give the same value back.
      if (value === undefined || typeof value === 'function' || typeof value === 'symbol') throw new Error(`a ${typeof value} is not JSON`);
    } catch (err) {
      throw new CacheValueError(key, { cause: err });
    }
    return { entry, text };
  }

  async #publish(message: BusMessage): Promise<void> {
    if (this.#bus === undefined) return;
    // A lost invalidation is bounded by l1MaxStaleMs, so a bus failure does not fail the write.
    await this.#bus.publish(this.#o.channel, JSON.stringify(message)).catch(() => undefined);
  }

  #onMessage(text: string): void {
    let m: BusMessage;
    try {
      m = JSON.parse(text) as BusMessage;
    } catch {
      return;
    }
    if (m === null || typeof m !== 'object' || m.o === this.#id) return;
    if (typeof m.d === 'string') this.#l1?.delete(m.d);
    if (typeof m.t === 'string' && typeof m.k === 'string') this.#l1?.setTag(m.t, m.k);
  }
}
