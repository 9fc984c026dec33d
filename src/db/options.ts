import type { PoolConfig } from 'pg';
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

/** Validates options once, at construction, naming the field and what it allows. */
export function resolveOptions(options: DatabaseOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new DatabaseOptionsError('options', options, 'an object with at least `primary`');
  }
  const primary = nodeConfig('primary', options.primary);
  const replicaList = options.replicas ?? [];
  if (!Array.isArray(replicaList)) throw new DatabaseOptionsError('replicas', replicaList, 'an array of URLs or pg configs');
  const replicas = replicaList.map((r, i) => nodeConfig(`replicas[${i}]`, r));
  const failover = options.failover ?? { enabled: false };
  if (typeof failover !== 'object' || failover === null || typeof failover.enabled !== 'boolean') {
    throw new DatabaseOptionsError('failover.enabled', (failover as { enabled?: unknown } | null)?.enabled, 'true or false');
  }
  return {
    nodes: [primary, ...replicas],
    maxLagMs: count('maxLagMs', options.maxLagMs, DEFAULT_MAX_LAG_MS, 0),
    maxLagBytes: options.maxLagBytes === undefined ? undefined : count('maxLagBytes', options.maxLagBytes, 0, 0),
    readYourWritesWaitMs: count('readYourWritesWaitMs', options.readYourWritesWaitMs, DEFAULT_READ_YOUR_WRITES_WAIT_MS, 0),
    checkIntervalMs: count('checkIntervalMs', options.checkIntervalMs, DEFAULT_CHECK_INTERVAL_MS, 10),
    checkTimeoutMs: count('checkTimeoutMs', options.checkTimeoutMs, DEFAULT_CHECK_TIMEOUT_MS, 10),
    failover: {
      enabled: failover.enabled,
      failAfterChecks: count('failover.failAfterChecks', failover.failAfterChecks, DEFAULT_FAIL_AFTER_CHECKS, 1),
      synchronous: bool('failover.synchronous', failover.synchronous, false),
      promoteTimeoutS: count('failover.promoteTimeoutS', failover.promoteTimeoutS, DEFAULT_PROMOTE_TIMEOUT_S, 1),
    },
    pool: {
      max: count('pool.max', options.pool?.max, DEFAULT_POOL_MAX, 1),
      idleTimeoutMillis: count('pool.idleTimeoutMillis', options.pool?.idleTimeoutMillis, DEFAULT_POOL_IDLE_TIMEOUT_MS, 0),
      connectionTimeoutMillis: count('pool.connectionTimeoutMillis', options.pool?.connectionTimeoutMillis, DEFAULT_POOL_CONNECTION_TIMEOUT_MS, 0),
    },
    routeCacheSize: count('routeCacheSize', options.routeCacheSize, DEFAULT_ROUTE_CACHE_SIZE, 1),
    clock: options.clock ?? systemClock,
    logger: options.logger ?? silentLogger,
  };
}

function nodeConfig(field: string, value: unknown): PoolConfig {
  if (typeof value === 'string') {
    if (!/^postgres(ql)?:\/\//.test(value)) throw new DatabaseOptionsError(field, value, 'a postgres:// URL or a pg config object');
    return { connectionString: value };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { ...(value as PoolConfig) };
  throw new DatabaseOptionsError(field, value, 'a postgres:// URL or a pg config object');
}

function count(field: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new DatabaseOptionsError(field, value, `a finite number >= ${min}`);
  }
  return value;
}

function bool(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new DatabaseOptionsError(field, value, 'true or false');
  return value;
}
