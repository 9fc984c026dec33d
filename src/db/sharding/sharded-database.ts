import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../internal/clock.js';
import type { Queryable, QueryResult, Row, ShardBackend } from './backend.js';
import { bucketOf, type ShardKey } from './bucket-hash.js';
import { DirectoryMap, ensureDirectory, loadDirectory, readDirectoryVersion, type DirectoryMeta } from './directory.js';
import { ShardKeyChangedError, ShardMovedError, ShardQueryError, ShardUnknownError } from './errors.js';
import { mergeRows, type MergeOptions } from './merge-rows.js';
import { reshard, type ReshardOptions, type ReshardProgress, type ReshardResult } from './reshard.js';
import { sqlState } from './sql-state.js';
import { KEY_CHANGED_SQLSTATE, MOVED_SQLSTATE, prepareShard, type ShardedTable } from './shard-schema.js';
import {
  DEFAULT_MOVED_RETRY_TIMEOUT_MS, DEFAULT_REFRESH_INTERVAL_MS, resolveShardedDatabaseOptions, type ResolvedShardedDatabaseOptions,
} from './sharding-options.js';

// Defined with the router's other defaults; still exported from here.
export { DEFAULT_MOVED_RETRY_TIMEOUT_MS, DEFAULT_REFRESH_INTERVAL_MS };

/**
 * A router whose last directory check is older than this many poll periods checks
 * inline before routing. With the default poll period it bounds staleness to 1.5 s,
 * below the reshard's default cleanup grace of 2 s.
 */
const STALE_FACTOR = 1.5;

/** Options of {@link createShardedDatabase}. */
export interface ShardedDatabaseOptions {
  /** Physical shards by name. Names are what the directory stores; keep them stable. */
  shards: Readonly<Record<string, ShardBackend>>;
  /** Where `scaleout_shard_directory` and `scaleout_shard_meta` live (created on first use). */
  directory: ShardBackend;
  /** Sharded tables and their shard key column, e.g. `{ orders: { shardKey: 'user_id' } }`. */
  tables: Readonly<Record<string, ShardedTable>>;
  /**
   * The shards a new directory spreads its buckets over; the others start empty and
   * receive buckets by resharding. Ignored once the directory exists.
   * @defaultValue every shard in `shards`
   */
  initialShards?: readonly string[];
  /** Logical buckets; fixed at creation. @defaultValue the stored count, or 4096 for a new directory */
  buckets?: number;
  /** Directory poll period; 0 turns polling off (moved errors still refresh). @defaultValue 1000 */
  refreshIntervalMs?: number;
  /** @defaultValue 10000 */
  movedRetryTimeoutMs?: number;
  /** Install the bucket column, guard triggers and support tables on every shard. @defaultValue true */
  prepareShards?: boolean;
  /** `close()` also closes every shard and the directory backend. @defaultValue true */
  closeBackends?: boolean;
  /** Called when a background directory poll fails; the router keeps its last directory. */
  onRefreshError?: (err: unknown) => void;
  /** @defaultValue systemClock */
  clock?: Clock;
}

/** A connection to one shard, as a handle: plain queries and transactions. */
export interface ShardHandle {
  readonly shard: string;
  query<R extends Row = Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T>;
}

/**
 * A handle bound to one shard key. A write that meets a fenced or moved bucket is
 * retried on the bucket's new shard after a directory refresh, so a transaction's
 * `fn` may run more than once: keep it free of side effects outside the database.
 */
export interface KeyHandle extends ShardHandle {
  readonly bucket: number;
}

/** Options of {@link ShardedDatabase.queryAll}. */
export interface QueryAllOptions extends MergeOptions {
  /**
   * Append each shard's owned buckets as one more `int[]` parameter, so the SQL can
   * say `WHERE bucket = ANY($n)` and never count a row twice while a moved bucket's
   * old copy still waits for deletion.
   * @defaultValue false
   */
  ownedBuckets?: boolean;
  /** Replaces the ordering merge, e.g. to add up per-shard counts. */
  merge?: (results: readonly ShardResult[]) => Row[];
}

/** What one shard answered in a scatter-gather. */
export interface ShardResult extends QueryResult {
  shard: string;
}


/**
 * Routes queries to shards by key through a bucket directory, reads from every shard
 * at once, and moves buckets between shards online ({@link ShardedDatabase.reshard}).
 *
 * @example
 * const db = await createShardedDatabase({
 *   shards: { s1: fromPool(pool1), s2: fromPool(pool2) },
 *   directory: fromPool(catalogue),
 *   tables: { orders: { shardKey: 'user_id' } },
 * });
 * await db.forKey(userId).query('INSERT INTO orders (id, user_id, total) VALUES ($1, $2, $3)', [id, userId, 10]);
 * const latest = await db.queryAll('SELECT * FROM orders ORDER BY created_at DESC LIMIT 10', [],
 *   { orderBy: 'created_at desc', limit: 10 });
 */
export async function createShardedDatabase(options: ShardedDatabaseOptions): Promise<ShardedDatabase> {
  const resolved = resolveShardedDatabaseOptions(options);
  const { names } = resolved;
  const meta = await ensureDirectory(resolved.directory, resolved.initialShards, resolved.buckets);
  if (resolved.prepareShards) {
    await Promise.all(names.map((n) => prepareShard(resolved.shards[n]!, n, resolved.tables, meta.buckets)));
  }
  const map = await loadDirectory(resolved.directory, names, meta);
  return new ShardedDatabase(resolved, meta, map);
}

export class ShardedDatabase {
  readonly buckets: number;
  readonly shardNames: readonly string[];
  readonly #options: ResolvedShardedDatabaseOptions;
  readonly #meta: DirectoryMeta;
  readonly #backends: ShardBackend[];
  readonly #clock: Clock;
  readonly #movedRetryTimeoutMs: number;
  #map: DirectoryMap;
  #refreshing: Promise<void> | undefined;
  #polling: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #movedRetries = 0;
  /** When the last successful version check started: the directory is known fresh as of then. */
  #verifiedAtMs: number;
  #attemptedAtMs = Number.NEGATIVE_INFINITY;
  readonly #refreshIntervalMs: number;

  /** @internal Use {@link createShardedDatabase}. */
  constructor(options: ResolvedShardedDatabaseOptions, meta: DirectoryMeta, map: DirectoryMap) {
    this.#options = options;
    this.#meta = meta;
    this.buckets = meta.buckets;
    this.shardNames = options.names;
    this.#backends = options.names.map((n) => options.shards[n]!);
    this.#clock = options.clock;
    this.#movedRetryTimeoutMs = options.movedRetryTimeoutMs;
    this.#map = map;
    this.#refreshIntervalMs = options.refreshIntervalMs;
    this.#verifiedAtMs = this.#clock.now();
    this.#schedulePoll();
  }

  /** The version of the directory this router routes by. */
  get directoryVersion(): string {
    return this.#map.version;
  }

  /** Writes retried because they met a fenced or moved bucket (for metrics). */
  get movedRetries(): number {
    return this.#movedRetries;
  }

  bucketFor(key: ShardKey): number {
    return bucketOf(key, this.buckets);
  }

  /** The name of the shard that owns `key` now (as far as this router knows). */
  shardFor(key: ShardKey): string {
    return this.#map.shardOf(bucketOf(key, this.buckets));
  }

  /** The buckets a shard owns in this router's directory. */
  bucketsOf(shard: string): readonly number[] {
    return this.#map.ownedBy(shard);
  }

  /** Splits keys by the shard that owns them (for one query per shard). */
  groupByShard<K extends ShardKey>(keys: Iterable<K>): Map<string, K[]> {
    const groups = new Map<string, K[]>();
    for (const key of keys) {
      const shard = this.shardFor(key);
      const list = groups.get(shard);
      if (list === undefined) groups.set(shard, [key]);
      else list.push(key);
    }
    return groups;
  }

  /** A handle for `key`'s shard. Cheap: a hash and an array lookup. */
  forKey(key: ShardKey): KeyHandle {
    const bucket = bucketOf(key, this.buckets);
    return {
      bucket,
      shard: this.#map.shardOf(bucket),
      query: <R extends Row = Row>(text: string, params?: readonly unknown[]) =>
        this.#routedQuery(bucket, text, params) as Promise<QueryResult<R>>,
      transaction: async <T>(fn: (client: Queryable) => Promise<T>) =>
        (await this.#routed(bucket, (b) => b.transaction(fn))).value,
    };
  }

  /** A handle for a shard by name, without key routing (migrations, maintenance). */
  shard(name: string): ShardHandle {
    const i = this.shardNames.indexOf(name);
    if (i < 0) throw new ShardUnknownError(name, this.shardNames);
    const backend = this.#backends[i]!;
    return {
      shard: name,
      query: <R extends Row = Row>(text: string, params?: readonly unknown[]) =>
        backend.query(text, params) as Promise<QueryResult<R>>,
      transaction: (fn) => backend.transaction(fn),
    };
  }

  /**
   * Runs `text` on every shard in parallel and merges the rows: ordered by `orderBy`
   * (stable), then `offset` and `limit`. Put the same ORDER BY and a LIMIT of
   * offset + limit in the SQL so each shard sends only its top rows. Rejects with
   * {@link ShardQueryError} if any shard fails: a partial answer would look complete.
   */
  async queryAll<R extends Row = Row>(text: string, params: readonly unknown[] = [],
    options: QueryAllOptions = {}): Promise<R[]> {
    const map = this.#map;
    const targets = this.shardNames
      .map((name, i) => ({ name, backend: this.#backends[i]!, owned: map.ownedBy(name) }))
      .filter((t) => options.ownedBuckets !== true || t.owned.length > 0);
    const results = await Promise.all(targets.map(async (t): Promise<ShardResult> => {
      const p = options.ownedBuckets === true ? [...params, t.owned] : params;
      try {
        const res = await t.backend.query(text, p);
        return { shard: t.name, rows: res.rows, rowCount: res.rowCount, ...(res.fields ? { fields: res.fields } : {}) };
      } catch (err) {
        throw new ShardQueryError(t.name, { cause: err });
      }
    }));
    return (options.merge !== undefined ? options.merge(results) : mergeRows(results, options)) as R[];
  }

  /** Reloads the directory now. Concurrent calls share one load. */
  refresh(): Promise<void> {
    const startedMs = this.#clock.now();
    this.#refreshing ??= loadDirectory(this.#options.directory, this.shardNames, this.#meta)
      .then((map) => {
        this.#verifiedAtMs = Math.max(this.#verifiedAtMs, startedMs);
        // A directory read from a lagging replica must not roll the router back.
        if (BigInt(map.version) >= BigInt(this.#map.version)) this.#map = map;
      })
      .finally(() => { this.#refreshing = undefined; });
    return this.#refreshing;
  }

  /**
   * Moves buckets to another shard while reads and writes go on. See `docs/sharding.md`.
   * `progress` is awaited at every step.
   */
  reshard(options: ReshardOptions, progress?: ReshardProgress): Promise<ReshardResult> {
    return reshard({
      directory: this.#options.directory,
      shards: new Map(this.shardNames.map((n, i) => [n, this.#backends[i]!] as const)),
      tables: this.#options.tables,
      buckets: this.buckets,
      current: () => this.#map,
      refresh: () => this.refresh(),
      clock: this.#clock,
    }, options, progress);
  }

  /** Stops polling and, unless `closeBackends` is false, closes every backend. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#polling;
    await this.#refreshing?.catch(() => undefined);
    if (this.#options.closeBackends) {
      // The directory may share a backend with a shard; close each once.
      await Promise.all([...new Set([...this.#backends, this.#options.directory])].map((b) => b.close()));
    }
  }

  /**
   * A single statement by key. An UPDATE or DELETE that matched nothing may have run on
   * a shard the bucket has left (after its copy was deleted, no row is there to trip
   * the guard): the router then checks the directory and, if the bucket moved, runs
   * the statement again where it lives now. Matching nothing changed nothing, so the
   * second run is safe. Inside a transaction this cannot be done; there the cleanup
   * grace period is the protection.
   */
  async #routedQuery(bucket: number, text: string, params: readonly unknown[] | undefined): Promise<QueryResult> {
    const first = await this.#routed(bucket, (b) => b.query(text, params));
    const res = first.value;
    if (res.rowCount !== 0 || (res.command !== 'UPDATE' && res.command !== 'DELETE' && res.command !== 'MERGE')) return res;
    // A check that started before the statement finished could predate the switch.
    await this.#polling;
    await this.#poll();
    if (this.#map.shardIndexOf(bucket) === first.used) return res;
    return (await this.#routed(bucket, (b) => b.query(text, params))).value;
  }

  async #routed<T>(bucket: number, run: (backend: ShardBackend) => Promise<T>): Promise<{ value: T; used: number }> {
    const startedMs = this.#clock.now();
    // A late poll (busy event loop, slow directory) must not stretch staleness past what
    // a reshard's cleanup grace assumes; check the version inline instead.
    // While the directory is unreachable that check would fail on every query; one
    // attempt per poll period is enough, and routing goes on with the last directory.
    if (this.#refreshIntervalMs > 0 && startedMs - this.#verifiedAtMs > this.#refreshIntervalMs * STALE_FACTOR
      && startedMs - this.#attemptedAtMs > this.#refreshIntervalMs) {
      await this.#poll();
    }
    let backoffMs = 5;
    for (;;) {
      const used = this.#map.shardIndexOf(bucket);
      try {
        return { value: await run(this.#backends[used]!), used };
      } catch (err) {
        const state = sqlState(err);
        if (state === KEY_CHANGED_SQLSTATE) throw new ShardKeyChangedError({ cause: err });
        if (state !== MOVED_SQLSTATE) throw err;
        this.#movedRetries++;
        await this.refresh();
        const waitedMs = this.#clock.now() - startedMs;
        if (waitedMs >= this.#movedRetryTimeoutMs) throw new ShardMovedError(bucket, waitedMs, { cause: err });
        // Same shard after a refresh: the bucket is fenced and the switch is pending.
        if (this.#map.shardIndexOf(bucket) === used) {
          await delay(backoffMs);
          backoffMs = Math.min(backoffMs * 2, 100);
        }
      }
    }
  }

  #schedulePoll(): void {
    if (this.#refreshIntervalMs <= 0 || this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.#poll().finally(() => this.#schedulePoll());
    }, this.#refreshIntervalMs);
    this.#timer.unref();
  }

  /** Checks the directory version and reloads when it moved. Never throws: routing goes on with what it has. */
  #poll(): Promise<void> {
    this.#polling ??= (async () => {
      const startedMs = this.#clock.now();
      this.#attemptedAtMs = startedMs;
      try {
        const version = await readDirectoryVersion(this.#options.directory);
        if (version !== this.#map.version && !this.#closed) await this.refresh();
        this.#verifiedAtMs = Math.max(this.#verifiedAtMs, startedMs);
      } catch (err) {
        this.#options.onRefreshError?.(err);
      }
    })().finally(() => { this.#polling = undefined; });
    return this.#polling;
  }
}
