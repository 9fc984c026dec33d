import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createDatabase } from '../db/index.js';
import type { Database } from '../db/index.js';
import type { Clock } from '../internal/clock.js';
import type { RuntimeConfig } from './config.js';
import { startPostgresCluster } from './engines/index.js';
import { findPostgresBinaries } from './engines/postgres-binaries.js';
import { appServiceDir, canReach } from './engines/service-dir.js';
import type { PostgresCluster } from './engines/index.js';
import { findRedisServer, startRedisServer } from './engines/redis-server.js';
import type { RedisServer } from './engines/redis-server.js';
import { DbRequestError, EngineUnreachableError, redactUrl } from './errors.js';
import type { SupervisorEvent } from './instance.js';
import { PostgresGuard } from './postgres-guard.js';
import type { ProcessGroup } from './process-group.js';
import type { RebuildResult, SwitchoverResult } from './postgres-guard.js';
import { ShardStatusReader } from './shard-status.js';
import { SupervisedProcess } from './supervised-process.js';
import { withDatabase } from './shard-urls.js';
import type { DbStatus, ProcessStatus } from './topology.js';

/** How long an engine given by URL may take to answer the first check. @defaultValue 5000 */
export const ENGINE_CHECK_TIMEOUT_MS = 5_000;
/** Interval of the supervisor's checks of a database given by URL, and of the shard directory. @defaultValue 2000 */
export const DB_STATUS_INTERVAL_MS = 2_000;
/**
 * A spawned redis-server that dies takes sessions, cache and queue with it: its first
 * crashes of a series restart it at once, then `app.restart` backs off. @defaultValue 3
 */
export const REDIS_IMMEDIATE_RESTARTS = 3;

export type Profile = 'redis' | 'postgres';

/** Where an engine comes from. */
export type EngineSource = 'external' | 'embedded' | 'spawned' | 'none';

/** The engines an app runs against, whoever started them. */
export interface EngineSet {
  readonly profile: Profile | null;
  /**
   * Variables an instance started now gets: DATABASE_URL (the primary as the
   * supervisor sees it now), DATABASE_REPLICA_URLS (every other node), REDIS_URL,
   * SCALEOUT_PROFILE.
   */
  env(): Record<string, string>;
  /** One group per engine role that exists (`postgres`, `redis`). */
  groups(): ProcessGroup[];
  db(): DbStatus | null;
  /** The current primary's URL, with another database when given; undefined without PostgreSQL. */
  primaryUrl(database?: string): string | undefined;
  /** Rebuilds an embedded node as a replica of the primary (`scaleout db rebuild`). */
  rebuild(node: string, report: (event: SupervisorEvent) => void): Promise<RebuildResult>;
  /** A planned failover of the embedded primary (`scaleout db failover`). */
  switchover(report: (event: SupervisorEvent) => void): Promise<SwitchoverResult>;
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
  /** Later events: crashes, restarts, failovers, rebuilds. */
  onEvent?: (event: SupervisorEvent) => void;
  /** @defaultValue systemClock */
  clock?: Clock;
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
    let redisServer: SupervisedProcess<RedisServer> | undefined;
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
        const dataDir = join(options.dir, '.scaleout', 'redis');
        // A restart keeps the port: instances hold REDIS_URL, and their clients reconnect to it.
        let port: number | undefined;
        const supervised = new SupervisedProcess<RedisServer>({
          name: 'redis-server',
          start: async () => {
            const server = await startRedisServer({
              dataDir, appendonly, binary: redisBinary, ...(port === undefined ? {} : { port }),
              onLeftover: (pid) => (options.onEvent ?? ((event) => step(event.message)))({
                level: 'warn', message: `stopped redis-server pid ${pid}, left running in ${dataDir} by an earlier run`,
              }),
            });
            port = server.port;
            return server;
          },
          restart: config.app.restart,
          immediate: REDIS_IMMEDIATE_RESTARTS,
          restartNote: `on the same port${appendonly ? ' (append-only file kept)' : ' (append-only file off: its data is lost)'}`,
          emit: options.onEvent ?? ((event) => step(event.message)),
          ...(options.clock === undefined ? {} : { clock: options.clock }),
        });
        const server = await supervised.start();
        redisServer = supervised;
        started.push({ kill: () => supervised.kill(), stop: () => supervised.stop() });
        redisUrl = server.url;
        redisSource = 'spawned';
        step(`redis: redis-server on ${server.host}:${server.port} (pid ${server.pid ?? '?'}, append-only file ${appendonly ? 'on' : 'off'})`);
      } else {
        step('redis: none (no REDIS_URL and no redis-server on the PATH)');
      }
    }
    const profile: Profile | null = redisUrl !== undefined ? 'redis' : postgres.primaryUrl !== undefined ? 'postgres' : null;
    if (profile === 'postgres') step('profile: postgres (sessions, cache L2, bus and queue in PostgreSQL)');
    else if (profile === 'redis') step('profile: redis (sessions, cache L2, bus and queue in Redis)');
    const pgConfig = config.engines.postgres;
    const guard = postgres.cluster === undefined || pgConfig === false ? undefined : new PostgresGuard({
      cluster: postgres.cluster,
      failover: pgConfig.failover,
      synchronous: pgConfig.synchronous,
      restart: config.app.restart,
      emit: options.onEvent ?? ((event) => step(event.message)),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    if (guard !== undefined) {
      const g = guard;
      // Before the cluster: no restart may race the nodes' stop.
      started.push({ kill: () => g.kill(), stop: () => g.stop() });
      if (g.failoverEnabled) step(`postgres: failover on (the supervisor promotes a replica when ${postgres.cluster!.primary.name} stays down, and rebuilds the old primary)`);
    }
    const database = guard?.database ?? (postgres.primaryUrl === undefined ? undefined : createDatabase({
      primary: postgres.primaryUrl,
      replicas: postgres.replicaUrls,
      checkIntervalMs: DB_STATUS_INTERVAL_MS,
      pool: { max: 1 },
    }));
    const shards = config.db.shards === undefined || postgres.primaryUrl === undefined ? undefined : new ShardStatusReader({
      config: config.db.shards,
      baseUrl: () => guard?.urls().primary ?? postgres.primaryUrl,
      intervalMs: DB_STATUS_INTERVAL_MS,
    });
    return makeEngineSet(postgres, redisUrl, redisServer, redisSource, profile, database, guard, shards, started);
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
  const baseDir = await postgresBaseDir(options.dir);
  const cluster = await startPostgresCluster({
    baseDir,
    replicas,
    synchronous: synchronous && replicas > 0,
  });
  const shownDir = baseDir.startsWith(options.dir) ? relative(options.dir, baseDir) : baseDir;
  step(`postgres: embedded primary ${cluster.primary.host}:${cluster.primary.port}` +
    `${cluster.replicas.length > 0 ? ` + ${cluster.replicas.length} streaming replica(s) on ${cluster.replicas.map((r) => r.port).join(', ')}` : ''}` +
    `${synchronous && replicas > 0 ? ', synchronous' : ''} (data in ${shownDir})`);
  return { source: 'embedded', primaryUrl: cluster.primary.url(), replicaUrls: cluster.replicas.map((r) => r.url()), cluster };
}

/**
 * `<app>/.scaleout/pg`, unless this process is root and PostgreSQL's OS user cannot
 * reach that folder (an app under `/root`, or in a 0700 folder): then a per-app
 * folder under the service base, so the user's folders keep their permissions.
 */
export async function postgresBaseDir(appDir: string): Promise<string> {
  const inApp = join(appDir, '.scaleout', 'pg');
  const { runAs } = await findPostgresBinaries();
  if (runAs === undefined || await canReach(inApp, runAs)) return inApp;
  return join(await appServiceDir(appDir, runAs), 'pg');
}

function makeEngineSet(
  postgres: PostgresSide, redisUrl: string | undefined, redisServer: SupervisedProcess<RedisServer> | undefined, redisSource: EngineSource,
  profile: Profile | null, database: Database | undefined, guard: PostgresGuard | undefined, shards: ShardStatusReader | undefined,
  started: Array<{ kill(): void; stop(): Promise<void> }>,
): EngineSet {
  let stopped = false;
  shards?.start();
  const notEmbedded = (): DbRequestError => new DbRequestError('NOT_EMBEDDED', postgres.source === 'external'
    ? 'the database is given by DATABASE_URL, so its nodes are not run by scaleout; rebuild and fail over with the tools that run them'
    : 'there is no PostgreSQL in this deployment (engines.postgres is false)');
  const processes = (): ProcessStatus[] => {
    const out: ProcessStatus[] = [];
    if (postgres.cluster !== undefined) {
      for (const node of postgres.cluster.nodes) {
        const { state, detail } = guard?.describe(node) ?? { state: node.isRunning() ? 'running' : 'stopped', detail: node === postgres.cluster.primary ? 'primary' : 'replica' };
        out.push({ role: 'postgres', id: node.name, pid: node.pid ?? null, address: `${node.host}:${node.port}`, buildId: null, state, detail });
      }
    } else if (postgres.primaryUrl !== undefined) {
      out.push({ role: 'postgres', id: 'primary', pid: null, address: hostPortOf(postgres.primaryUrl), buildId: null, state: 'external', detail: 'DATABASE_URL' });
      postgres.replicaUrls.forEach((url, i) => out.push({
        role: 'postgres', id: `replica-${i + 1}`, pid: null, address: hostPortOf(url), buildId: null, state: 'external', detail: 'DATABASE_REPLICA_URLS',
      }));
    }
    const run = redisServer?.run;
    if (redisServer !== undefined && run !== undefined) {
      const lastExit = redisServer.lastExit;
      out.push({
        role: 'redis', id: 'redis', pid: run.isRunning() ? run.pid ?? null : null, address: `${run.host}:${run.port}`, buildId: null,
        state: redisServer.state, detail: `redis-server${lastExit === undefined ? '' : `, last exit: ${lastExit}`}`, restarts: redisServer.restarts,
      });
    } else if (redisUrl !== undefined && redisSource === 'external') {
      out.push({ role: 'redis', id: 'redis', pid: null, address: hostPortOf(redisUrl), buildId: null, state: 'external', detail: 'REDIS_URL' });
    }
    return out;
  };
  return {
    profile,
    env() {
      const env: Record<string, string> = {};
      const urls = guard?.urls() ?? (postgres.primaryUrl === undefined ? undefined : { primary: postgres.primaryUrl, replicas: postgres.replicaUrls });
      if (urls !== undefined) {
        env.DATABASE_URL = urls.primary;
        env.DATABASE_REPLICA_URLS = urls.replicas.join(',');
      }
      if (redisUrl !== undefined) env.REDIS_URL = redisUrl;
      if (profile !== null) env.SCALEOUT_PROFILE = profile;
      return env;
    },
    primaryUrl(name) {
      if (guard !== undefined) return guard.urls(name).primary;
      if (postgres.primaryUrl === undefined) return undefined;
      return name === undefined ? postgres.primaryUrl : withDatabase(postgres.primaryUrl, name);
    },
    groups() {
      const all = processes();
      return (['postgres', 'redis'] as const).filter((role) => all.some((p) => p.role === role))
        .map((role) => ({ role, processes: () => processes().filter((p) => p.role === role) }));
    },
    db() {
      if (database === undefined || stopped) return null;
      const t = database.topology();
      return {
        primary: t.primary,
        timeline: t.timeline,
        failoverInProgress: t.failoverInProgress,
        failover: guard?.failoverEnabled ?? false,
        nodes: t.nodes.map((n) => ({ name: n.name, role: n.role, healthy: n.healthy, lagBytes: n.lagBytes, lagMs: n.lagMs })),
        shards: shards?.snapshot() ?? null,
      };
    },
    rebuild(node, report) {
      if (guard === undefined) return Promise.reject(notEmbedded());
      return guard.rebuild(node, report);
    },
    switchover(report) {
      if (guard === undefined) return Promise.reject(notEmbedded());
      return guard.switchover(report);
    },
    async stop() {
      stopped = true;
      await shards?.stop();
      if (guard === undefined) await database?.close().catch(() => undefined);
      // Reverse start order: the guard (no restarts from here on), Redis, then PostgreSQL.
      for (const engine of [...started].reverse()) await engine.stop().catch(() => engine.kill());
    },
    kill() {
      shards?.kill();
      for (const engine of [...started].reverse()) engine.kill();
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
