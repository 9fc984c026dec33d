import type { PoolConfig } from 'pg';
import { z } from 'zod';
import { type Clock, systemClock } from '../internal/clock.js';
import { DatabaseOptionsError } from './errors.js';

/** @defaultValue 1000 */
export const DEFAULT_MAX_LAG_MS = 1000;
/** @defaultValue 200 */
export const DEFAULT_READ_YOUR_WRITES_WAIT_MS = 200;
/** @defaultValue 500 */
export const DEFAULT_CHECK_INTERVAL_MS = 500;
/** @defaultValue 1000 */
export const DEFAULT_CHECK_TIMEOUT_MS = 1000;
/** @defaultValue 3 */
export const DEFAULT_FAIL_AFTER_CHECKS = 3;
/** @defaultValue 60 */
export const DEFAULT_PROMOTE_TIMEOUT_S = 60;
/** @defaultValue 10 */
export const DEFAULT_POOL_MAX = 10;
/** @defaultValue 10000 */
export const DEFAULT_POOL_IDLE_TIMEOUT_MS = 10_000;
/** @defaultValue 5000 */
export const DEFAULT_POOL_CONNECTION_TIMEOUT_MS = 5_000;
/** @defaultValue 1000 */
export const DEFAULT_ROUTE_CACHE_SIZE = 1000;

/** A pino-compatible logger; the router only logs topology changes and failures. */
export interface DatabaseLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Automatic failover. */
export interface FailoverOptions {
  /** Promote a replica when the primary stays down. */
  enabled: boolean;
  /**
   * Consecutive failed checks of the primary before a failover starts; with
   * `checkIntervalMs` this is the detection time.
   * @defaultValue 3
   */
  failAfterChecks?: number;
  /**
   * After a promotion, make the new primary wait for one of the remaining replicas
   * on every commit (`synchronous_standby_names = 'ANY 1 (...)'`). Without it, writes
   * the old primary acknowledged but the promoted replica had not yet received are
   * lost in a failover.
   * @defaultValue false
   */
  synchronous?: boolean;
  /**
   * How long `pg_promote` may take, in seconds.
   * @defaultValue 60
   */
  promoteTimeoutS?: number;
}

/** Options of `createDatabase`. */
export interface DatabaseOptions {
  /**
   * The primary: a connection URL or a pg config. It is only the starting guess:
   * every node's role is discovered with `pg_is_in_recovery()` and followed.
   */
  primary: string | PoolConfig;
  /** Streaming replicas. @defaultValue [] */
  replicas?: (string | PoolConfig)[];
  /** A replica further behind than this takes no reads. @defaultValue 1000 */
  maxLagMs?: number;
  /** Optional second bound, in bytes of WAL. @defaultValue undefined (no bound) */
  maxLagBytes?: number;
  /**
   * How long a read with a token waits for a replica to replay the token's write
   * before it reads the primary instead.
   * @defaultValue 200
   */
  readYourWritesWaitMs?: number;
  /** Interval of the health, lag and role checks. @defaultValue 500 */
  checkIntervalMs?: number;
  /** A check that takes longer counts as failed. @defaultValue 1000 */
  checkTimeoutMs?: number;
  /** Automatic failover. @defaultValue `{ enabled: false }` */
  failover?: FailoverOptions;
  /** Connection pool per node. */
  pool?: {
    /** @defaultValue 10 */
    max?: number;
    /** @defaultValue 10000 */
    idleTimeoutMillis?: number;
    /** @defaultValue 5000 */
    connectionTimeoutMillis?: number;
  };
  /** Distinct SQL texts whose route is remembered. @defaultValue 1000 */
  routeCacheSize?: number;
  /** @defaultValue the system clock */
  clock?: Clock;
  /** @defaultValue no logging */
  logger?: DatabaseLogger;
}

/** Options after validation, with every default filled in. */
export interface ResolvedOptions {
  nodes: PoolConfig[];
  maxLagMs: number;
  maxLagBytes: number | undefined;
  readYourWritesWaitMs: number;
  checkIntervalMs: number;
  checkTimeoutMs: number;
  failover: Required<FailoverOptions>;
  pool: { max: number; idleTimeoutMillis: number; connectionTimeoutMillis: number };
  routeCacheSize: number;
  clock: Clock;
  logger: DatabaseLogger;
}

const silentLogger: DatabaseLogger = { info: () => {}, warn: () => {}, error: () => {} };

const atLeast = (min: number): z.ZodNumber => z.number({ error: `a finite number >= ${min}` }).min(min, `a finite number >= ${min}`);
const yesNo = z.boolean({ error: 'true or false' });
const NODE_HELP = 'a postgres:// URL or a pg config object';
const node = z.custom<string | PoolConfig>(
  (v) => (typeof v === 'string' && /^postgres(ql)?:\/\//.test(v)) || (typeof v === 'object' && v !== null && !Array.isArray(v)), NODE_HELP,
).transform((v): PoolConfig => (typeof v === 'string' ? { connectionString: v } : { ...v }));

/** The data fields of {@link DatabaseOptions}; `clock` and `logger` are taken as given. */
const databaseOptionsSchema = z.object({
  primary: node,
  replicas: z.array(node, { error: 'an array of URLs or pg configs' }).default([]),
  maxLagMs: atLeast(0).default(DEFAULT_MAX_LAG_MS),
  maxLagBytes: atLeast(0).optional(),
  readYourWritesWaitMs: atLeast(0).default(DEFAULT_READ_YOUR_WRITES_WAIT_MS),
  checkIntervalMs: atLeast(10).default(DEFAULT_CHECK_INTERVAL_MS),
  checkTimeoutMs: atLeast(10).default(DEFAULT_CHECK_TIMEOUT_MS),
  failover: z.object({
    enabled: yesNo,
    failAfterChecks: atLeast(1).default(DEFAULT_FAIL_AFTER_CHECKS),
    synchronous: yesNo.default(false),
    promoteTimeoutS: atLeast(1).default(DEFAULT_PROMOTE_TIMEOUT_S),
  }, { error: 'an object { enabled, failAfterChecks?, synchronous?, promoteTimeoutS? }' })
    .default({ enabled: false, failAfterChecks: DEFAULT_FAIL_AFTER_CHECKS, synchronous: false, promoteTimeoutS: DEFAULT_PROMOTE_TIMEOUT_S }),
  pool: z.object({
    max: atLeast(1).default(DEFAULT_POOL_MAX),
    idleTimeoutMillis: atLeast(0).default(DEFAULT_POOL_IDLE_TIMEOUT_MS),
    connectionTimeoutMillis: atLeast(0).default(DEFAULT_POOL_CONNECTION_TIMEOUT_MS),
  }, { error: 'an object { max?, idleTimeoutMillis?, connectionTimeoutMillis? }' })
    .default({ max: DEFAULT_POOL_MAX, idleTimeoutMillis: DEFAULT_POOL_IDLE_TIMEOUT_MS, connectionTimeoutMillis: DEFAULT_POOL_CONNECTION_TIMEOUT_MS }),
  routeCacheSize: atLeast(1).default(DEFAULT_ROUTE_CACHE_SIZE),
});

/** `replicas[0]`, `failover.enabled`: a field as a user writes it. */
function fieldName(path: readonly PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('') || 'options';
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let at = input;
  for (const key of path) at = at === null || typeof at !== 'object' ? undefined : (at as Record<PropertyKey, unknown>)[key];
  return at;
}

/** Validates options once, at construction, naming the field and what it allows. */
export function resolveOptions(options: DatabaseOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new DatabaseOptionsError('options', options, 'an object with at least `primary`');
  }
  const result = databaseOptionsSchema.safeParse(options);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new DatabaseOptionsError(fieldName(issue.path), valueAt(options, issue.path), issue.message);
  }
  const { primary, replicas, ...rest } = result.data;
  return { ...rest, maxLagBytes: rest.maxLagBytes, nodes: [primary, ...replicas], clock: options.clock ?? systemClock, logger: options.logger ?? silentLogger };
}
