import { createHash } from 'node:crypto';
import type { QueryResultRow } from 'pg';
import { ConsistencyToken } from '../db/index.js';
import type { Database, Queryable, QueryOptions, WriteEvent } from '../db/index.js';
import type { CounterName } from './cache-metrics.js';
import { CacheOptionsError } from './errors.js';
import { analyzeRead, writtenTables } from './query-tables.js';
import type { ReadAnalysis, WrittenTables } from './query-tables.js';

/** Options of one cached query. */
export interface QueryCacheOptions {
  /** @defaultValue the cache's `defaultTtlMs` */
  ttlMs?: number;
  /** @defaultValue the cache's `defaultGraceMs` */
  graceMs?: number;
}

/** A cached query's answer. Rows went through JSON: dates are ISO strings, whether they came from the cache or not. */
export interface CachedQueryResult<R> {
  rows: R[];
  rowCount: number;
  /** False when the query was not cacheable and ran as is; see `reason`. */
  cached: boolean;
  reason?: 'unparsable' | 'not-a-read' | 'volatile' | 'too-long' | 'too-many-tables';
}

/** Tag of a table's version; `table:*` is bumped by writes the analysis cannot place. */
export const TABLE_TAG_PREFIX = 'table:';
const ALL_TABLES = 'table:*';
// Tags an entry may carry (the cache's limit), one of them the "every table" tag.
const MAX_TABLES = 31;
const MAX_MEMO = 2_000;
const MAX_PLAIN_PARAMS_CHARS = 512;

/** A read's analysis with what every call needs computed once per SQL text. */
type Analyzed = Exclude<ReadAnalysis, { cacheable: true }> | (Extract<ReadAnalysis, { cacheable: true }> & { sqlHash: string; tags: string[] });

/** What the query cache needs from the cache (kept narrow so the two can live in separate files). */
export interface QueryCacheHost {
  getOrSet<T>(key: string, loader: (versions?: Readonly<Record<string, string>>) => Promise<T>, options: { ttlMs?: number; graceMs?: number; tags: string[] }): Promise<T>;
  deleteByTags(tags: readonly string[], versionNote?: string): Promise<void>;
  count(name: CounterName): void;
}

/**
 * Cached queries: a result is kept under a hash of the re-printed SQL and its
 * parameters, tagged with the version of every table the query reads. A write
 * announced by the database (its `write` event) bumps the versions of the tables it
 * wrote, in L2 and on the bus, so every cached query on them misses at once on every
 * instance.
 *
 * A table version remembers the consistency token of the write that bumped it, and a
 * query that misses reads at or after that token (read-your-writes through the
 * router): a lagging replica cannot put the old rows back under the new version.
 */
export class QueryCache {
  readonly #host: QueryCacheHost;
  readonly #attached = new Map<object, () => void>();
  readonly #reads = new Map<string, Analyzed>();
  readonly #writes = new Map<string, WrittenTables>();

  constructor(host: QueryCacheHost) {
    this.#host = host;
  }

  async query<R extends QueryResultRow = QueryResultRow>(
    db: Queryable, sql: string, params: readonly unknown[] = [], options: QueryCacheOptions = {},
  ): Promise<CachedQueryResult<R>> {
    if (typeof sql !== 'string') throw new CacheOptionsError('query text must be a string');
    if (!Array.isArray(params)) throw new CacheOptionsError('query parameters must be an array');
    if (isDatabase(db)) this.attach(db);
    const analysis = this.#analyze(sql);
    if (!analysis.cacheable || analysis.tables.length > MAX_TABLES) {
      this.#host.count('queriesUncacheable');
      const result = await db.query<R>(sql, [...params]);
      return { rows: toJson(result.rows), rowCount: result.rowCount ?? result.rows.length, cached: false, reason: analysis.cacheable ? 'too-many-tables' : analysis.reason };
    }
    this.#host.count('queriesCached');
    let paramsText: string;
    try {
      paramsText = JSON.stringify(params, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    } catch (err) {
      throw new CacheOptionsError(`query parameters must be JSON-serialisable to be part of a cache key (${(err as Error).message})`);
    }
    // Short parameters go in the key as they are: no hash per call on the hit path.
    const key = paramsText.length <= MAX_PLAIN_PARAMS_CHARS
      ? `q:${analysis.sqlHash}:${paramsText}`
      : `q:${analysis.sqlHash}:#${createHash('sha256').update(paramsText).digest('base64url')}`;
    const tags = analysis.tags;
    const { rows, rowCount } = await this.#host.getOrSet(key, async (versions) => {
      const result = await db.query<R>(sql, [...params], readAfter(versions));
      return { rows: toJson(result.rows), rowCount: result.rowCount ?? result.rows.length };
    }, { ttlMs: options.ttlMs, graceMs: options.graceMs, tags });
    return { rows, rowCount, cached: true };
  }

  /** Listen to `db`'s writes; returns a function that stops listening. Idempotent per database. */
  attach(db: Pick<Database, 'on'>): () => void {
    const known = this.#attached.get(db);
    if (known !== undefined) return known;
    const off = db.on('write', (event) => this.#onWrite(event));
    const detach = (): void => { off(); this.#attached.delete(db); };
    this.#attached.set(db, detach);
    return detach;
  }

  /** Stop listening to every database (the cache is closing). */
  detachAll(): void {
    for (const detach of [...this.#attached.values()]) detach();
  }

  async #onWrite(event: WriteEvent): Promise<void> {
    const tags = new Set<string>();
    for (const sql of event.statements) {
      const written = this.#written(sql);
      if (written === 'all') { tags.clear(); tags.add(ALL_TABLES); break; }
      for (const t of written) tags.add(TABLE_TAG_PREFIX + t);
    }
    if (tags.size === 0) return;
    this.#host.count('tableInvalidations');
    // Without the commit's token, readers go to the primary until the next bump.
    await this.#host.deleteByTags([...tags], event.token === undefined ? '@p' : `@${event.token.toString()}`);
  }

  #analyze(sql: string): Analyzed {
    return memo(this.#reads, sql, (text) => {
      const analysis = analyzeRead(text);
      if (!analysis.cacheable) return analysis;
      return {
        ...analysis,
        sqlHash: createHash('sha256').update(analysis.normalized).digest('base64url'),
        tags: [ALL_TABLES, ...analysis.tables.map((t) => TABLE_TAG_PREFIX + t)],
      };
    });
  }

  #written(sql: string): WrittenTables {
    return memo(this.#writes, sql, writtenTables);
  }
}

/** Where a missed query must read so that it sees every write the table versions stand for. */
function readAfter(versions: Readonly<Record<string, string>> | undefined): QueryOptions {
  // No versions: L2 is away and nothing is cached in it, so any node will do for a bounded L1 copy; the primary is surest.
  if (versions === undefined) return { consistency: 'primary' };
  let newest: ConsistencyToken | undefined;
  for (const version of Object.values(versions)) {
    const at = version.indexOf('@');
    if (at < 0) continue;
    const note = version.slice(at + 1);
    if (note === 'p') return { consistency: 'primary' };
    const token = ConsistencyToken.parse(note);
    if (token === undefined) return { consistency: 'primary' };
    newest = ConsistencyToken.newest(newest, token);
  }
  return newest === undefined ? { consistency: 'eventual' } : { consistency: 'session', token: newest };
}

function toJson<R>(rows: R[]): R[] {
  return JSON.parse(JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as R[];
}

function memo<T>(map: Map<string, T>, key: string, compute: (key: string) => T): T {
  let value = map.get(key);
  if (value === undefined) {
    value = compute(key);
    // The parser costs far more than a lookup; the memory is bounded by starting over.
    if (map.size >= MAX_MEMO) map.clear();
    map.set(key, value);
  }
  return value;
}

function isDatabase(db: Queryable): db is Queryable & Pick<Database, 'on'> {
  return typeof (db as Partial<Database>).on === 'function';
}
