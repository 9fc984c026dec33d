import DataLoader from 'dataloader';
import type { Queryable, Row } from '../sharding/backend.js';
import { resolveLoaderOptions, resolveTableLoaderOptions, type ResolvedLoaderOptions } from './document-options.js';

/** A key a loader can look up; numbers, bigints and their decimal text are the same key. */
export type LoaderKey = string | number | bigint;

// Defined with the documents' other defaults; still exported from here.
export { DEFAULT_MAX_BATCH_SIZE } from './document-options.js';

export interface LoaderOptions {
  /** @defaultValue {@link DEFAULT_MAX_BATCH_SIZE} */
  maxBatchSize?: number;
  /** Memoise each key's result for the loader's life. @defaultValue true */
  cache?: boolean;
}

// pg returns int8 columns as strings while callers often hold numbers.
const norm = (key: LoaderKey): string => (typeof key === 'bigint' ? key.toString() : String(key));

function loaderOptions(resolved: ResolvedLoaderOptions): { maxBatchSize: number; cache: boolean; cacheKeyFn: (k: LoaderKey) => string } {
  return { maxBatchSize: resolved.maxBatchSize, cache: resolved.cache, cacheKeyFn: norm };
}

/**
 * Batches `load(key)` calls made in the same tick into one `fetch(keys)` and hands each
 * caller its own value (or `undefined` when missing), in the order asked.
 *
 * Create one loader per request, never per process: its cache would otherwise serve
 * one user's rows (fetched under that user's permissions) to another, and keep
 * serving them after they changed.
 *
 * @example
 * const users = createLoader((ids) => db.query('SELECT * FROM users WHERE id = ANY($1)', [ids]).then((r) => r.rows), (u) => u.id);
 * const [a, b] = await Promise.all([users.load(1), users.load(2)]); // one query
 */
export function createLoader<K extends LoaderKey, V>(fetch: (keys: K[]) => Promise<Iterable<V>>,
  keyOf: (value: V) => LoaderKey, options: LoaderOptions = {}): DataLoader<K, V | undefined, string> {
  return new DataLoader<K, V | undefined, string>(async (keys) => {
    const found = new Map<string, V>();
    for (const value of await fetch([...keys])) found.set(norm(keyOf(value)), value);
    return keys.map((k) => found.get(norm(k)));
  }, loaderOptions(resolveLoaderOptions(options)));
}

/**
 * Like {@link createLoader} for one-to-many joins: each key gets every value whose
 * `keyOf` is that key (an empty list when none), in the order `fetch` returned them.
 */
export function createGroupLoader<K extends LoaderKey, V>(fetch: (keys: K[]) => Promise<Iterable<V>>,
  keyOf: (value: V) => LoaderKey, options: LoaderOptions = {}): DataLoader<K, V[], string> {
  return new DataLoader<K, V[], string>(async (keys) => {
    const groups = new Map<string, V[]>();
    for (const value of await fetch([...keys])) {
      const k = norm(keyOf(value));
      const list = groups.get(k);
      if (list === undefined) groups.set(k, [value]);
      else list.push(value);
    }
    return keys.map((k) => groups.get(norm(k)) ?? []);
  }, loaderOptions(resolveLoaderOptions(options)));
}

/** What a sharded database offers a loader (a `ShardedDatabase` fits). */
export interface ShardedSource {
  groupByShard<K extends LoaderKey>(keys: Iterable<K>): Map<string, K[]>;
  shard(name: string): Queryable;
  queryAll(text: string, params?: readonly unknown[]): Promise<Row[]>;
}

export interface TableLoaderOptions extends LoaderOptions {
  table: string;
  /** @defaultValue 'id' */
  keyColumn?: string;
  /** @defaultValue every column */
  columns?: readonly string[];
  /** One-to-many: every row per key instead of one. @defaultValue false */
  many?: boolean;
  /**
   * On a sharded database: whether `keyColumn` is the table's shard key. If so each
   * batch asks only the shards owning its keys (one query per shard); otherwise every
   * shard is asked.
   * @defaultValue true
   */
  byShardKey?: boolean;
}

/**
 * A loader over one table: one `SELECT ... WHERE key = ANY($1)` per batch (per shard
 * when sharded).
 */
export function tableLoader<R extends Row = Row>(db: Queryable | ShardedSource,
  options: TableLoaderOptions & { many: true }): DataLoader<LoaderKey, R[], string>;
export function tableLoader<R extends Row = Row>(db: Queryable | ShardedSource,
  options: TableLoaderOptions): DataLoader<LoaderKey, R | undefined, string>;
export function tableLoader<R extends Row = Row>(db: Queryable | ShardedSource,
  options: TableLoaderOptions): DataLoader<LoaderKey, R | R[] | undefined, string> {
  const resolved = resolveTableLoaderOptions(options);
  const { keyColumn, table, many, byShardKey } = resolved;
  // The key column is selected under an alias so it can be matched even when not in `columns`.
  const cols = resolved.columns === undefined ? '*' : resolved.columns.map((c) => `"${c}"`).join(', ');
  const sql = `SELECT ${cols}, "${keyColumn}" AS "__key" FROM "${table}" WHERE "${keyColumn}" = ANY($1)`;
  const strip = (row: Row): R => {
    const { __key: _key, ...rest } = row;
    return rest as R;
  };
  const fetch = async (keys: LoaderKey[]): Promise<Row[]> => {
    const params = keys.map((k) => (typeof k === 'bigint' ? k.toString() : k));
    if (!('groupByShard' in db)) return (await db.query(sql, [params])).rows;
    if (!byShardKey) return db.queryAll(sql, [params]);
    const groups = db.groupByShard(params);
    const parts = await Promise.all([...groups].map(([shard, ks]) => db.shard(shard).query(sql, [ks])));
    return parts.flatMap((p) => p.rows);
  };
  return new DataLoader<LoaderKey, R | R[] | undefined, string>(async (keys) => {
    const groups = new Map<string, R[]>();
    for (const row of await fetch([...keys])) {
      const k = norm(row.__key as LoaderKey);
      const list = groups.get(k);
      if (list === undefined) groups.set(k, [strip(row)]);
      else list.push(strip(row));
    }
    return keys.map((k) => (many ? groups.get(norm(k)) ?? [] : groups.get(norm(k))?.[0]));
  }, loaderOptions(resolved));
}
