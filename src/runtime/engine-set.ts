import type { Clock } from '../internal/clock.js';
import { formatInstanceEnv, INSTANCE_ENV } from '../internal/instance-env.js';
import type { Profile, RuntimeConfig } from './config.js';
import type { Engine } from './engines/engine.js';
import { MemcachedEngine } from './engines/memcached-engine.js';
import { noPostgresError, PostgresEngine } from './engines/postgres-engine.js';
import { RedisEngine } from './engines/redis-engine.js';
import { RuntimeConfigError } from './errors.js';
import type { SupervisorEvent } from './events.js';
import { eventMessage } from './event-text.js';
import type { RebuildResult, SwitchoverResult } from './postgres-guard.js';
import type { ProcessGroup } from './process-group.js';
import type { DbStatus } from './status.js';

export type { Profile } from './config.js';
export type { Engine, EngineSource } from './engines/engine.js';
export { DB_STATUS_INTERVAL_MS, postgresBaseDir } from './engines/postgres-engine.js';
export { REDIS_IMMEDIATE_RESTARTS } from './engines/redis-engine.js';

/** The engines an app runs against, whoever started them. */
export interface EngineSet {
  readonly profile: Profile | null;
  /**
   * Variables an instance started now gets: DATABASE_URL (the primary as the
   * supervisor sees it now), DATABASE_REPLICA_URLS (every other node), REDIS_URL,
   * CACHE_REDIS_URL, MEMCACHED_URL, SCALEOUT_PROFILE.
   */
  env(): Record<string, string>;
  /** One group per engine that exists, in start order. */
  groups(): ProcessGroup[];
  db(): DbStatus | null;
  /** The current primary's URL, with another database when given; undefined without PostgreSQL. */
  primaryUrl(database?: string): string | undefined;
  /** Rebuilds an embedded node as a replica of the primary (`scaleout db rebuild`). */
  rebuild(node: string, report: (event: SupervisorEvent) => void): Promise<RebuildResult>;
  /** A planned failover of the embedded primary (`scaleout db failover`). */
  switchover(report: (event: SupervisorEvent) => void): Promise<SwitchoverResult>;
  /** Stops what the runtime started (never an external engine), in reverse start order. */
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

const PROFILE_STEPS: Record<Profile, string> = {
  redis: 'profile: redis (sessions, cache L2, bus and queue in Redis)',
  postgres: 'profile: postgres (sessions, cache L2, bus and queue in PostgreSQL)',
};

/**
 * The profile of a deployment: `profile` of the config, else `redis` when a Redis
 * can be had (REDIS_URL, or a redis-server on the PATH, and `engines.redis` is not
 * false), else `postgres` when PostgreSQL is not switched off, else none.
 */
export function resolveProfile(config: RuntimeConfig, env: NodeJS.ProcessEnv): Profile | null {
  if (config.profile !== undefined) return config.profile;
  if (config.engines.redis !== false && RedisEngine.available(env)) return 'redis';
  return config.engines.postgres === false ? null : 'postgres';
}

/**
 * Resolves and starts the engines, in the documented order of preference:
 *
 *  - PostgreSQL: `DATABASE_URL` (+ `DATABASE_REPLICA_URLS`) when set, else the embedded
 *    primary and `engines.postgres.replicas` streaming replicas under `.scaleout/pg`.
 *  - Redis (unless the profile is `postgres`): `REDIS_URL` when set, else a
 *    `redis-server` from the PATH on a free port (data under `.scaleout/redis`).
 *
 * Engines the runtime starts are stopped by {@link EngineSet.stop}; external ones are
 * only checked to answer. A new engine is one {@link Engine} class, listed here.
 */
export async function startEngines(options: StartEnginesOptions): Promise<EngineSet> {
  const { config, env, dir } = options;
  const step = options.onStep ?? (() => {});
  const emit = options.onEvent ?? ((event: SupervisorEvent) => step(eventMessage(event)));
  const clock = options.clock === undefined ? {} : { clock: options.clock };
  const profile = resolveProfile(config, env);
  if (profile === 'redis' && (config.engines.redis === false || !RedisEngine.available(env))) {
    throw new RuntimeConfigError(config.engines.redis === false
      ? 'profile "redis" needs Redis, but engines.redis is false; remove one of the two'
      : `profile "redis" needs Redis: set ${INSTANCE_ENV.redisUrl}, put redis-server on the PATH, or use profile "postgres"`);
  }
  if (profile === 'postgres' && config.engines.postgres === false) {
    throw new RuntimeConfigError('profile "postgres" needs PostgreSQL, but engines.postgres is false; remove one of the two');
  }
  const postgres = config.engines.postgres === false ? undefined : new PostgresEngine({ dir, env, step, config, emit, ...clock });
  // The postgres profile keeps everything in PostgreSQL: a Redis would only be one more process.
  const redis = config.engines.redis === false || profile === 'postgres' ? undefined
    : new RedisEngine({ dir, env, step, use: 'sessions', appendonly: config.engines.redis.appendonly, restart: config.app.restart, emit, ...clock });
  // The cache's own Redis evicts (allkeys-lru); the sessions' Redis above never does.
  const redisConfig = config.engines.redis;
  const cacheRedis = redis === undefined || redisConfig === false || redisConfig.cache === false ? undefined
    : new RedisEngine({ dir, env, step, use: 'cache', appendonly: false, maxmemoryMb: redisConfig.cache.maxmemoryMb, restart: config.app.restart, emit, ...clock });
  const memcached = config.engines.memcached === false ? undefined
    : new MemcachedEngine({ dir, env, step, memoryMb: config.engines.memcached.memoryMb, restart: config.app.restart, emit, ...clock });
  const engines: Engine[] = [postgres, redis, cacheRedis, memcached].filter((e): e is PostgresEngine | RedisEngine | MemcachedEngine => e !== undefined);
  const started: Engine[] = [];
  try {
    for (const engine of engines) {
      started.push(engine);
      await engine.start();
    }
  } catch (err) {
    for (const engine of started.reverse()) await engine.stop().catch(() => engine.kill());
    throw err;
  }
  if (redis === undefined && config.engines.redis !== false && config.profile === undefined) {
    step(`redis: none (no ${INSTANCE_ENV.redisUrl} and no redis-server on the PATH)`);
  }
  if (profile !== null) step(PROFILE_STEPS[profile]);
  return new StartedEngines(profile, engines, postgres);
}

class StartedEngines implements EngineSet {
  readonly profile: Profile | null;
  readonly #engines: Engine[];
  readonly #postgres: PostgresEngine | undefined;

  constructor(profile: Profile | null, engines: Engine[], postgres: PostgresEngine | undefined) {
    this.profile = profile;
    this.#engines = engines;
    this.#postgres = postgres;
  }

  env(): Record<string, string> {
    const profile = this.profile === null ? {} : formatInstanceEnv({ profile: this.profile });
    return Object.assign({}, ...this.#engines.map((e) => e.env()), profile) as Record<string, string>;
  }

  groups(): ProcessGroup[] {
    // Only what exists: a Redis the profile does not use, or that is nowhere to be had, has no line.
    return this.#engines.filter((e) => e.source !== 'none');
  }

  db(): DbStatus | null {
    return this.#postgres?.db() ?? null;
  }

  primaryUrl(database?: string): string | undefined {
    return this.#postgres?.url(database);
  }

  rebuild(node: string, report: (event: SupervisorEvent) => void): Promise<RebuildResult> {
    return this.#postgres?.rebuild(node, report) ?? Promise.reject(noPostgresError());
  }

  switchover(report: (event: SupervisorEvent) => void): Promise<SwitchoverResult> {
    return this.#postgres?.switchover(report) ?? Promise.reject(noPostgresError());
  }

  async stop(): Promise<void> {
    for (const engine of [...this.#engines].reverse()) await engine.stop().catch(() => engine.kill());
  }

  kill(): void {
    for (const engine of [...this.#engines].reverse()) engine.kill();
  }
}
