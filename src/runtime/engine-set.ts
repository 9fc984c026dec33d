import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createDatabase } from '../db/index.js';
import type { Database } from '../db/index.js';
import type { RuntimeConfig } from './config.js';
import { startPostgresCluster } from './engines/index.js';
import type { PostgresCluster } from './engines/index.js';
import { findRedisServer, startRedisServer } from './engines/redis-server.js';
import type { RedisServer } from './engines/redis-server.js';
import { EngineUnreachableError, redactUrl } from './errors.js';
import type { DbStatus, ProcessStatus } from './topology.js';

/** How long an engine given by URL may take to answer the first check. @defaultValue 5000 */
export const ENGINE_CHECK_TIMEOUT_MS = 5_000;
/** Interval of the supervisor's own topology checks of the database. @defaultValue 2000 */
export const DB_STATUS_INTERVAL_MS = 2_000;

export type Profile = 'redis' | 'postgres';

/** Where an engine comes from. */
export type EngineSource = 'external' | 'embedded' | 'spawned' | 'none';

/** The engines an app runs against, whoever started them. */
export interface EngineSet {
  readonly profile: Profile | null;
  /** Variables every instance gets: DATABASE_URL, DATABASE_REPLICA_URLS, REDIS_URL, SCALEOUT_PROFILE. */
  readonly env: Record<string, string>;
  processes(): ProcessStatus[];
  db(): DbStatus | null;
  /** Stops what the runtime started (never an external engine). */
  stop(): Promise<void>;
  /** SIGKILL what the runtime started, now. */
  kill(): void;
}

export interface StartEnginesOptions {
  /** Absolute app folder; embedded data lives in `<dir>/.scaleout/`. */
  dir: string;
  config: RuntimeConfig;
  env: NodeJS.ProcessEnv;
  /** A step finished (for the progress display). */
  onStep?: (message: string) => void;
}

interface PostgresSide {
  source: EngineSource;
  primaryUrl: string | undefined;
  replicaUrls: string[];
  cluster: PostgresCluster | undefined;
}

/**
 * Resolves and starts the engines, in the documented order of preference:
 *
 *  - PostgreSQL: `DATABASE_URL` (+ `DATABASE_REPLICA_URLS`) when set, else the embedded
 *    primary and `engines.postgres.replicas` streaming replicas under `.scaleout/pg`.
 *  - Redis: `REDIS_URL` when set, else a `redis-server` from the PATH on a free port
 *    (data under `.scaleout/redis`), else none: the `postgres` profile.
 *
 * Engines the runtime starts are stopped by {@link EngineSet.stop}; external ones are
 * only checked to answer.
 */
export async function startEngines(options: StartEnginesOptions): Promise<EngineSet> {
  const { config, env } = options;
  const step = options.onStep ?? (() => {});
  const started: Array<{ kill(): void; stop(): Promise<void> }> = [];
  try {
    const postgres = await startPostgres(options, step);
    if (postgres.cluster !== undefined) {
      const cluster = postgres.cluster;
      started.push({ kill: () => cluster.nodes.forEach((n) => n.kill()), stop: () => cluster.stop() });
    }
    let redisUrl: string | undefined;
    let redisServer: RedisServer | undefined;
    let redisSource: EngineSource = 'none';
    const redisBinary = findRedisServer(env.PATH);
    if (config.engines.redis !== false) {
      if (env.REDIS_URL !== undefined && env.REDIS_URL !== '') {
        await checkRedis(env.REDIS_URL);
        redisUrl = env.REDIS_URL;
        redisSource = 'external';
        step(`redis: ${redactUrl(redisUrl)} (REDIS_URL)`);
      } else if (redisBinary !== undefined) {
        const appendonly = config.engines.redis.appendonly;
        redisServer = await startRedisServer({ dataDir: join(options.dir, '.scaleout', 'redis'), appendonly, binary: redisBinary });
        const server = redisServer;
        started.push({ kill: () => server.kill(), stop: () => server.stop() });
        redisUrl = redisServer.url;
        redisSource = 'spawned';
        step(`redis: redis-server on ${redisServer.host}:${redisServer.port} (pid ${redisServer.pid ?? '?'}, append-only file ${appendonly ? 'on' : 'off'})`);
      } else {
        step('redis: none (no REDIS_URL and no redis-server on the PATH)');
      }
    }
    const profile: Profile | null = redisUrl !== undefined ? 'redis' : postgres.primaryUrl !== undefined ? 'postgres' : null;
    if (profile === 'postgres') step('profile: postgres (sessions, cache L2, bus and queue in PostgreSQL)');
    else if (profile === 'redis') step('profile: redis (sessions, cache L2, bus and queue in Redis)');
    const database = postgres.primaryUrl === undefined ? undefined : createDatabase({
      primary: postgres.primaryUrl,
      replicas: postgres.replicaUrls,
      checkIntervalMs: DB_STATUS_INTERVAL_MS,
      pool: { max: 1 },
    });
    return makeEngineSet(postgres, redisUrl, redisServer, redisSource, profile, database, started);
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw err;
  }
}

async function startPostgres(options: StartEnginesOptions, step: (message: string) => void): Promise<PostgresSide> {
  const { config, env } = options;
  if (config.engines.postgres === false) return { source: 'none', primaryUrl: undefined, replicaUrls: [], cluster: undefined };
  if (env.DATABASE_URL !== undefined && env.DATABASE_URL !== '') {
    const replicaUrls = (env.DATABASE_REPLICA_URLS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    await checkPostgres('DATABASE_URL', env.DATABASE_URL);
    for (const url of replicaUrls) await checkPostgres('DATABASE_REPLICA_URLS', url);
    step(`postgres: ${redactUrl(env.DATABASE_URL)} (DATABASE_URL)${replicaUrls.length > 0 ? ` + ${replicaUrls.length} replica(s)` : ''}`);
    return { source: 'external', primaryUrl: env.DATABASE_URL, replicaUrls, cluster: undefined };
  }
  const { replicas, synchronous } = config.engines.postgres;
  const cluster = await startPostgresCluster({
    baseDir: join(options.dir, '.scaleout', 'pg'),
    replicas,
    synchronous: synchronous && replicas > 0,
  });
  step(`postgres: embedded primary ${cluster.primary.host}:${cluster.primary.port}` +
    `${cluster.replicas.length > 0 ? ` + ${cluster.replicas.length} streaming replica(s) on ${cluster.replicas.map((r) => r.port).join(', ')}` : ''}` +
    `${synchronous && replicas > 0 ? ', synchronous' : ''} (data in .scaleout/pg)`);
  return { source: 'embedded', primaryUrl: cluster.primary.url(), replicaUrls: cluster.replicas.map((r) => r.url()), cluster };
}

function makeEngineSet(
  postgres: PostgresSide, redisUrl: string | undefined, redisServer: RedisServer | undefined, redisSource: EngineSource,
  profile: Profile | null, database: Database | undefined, started: Array<{ kill(): void; stop(): Promise<void> }>,
): EngineSet {
  const env: Record<string, string> = {};
  if (postgres.primaryUrl !== undefined) {
    env.DATABASE_URL = postgres.primaryUrl;
    env.DATABASE_REPLICA_URLS = postgres.replicaUrls.join(',');
  }
  if (redisUrl !== undefined) env.REDIS_URL = redisUrl;
  if (profile !== null) env.SCALEOUT_PROFILE = profile;
  let stopped = false;
  return {
    profile,
    env,
    processes() {
      const out: ProcessStatus[] = [];
      if (postgres.cluster !== undefined) {
        const primary = postgres.cluster.primary;
        for (const node of postgres.cluster.nodes) {
          out.push({
            role: 'postgres', id: node.name, pid: node.pid ?? null, address: `${node.host}:${node.port}`, buildId: null,
            state: node.isRunning() ? 'running' : 'stopped', detail: node === primary ? 'primary' : 'replica',
          });
        }
      } else if (postgres.primaryUrl !== undefined) {
        out.push({ role: 'postgres', id: 'primary', pid: null, address: hostPortOf(postgres.primaryUrl), buildId: null, state: 'external', detail: 'DATABASE_URL' });
        postgres.replicaUrls.forEach((url, i) => out.push({
          role: 'postgres', id: `replica-${i + 1}`, pid: null, address: hostPortOf(url), buildId: null, state: 'external', detail: 'DATABASE_REPLICA_URLS',
        }));
      }
      if (redisServer !== undefined) {
        out.push({
          role: 'redis', id: 'redis', pid: redisServer.pid ?? null, address: `${redisServer.host}:${redisServer.port}`, buildId: null,
          state: redisServer.isRunning() ? 'running' : 'stopped', detail: 'redis-server',
        });
      } else if (redisUrl !== undefined && redisSource === 'external') {
        out.push({ role: 'redis', id: 'redis', pid: null, address: hostPortOf(redisUrl), buildId: null, state: 'external', detail: 'REDIS_URL' });
      }
      return out;
    },
    db() {
      if (database === undefined || stopped) return null;
      const t = database.topology();
      return {
        primary: t.primary,
        timeline: t.timeline,
        failoverInProgress: t.failoverInProgress,
        nodes: t.nodes.map((n) => ({ name: n.name, role: n.role, healthy: n.healthy, lagBytes: n.lagBytes, lagMs: n.lagMs })),
      };
    },
    async stop() {
      stopped = true;
      await database?.close().catch(() => undefined);
      // Reverse start order: Redis, then PostgreSQL.
      for (const engine of [...started].reverse()) await engine.stop().catch(() => engine.kill());
    },
    kill() {
      for (const engine of started) engine.kill();
    },
  };
}

function hostPortOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port === '' ? (parsed.protocol.startsWith('redis') ? '6379' : '5432') : parsed.port}`;
  } catch {
    return null;
  }
}

async function checkPostgres(variable: string, url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: ENGINE_CHECK_TIMEOUT_MS, query_timeout: ENGINE_CHECK_TIMEOUT_MS });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new EngineUnreachableError(variable, url, (err as Error).message, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkRedis(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: ENGINE_CHECK_TIMEOUT_MS, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new EngineUnreachableError('REDIS_URL', url, (err as Error).message, { cause: err });
  } finally {
    client.disconnect();
  }
}
