import type { Registry } from 'prom-client';
import { z } from 'zod';
import { describeIssues } from '../internal/zod-issues.js';
import type { Clock } from '../internal/clock.js';
import type { Bus } from './bus/bus.js';
import { DEFAULT_BREAKER_COOLDOWN_MS, DEFAULT_BREAKER_FAILURE_THRESHOLD } from './circuit-breaker.js';
import { DEFAULT_TTL_JITTER_PERCENT } from './entry.js';
import { CacheOptionsError } from './errors.js';
import type { L2Store } from './l2-store.js';
import type { WarmRunner } from './warm-runner.js';

/** @defaultValue */
export const DEFAULT_CACHE_TTL_MS = 60_000;
/** Stale values are not served unless a grace period is given. */
export const DEFAULT_CACHE_GRACE_MS = 0;
/** @defaultValue */
export const DEFAULT_L1_MAX_ENTRIES = 10_000;
/** @defaultValue 64 MiB */
export const DEFAULT_L1_MAX_BYTES = 64 * 1024 * 1024;
/** An L1 entry older than this is checked against L2 before it is served: the bound on staleness when a bus message is lost. */
export const DEFAULT_L1_MAX_STALE_MS = 5_000;
/** Lifetime of the lease that lets one process load a missing key; a dead holder blocks others at most this long. */
export const DEFAULT_LEASE_MS = 5_000;
/** How long a process without the lease waits for the holder's value before it loads itself. */
export const DEFAULT_LEASE_WAIT_MS = 2_000;
/** The most one L2 call may take before the cache gives up on it and goes to the loader. */
export const DEFAULT_L2_TIMEOUT_MS = 250;
/** @defaultValue */
export const DEFAULT_CACHE_CHANNEL = 'scaleout_cache';

export interface CacheOptions {
  /** The shared tier. Without one the cache is L1 only (one process). */
  l2?: L2Store;
  /** Carries invalidations to the other instances' L1. */
  bus?: Bus;
  /** Bus channel; instances of one app share it. @defaultValue {@link DEFAULT_CACHE_CHANNEL} */
  channel?: string;
  /** Name in metrics labels. @defaultValue `'default'` */
  name?: string;
  /** `false` turns L1 off (every read goes to L2). @defaultValue true */
  l1?: boolean;
  /** @defaultValue {@link DEFAULT_L1_MAX_ENTRIES} */
  l1MaxEntries?: number;
  /** Bound on the encoded size of all L1 entries. @defaultValue {@link DEFAULT_L1_MAX_BYTES} */
  l1MaxBytes?: number;
  /** @defaultValue {@link DEFAULT_L1_MAX_STALE_MS} */
  l1MaxStaleMs?: number;
  /** @defaultValue {@link DEFAULT_CACHE_TTL_MS} */
  defaultTtlMs?: number;
  /** @defaultValue {@link DEFAULT_CACHE_GRACE_MS} */
  defaultGraceMs?: number;
  /** TTLs are shortened at random by up to this percentage. @defaultValue {@link DEFAULT_TTL_JITTER_PERCENT} */
  jitterPercent?: number;
  /** @defaultValue {@link DEFAULT_LEASE_MS} */
  leaseMs?: number;
  /** @defaultValue {@link DEFAULT_LEASE_WAIT_MS} */
  leaseWaitMs?: number;
  /** @defaultValue {@link DEFAULT_L2_TIMEOUT_MS} */
  l2TimeoutMs?: number;
  /** Consecutive L2 failures that open the breaker. @defaultValue {@link DEFAULT_BREAKER_FAILURE_THRESHOLD} */
  breakerFailureThreshold?: number;
  /** @defaultValue {@link DEFAULT_BREAKER_COOLDOWN_MS} */
  breakerCooldownMs?: number;
  /** Register the cache's Prometheus metrics here. */
  register?: Registry;
  /** @defaultValue the system clock */
  clock?: Clock;
  /** Who runs `warm` rounds, e.g. a worker of the jobs tier. @defaultValue a timer in this process */
  warmRunner?: WarmRunner;
}

const ms = z.number().int().positive();
const schema = z.strictObject({
  l2: z.custom<L2Store>((v) => typeof v === 'object' && v !== null && typeof (v as L2Store).getMany === 'function',
    'expected an L2 store (RedisL2Store, MemcachedL2Store, PostgresL2Store)').optional(),
  bus: z.custom<Bus>((v) => typeof v === 'object' && v !== null && typeof (v as Bus).publish === 'function',
    'expected a bus (RedisBus, PostgresBus)').optional(),
  channel: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _').default(DEFAULT_CACHE_CHANNEL),
  name: z.string().min(1).max(64).default('default'),
  l1: z.boolean().default(true),
  l1MaxEntries: z.number().int().positive().default(DEFAULT_L1_MAX_ENTRIES),
  l1MaxBytes: z.number().int().positive().default(DEFAULT_L1_MAX_BYTES),
  l1MaxStaleMs: ms.default(DEFAULT_L1_MAX_STALE_MS),
  defaultTtlMs: ms.default(DEFAULT_CACHE_TTL_MS),
  defaultGraceMs: z.number().int().nonnegative().default(DEFAULT_CACHE_GRACE_MS),
  jitterPercent: z.number().min(0).max(50).default(DEFAULT_TTL_JITTER_PERCENT),
  leaseMs: ms.default(DEFAULT_LEASE_MS),
  leaseWaitMs: z.number().int().nonnegative().default(DEFAULT_LEASE_WAIT_MS),
  l2TimeoutMs: ms.default(DEFAULT_L2_TIMEOUT_MS),
  breakerFailureThreshold: z.number().int().positive().default(DEFAULT_BREAKER_FAILURE_THRESHOLD),
  breakerCooldownMs: ms.default(DEFAULT_BREAKER_COOLDOWN_MS),
  register: z.custom<Registry>((v) => typeof v === 'object' && v !== null && typeof (v as Registry).registerMetric === 'function',
    'expected a prom-client Registry').optional(),
  clock: z.custom<Clock>((v) => typeof v === 'object' && v !== null && typeof (v as Clock).now === 'function', 'expected { now(): number }').optional(),
  warmRunner: z.custom<WarmRunner>((v) => typeof v === 'object' && v !== null && typeof (v as WarmRunner).every === 'function',
    'expected { every(name, intervalMs, round) }, e.g. ScheduledRounds of scaleout/jobs').optional(),
});

export type ResolvedCacheOptions = z.output<typeof schema>;

export function resolveCacheOptions(options: CacheOptions): ResolvedCacheOptions {
  const parsed = schema.safeParse(options);
  if (!parsed.success) throw new CacheOptionsError(`invalid cache options: ${describeIssues(parsed.error.issues, options)}`);
  return parsed.data;
}

/** Options of one `getOrSet`, `set` or `warm`. */
export interface EntryOptions {
  /** How long the value is fresh (before jitter). @defaultValue the cache's `defaultTtlMs` */
  ttlMs?: number;
  /** How long after that a stale value may still be served while it is rebuilt. @defaultValue the cache's `defaultGraceMs` */
  graceMs?: number;
  /** Tags; `deleteByTag(tag)` invalidates every entry built with it. Give the same tags on every call for a key. */
  tags?: readonly string[];
}

const entrySchema = z.strictObject({
  ttlMs: ms.optional(),
  graceMs: z.number().int().nonnegative().optional(),
  tags: z.array(z.string().min(1).max(256)).max(32).optional(),
});

export function checkEntryOptions(options: EntryOptions | undefined): void {
  if (options === undefined || validEntryOptions(options)) return;
  const parsed = entrySchema.safeParse(options);
  if (!parsed.success) throw new CacheOptionsError(`invalid cache entry options: ${describeIssues(parsed.error.issues, options)}`);
}

/**
 * True for options the schema accepts, checked by hand: `getOrSet` checks its options
 * on every call, and a schema parse costs more than an L2 hit. Anything this does not
 * accept goes to the schema, which has the last word and says what is wrong.
 */
export function validEntryOptions(o: EntryOptions): boolean {
  if (o === null || typeof o !== 'object') return false;
  for (const name in o) {
    if (name !== 'ttlMs' && name !== 'graceMs' && name !== 'tags') return false;
  }
  const { ttlMs, graceMs, tags } = o;
  if (ttlMs !== undefined && !(Number.isSafeInteger(ttlMs) && ttlMs > 0)) return false;
  if (graceMs !== undefined && !(Number.isSafeInteger(graceMs) && graceMs >= 0)) return false;
  if (tags !== undefined) {
    if (!Array.isArray(tags) || tags.length > 32) return false;
    for (const tag of tags as unknown[]) {
      if (typeof tag !== 'string' || tag.length < 1 || tag.length > 256) return false;
    }
  }
  return true;
}

// ── the L2 stores and the buses: defaults and checks, each resolved once at construction ──

/** Where the engines are when neither the options nor the environment say. */
export const DEFAULT_CACHE_ENGINE_URLS = {
  redis: 'redis://127.0.0.1:6379',
  postgres: 'postgres://postgres@127.0.0.1:5432/postgres',
  memcached: '127.0.0.1:11211',
} as const;

export const DEFAULT_CACHE_REDIS_STORE = { keyPrefix: 'scaleout:cache:', connectTimeoutMs: 1_000, commandTimeoutMs: 1_000 } as const;
/** memcached: a short timeout, the cache's breaker decides what a slow server means. */
export const DEFAULT_CACHE_MEMCACHED_STORE = { keyPrefix: 'scaleout:cache:', timeoutMs: 500 } as const;
export const DEFAULT_CACHE_POSTGRES_STORE = {
  table: 'scaleout_cache',
  connectTimeoutMs: 1_000,
  queryTimeoutMs: 1_000,
  /** Expired rows are deleted this often (0: never). */
  cleanupIntervalMs: 60_000,
  cleanupBatchSize: 1_000,
} as const;
/** The write-behind log in a PostgreSQL table (write-behind/postgres-table-log.ts). */
export const DEFAULT_WRITE_BEHIND_POSTGRES_LOG = {
  table: 'scaleout_write_behind_log',
  /** How often an idle flusher looks for new entries. */
  pollMs: 100,
  /** How long getting a connection may take before an append fails. */
  connectTimeoutMs: 1_000,
  /** How long one append may take before it fails (unacknowledged). */
  queryTimeoutMs: 2_000,
} as const;
export const DEFAULT_CACHE_BUS = { connectionName: 'scaleout-cache-bus', timeoutMs: 1_000 } as const;

const positiveMsSchema = z.number().int('use a positive integer number of milliseconds').positive('use a positive integer number of milliseconds');
const SQL_IDENT = /^[a-z_][a-z0-9_]{0,47}$/;

export const redisL2StoreSchema = z.object({
  keyPrefix: z.string().max(128, 'use a string of at most 128 characters').default(DEFAULT_CACHE_REDIS_STORE.keyPrefix),
  connectTimeoutMs: positiveMsSchema.default(DEFAULT_CACHE_REDIS_STORE.connectTimeoutMs),
  commandTimeoutMs: positiveMsSchema.default(DEFAULT_CACHE_REDIS_STORE.commandTimeoutMs),
});
export const memcachedL2StoreSchema = z.object({
  keyPrefix: z.string().regex(/^[\x21-\x7e]{0,64}$/, 'use at most 64 printable ASCII characters without spaces').default(DEFAULT_CACHE_MEMCACHED_STORE.keyPrefix),
  timeoutMs: positiveMsSchema.default(DEFAULT_CACHE_MEMCACHED_STORE.timeoutMs),
});
export const postgresL2StoreSchema = z.object({
  table: z.string().refine((t) => t.split('.').length <= 2 && t.split('.').every((p) => SQL_IDENT.test(p)),
    'use [schema.]name of lower-case letters, digits and _ (at most 48 each)').default(DEFAULT_CACHE_POSTGRES_STORE.table),
  connectTimeoutMs: positiveMsSchema.default(DEFAULT_CACHE_POSTGRES_STORE.connectTimeoutMs),
  queryTimeoutMs: positiveMsSchema.default(DEFAULT_CACHE_POSTGRES_STORE.queryTimeoutMs),
  cleanupIntervalMs: z.number().int().min(0, 'use 0 (off) or a positive integer').default(DEFAULT_CACHE_POSTGRES_STORE.cleanupIntervalMs),
  cleanupBatchSize: z.number().int().positive('use a positive integer').default(DEFAULT_CACHE_POSTGRES_STORE.cleanupBatchSize),
});
export const busSchema = z.object({
  connectionName: z.string().min(1).default(DEFAULT_CACHE_BUS.connectionName),
  commandTimeoutMs: positiveMsSchema.default(DEFAULT_CACHE_BUS.timeoutMs),
  timeoutMs: positiveMsSchema.default(DEFAULT_CACHE_BUS.timeoutMs),
});

export const postgresTableLogSchema = z.object({
  table: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'use lower-case letters, digits and _ (at most 63)').default(DEFAULT_WRITE_BEHIND_POSTGRES_LOG.table),
  pollMs: positiveMsSchema.default(DEFAULT_WRITE_BEHIND_POSTGRES_LOG.pollMs),
  connectTimeoutMs: positiveMsSchema.default(DEFAULT_WRITE_BEHIND_POSTGRES_LOG.connectTimeoutMs),
  queryTimeoutMs: positiveMsSchema.default(DEFAULT_WRITE_BEHIND_POSTGRES_LOG.queryTimeoutMs),
});

function parseCacheOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new CacheOptionsError(`invalid ${what} options: ${describeIssues(result.error.issues, input ?? {})}`);
}

type Env = NodeJS.ProcessEnv;

/** A Redis URL: the options', else `REDIS_URL`, else the local default. */
export function cacheRedisUrl(given: string | undefined, env: Env = process.env): string {
  return given ?? env.REDIS_URL ?? DEFAULT_CACHE_ENGINE_URLS.redis;
}

/** A PostgreSQL connection string: the options', else `DATABASE_URL`, else the local default. */
export function cachePostgresUrl(given: string | undefined, env: Env = process.env): string {
  return given ?? env.DATABASE_URL ?? DEFAULT_CACHE_ENGINE_URLS.postgres;
}

export function resolveRedisL2StoreOptions(input: z.input<typeof redisL2StoreSchema> & { url?: string }, env: Env = process.env): z.output<typeof redisL2StoreSchema> & { url: string } {
  return { ...parseCacheOptions(redisL2StoreSchema, input, 'Redis L2 store'), url: cacheRedisUrl(input?.url, env) };
}

export function resolveMemcachedL2StoreOptions(input: z.input<typeof memcachedL2StoreSchema> & { servers?: string }, env: Env = process.env): z.output<typeof memcachedL2StoreSchema> & { servers: string } {
  return { ...parseCacheOptions(memcachedL2StoreSchema, input, 'memcached L2 store'), servers: input?.servers ?? env.MEMCACHED_URL ?? DEFAULT_CACHE_ENGINE_URLS.memcached };
}

export function resolvePostgresL2StoreOptions(input: z.input<typeof postgresL2StoreSchema> & { connectionString?: string }, env: Env = process.env): z.output<typeof postgresL2StoreSchema> & { connectionString: string } {
  return { ...parseCacheOptions(postgresL2StoreSchema, input, 'PostgreSQL L2 store'), connectionString: cachePostgresUrl(input?.connectionString, env) };
}

export function resolveBusOptions(input: z.input<typeof busSchema>): z.output<typeof busSchema> {
  return parseCacheOptions(busSchema, input, 'bus');
}

export function resolvePostgresTableLogOptions(input: z.input<typeof postgresTableLogSchema> & { connectionString?: string }, env: Env = process.env): z.output<typeof postgresTableLogSchema> & { connectionString: string } {
  return { ...parseCacheOptions(postgresTableLogSchema, input, 'write-behind PostgreSQL log'), connectionString: cachePostgresUrl(input?.connectionString, env) };
}
