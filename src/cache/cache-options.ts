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
  if (options === undefined) return;
  const parsed = entrySchema.safeParse(options);
  if (!parsed.success) throw new CacheOptionsError(`invalid cache entry options: ${describeIssues(parsed.error.issues, options)}`);
}
