import { join, relative } from 'node:path';
import pg from 'pg';
import { createDatabase } from '../../db/index.js';
import type { Database } from '../../db/index.js';
import type { Clock } from '../../internal/clock.js';
import { formatInstanceEnv, INSTANCE_ENV } from '../../internal/instance-env.js';
import type { RuntimeConfig } from '../config.js';
import { DbRequestError, EngineUnreachableError, redactUrl } from '../errors.js';
import type { SupervisorEvent } from '../events.js';
import { PostgresGuard } from '../postgres-guard.js';
import type { RebuildResult, SwitchoverResult } from '../postgres-guard.js';
import { ShardStatusReader } from '../shard-status.js';
import { withDatabase } from '../shard-urls.js';
import type { DbStatus, ProcessStatus } from '../status.js';
import type { Engine, EngineContext, EngineSource } from './engine.js';
import { hostPortOf } from './engine.js';
import { startPostgresReplicaSet } from './postgres-replica-set.js';
import type { PostgresReplicaSet } from './postgres-replica-set.js';
import { findPostgresBinaries } from './postgres-binaries.js';
import { appServiceDir, canReach } from './service-dir.js';

/** How long a database given by URL may take to answer the first check. @defaultValue 5000 */
export const POSTGRES_CHECK_TIMEOUT_MS = 5_000;
/** Interval of the supervisor's checks of a database given by URL, and of the shard directory. @defaultValue 2000 */
export const DB_STATUS_INTERVAL_MS = 2_000;

export interface PostgresEngineOptions extends EngineContext {
  config: RuntimeConfig;
  emit: (event: SupervisorEvent) => void;
  clock?: Clock;
}

/**
 * PostgreSQL: `DATABASE_URL` (+ `DATABASE_REPLICA_URLS`) when set, else the embedded
 * primary and `engines.postgres.replicas` streaming replicas under `.scaleout/pg`,
 * kept serving by a {@link PostgresGuard} (restarts, failover, rebuilds). Also the
 * supervisor's view of the data tier: roles, lag and the app's shards.
 */
export class PostgresEngine implements Engine {
  readonly role = 'postgres';
  readonly #options: PostgresEngineOptions;
  #source: EngineSource = 'none';
  #primaryUrl: string | undefined;
  #replicaUrls: string[] = [];
  #replicaSet: PostgresReplicaSet | undefined;
  #guard: PostgresGuard | undefined;
  #database: Database | undefined;
  #shards: ShardStatusReader | undefined;
  #stopped = false;

  constructor(options: PostgresEngineOptions) {
    this.#options = options;
  }

  get source(): EngineSource {
    return this.#source;
  }

  async start(): Promise<void> {
    const { config, env, step, emit } = this.#options;
    const pgConfig = config.engines.postgres;
    if (pgConfig === false) return;
    const databaseUrl = env[INSTANCE_ENV.databaseUrl];
    if (databaseUrl !== undefined && databaseUrl !== '') {
      const replicaUrls = (env[INSTANCE_ENV.databaseReplicaUrls] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      await checkPostgres(INSTANCE_ENV.databaseUrl, databaseUrl);
      for (const url of replicaUrls) await checkPostgres(INSTANCE_ENV.databaseReplicaUrls, url);
      step(`postgres: ${redactUrl(databaseUrl)} (${INSTANCE_ENV.databaseUrl})${replicaUrls.length > 0 ? ` + ${replicaUrls.length} replica(s)` : ''}`);
      this.#source = 'external';
      this.#primaryUrl = databaseUrl;
      this.#replicaUrls = replicaUrls;
    } else {
      const { replicas, synchronous } = pgConfig;
      const baseDir = await postgresBaseDir(this.#options.dir);
      const replicaSet = await startPostgresReplicaSet({ baseDir, replicas, synchronous: synchronous && replicas > 0 });
      this.#replicaSet = replicaSet;
      const shownDir = baseDir.startsWith(this.#options.dir) ? relative(this.#options.dir, baseDir) : baseDir;
      step(`postgres: embedded primary ${replicaSet.primary.host}:${replicaSet.primary.port}` +
        `${replicaSet.replicas.length > 0 ? ` + ${replicaSet.replicas.length} streaming replica(s) on ${replicaSet.replicas.map((r) => r.port).join(', ')}` : ''}` +
        `${synchronous && replicas > 0 ? ', synchronous' : ''} (data in ${shownDir})`);
      this.#source = 'embedded';
      this.#primaryUrl = replicaSet.primary.url();
      this.#replicaUrls = replicaSet.replicas.map((r) => r.url());
      this.#guard = new PostgresGuard({
        replicaSet,
        failover: pgConfig.failover,
        synchronous: pgConfig.synchronous,
        restart: config.app.restart,
        emit,
        ...(this.#options.clock === undefined ? {} : { clock: this.#options.clock }),
      });
      if (this.#guard.failoverEnabled) step(`postgres: failover on (the supervisor promotes a replica when ${replicaSet.primary.name} stays down, and rebuilds the old primary)`);
    }
    this.#database = this.#guard?.database ?? createDatabase({
      primary: this.#primaryUrl,
      replicas: this.#replicaUrls,
      checkIntervalMs: DB_STATUS_INTERVAL_MS,
      pool: { max: 1 },
    });
    if (config.db.shards !== undefined) {
      this.#shards = new ShardStatusReader({
        config: config.db.shards,
        baseUrl: () => this.url(),
        intervalMs: DB_STATUS_INTERVAL_MS,
      });
      this.#shards.start();
    }
  }

  /** The current primary's URL, with another database when given. */
  url(database?: string): string | undefined {
    if (this.#guard !== undefined) return this.#guard.urls(database).primary;
    if (this.#primaryUrl === undefined) return undefined;
    return database === undefined ? this.#primaryUrl : withDatabase(this.#primaryUrl, database);
  }

  /** DATABASE_URL (the primary as the supervisor sees it now) and DATABASE_REPLICA_URLS (every other node). */
  env(): Record<string, string> {
    const urls = this.#guard?.urls() ?? (this.#primaryUrl === undefined ? undefined : { primary: this.#primaryUrl, replicas: this.#replicaUrls });
    return urls === undefined ? {} : formatInstanceEnv({ databaseUrl: urls.primary, replicaUrls: urls.replicas });
  }

  async health(): Promise<boolean> {
    const url = this.url();
    if (url === undefined) return false;
    return checkPostgres(INSTANCE_ENV.databaseUrl, url).then(() => true, () => false);
  }

  status(): ProcessStatus[] {
    const out: ProcessStatus[] = [];
    const replicaSet = this.#replicaSet;
    if (replicaSet !== undefined) {
      for (const node of replicaSet.nodes) {
        const { state, detail } = this.#guard?.describe(node) ?? { state: node.isRunning() ? 'running' : 'stopped', detail: node === replicaSet.primary ? 'primary' : 'replica' };
        out.push({ role: 'postgres', id: node.name, pid: node.pid ?? null, address: `${node.host}:${node.port}`, buildId: null, state, detail });
      }
    } else if (this.#primaryUrl !== undefined) {
      out.push({ role: 'postgres', id: 'primary', pid: null, address: hostPortOf(this.#primaryUrl), buildId: null, state: 'external', detail: INSTANCE_ENV.databaseUrl });
      this.#replicaUrls.forEach((url, i) => out.push({
        role: 'postgres', id: `replica-${i + 1}`, pid: null, address: hostPortOf(url), buildId: null, state: 'external', detail: INSTANCE_ENV.databaseReplicaUrls,
      }));
    }
    return out;
  }

  processes(): ProcessStatus[] {
    return this.status();
  }

  /** The data tier as the supervisor's router sees it; null without PostgreSQL. */
  db(): DbStatus | null {
    if (this.#database === undefined || this.#stopped) return null;
    const t = this.#database.topology();
    return {
      primary: t.primary,
      timeline: t.timeline,
      failoverInProgress: t.failoverInProgress,
      failover: this.#guard?.failoverEnabled ?? false,
      nodes: t.nodes.map((n) => ({ name: n.name, role: n.role, healthy: n.healthy, lagBytes: n.lagBytes, lagMs: n.lagMs })),
      shards: this.#shards?.snapshot() ?? null,
    };
  }

  /** Rebuilds an embedded node as a replica of the primary (`scaleout db rebuild`). */
  rebuild(node: string, report: (event: SupervisorEvent) => void): Promise<RebuildResult> {
    if (this.#guard === undefined) return Promise.reject(this.#notEmbedded());
    return this.#guard.rebuild(node, report);
  }

  /** A planned failover of the embedded primary (`scaleout db failover`). */
  switchover(report: (event: SupervisorEvent) => void): Promise<SwitchoverResult> {
    if (this.#guard === undefined) return Promise.reject(this.#notEmbedded());
    return this.#guard.switchover(report);
  }

  #notEmbedded(): DbRequestError {
    return this.#source === 'external'
      ? new DbRequestError('NOT_EMBEDDED', `the database is given by ${INSTANCE_ENV.databaseUrl}, so its nodes are not run by scaleout; rebuild and fail over with the tools that run them`)
      : noPostgresError();
  }

  /** The shard reader, the router, the guard (no restarts from here on), then the nodes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#shards?.stop();
    if (this.#guard === undefined) await this.#database?.close().catch(() => undefined);
    if (this.#guard !== undefined) await this.#guard.stop().catch(() => this.#guard!.kill());
    if (this.#replicaSet !== undefined) await this.#replicaSet.stop().catch(() => this.#replicaSet!.nodes.forEach((n) => n.kill()));
  }

  kill(): void {
    this.#shards?.kill();
    this.#guard?.kill();
    this.#replicaSet?.nodes.forEach((n) => n.kill());
  }
}

/** What a database operation says in a deployment without PostgreSQL. */
export function noPostgresError(): DbRequestError {
  return new DbRequestError('NOT_EMBEDDED', 'there is no PostgreSQL in this deployment (engines.postgres is false)');
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

async function checkPostgres(variable: string, url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: POSTGRES_CHECK_TIMEOUT_MS, query_timeout: POSTGRES_CHECK_TIMEOUT_MS });
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
