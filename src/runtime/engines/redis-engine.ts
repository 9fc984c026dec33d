import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Clock } from '../../internal/clock.js';
import { INSTANCE_ENV } from '../../internal/instance-env.js';
import { EngineUnreachableError, redactUrl } from '../errors.js';
import type { SupervisorEvent } from '../events.js';
import { SupervisedProcess } from '../supervised-process.js';
import type { ProcessStatus } from '../status.js';
import type { Engine, EngineContext, EngineSource } from './engine.js';
import { hostPortOf } from './engine.js';
import { answersPing, findRedisServer, startRedisServer } from './redis-server.js';
import type { RedisServer } from './redis-server.js';

/** How long a Redis given by URL may take to answer a check. @defaultValue 5000 */
export const REDIS_CHECK_TIMEOUT_MS = 5_000;
/**
 * A spawned redis-server that dies takes sessions, cache and queue with it: its first
 * crashes of a series restart it at once, then `app.restart` backs off. @defaultValue 3
 */
export const REDIS_IMMEDIATE_RESTARTS = 3;

/**
 * What a spawned Redis is for. `sessions` (sessions, jobs, the bus) never evicts: a full
 * Redis refuses writes rather than drop a session or a job. `cache` (the cache L2) is
 * bounded by `maxmemory` and evicts the least recently used keys, never refusing a set.
 */
export type RedisUse = 'sessions' | 'cache';

const USES = {
  sessions: { role: 'redis', variable: INSTANCE_ENV.redisUrl, name: 'redis-server', folder: 'redis' },
  cache: { role: 'redis-cache', variable: INSTANCE_ENV.cacheRedisUrl, name: 'cache redis-server', folder: 'redis-cache' },
} as const;

/**
 * Resolved options: every value comes from the validated runtime config
 * (`engines.redis`, `app.restart`), whose schema holds the defaults, so the engine
 * fills in nothing of its own.
 */
export type RedisEngineOptions = EngineContext & {
  /** `engines.redis.appendonly` of the config (a cache Redis never has one: its data may go). */
  appendonly: boolean;
  /** `app.restart` of the config. */
  restart: { initialMs: number; maxMs: number };
  emit: (event: SupervisorEvent) => void;
  clock?: Clock;
} & (
  | { use: 'sessions' }
  /** `maxmemoryMb`: `engines.redis.cache.maxmemoryMb` of the config. */
  | { use: 'cache'; maxmemoryMb: number }
);

/**
 * Redis: `REDIS_URL` when set, else a `redis-server` from the PATH on a free port
 * (data under `.scaleout/redis`), restarted on the same port when it crashes. The
 * cache's Redis (`use: 'cache'`) is a second one: `CACHE_REDIS_URL`, else a
 * spawned `redis-server` under `.scaleout/redis-cache` with `allkeys-lru`.
 */
export class RedisEngine implements Engine {
  readonly role: 'redis' | 'redis-cache';
  readonly #options: RedisEngineOptions;
  readonly #use: (typeof USES)[RedisUse];
  #source: EngineSource = 'none';
  #url: string | undefined;
  #server: SupervisedProcess<RedisServer> | undefined;

  constructor(options: RedisEngineOptions) {
    this.#options = options;
    this.#use = USES[options.use];
    this.role = this.#use.role;
  }

  /** Whether a Redis can be had here: REDIS_URL, or a redis-server on the PATH. */
  static available(env: NodeJS.ProcessEnv): boolean {
    const url = env[INSTANCE_ENV.redisUrl];
    return (url !== undefined && url !== '') || findRedisServer(env.PATH) !== undefined;
  }

  get source(): EngineSource {
    return this.#source;
  }

  async start(): Promise<void> {
    const { env, step } = this.#options;
    const { role, variable, name, folder } = this.#use;
    const given = env[variable];
    if (given !== undefined && given !== '') {
      await checkRedis(given, variable);
      this.#url = given;
      this.#source = 'external';
      step(`${role}: ${redactUrl(given)} (${variable})`);
      return;
    }
    const binary = findRedisServer(env.PATH);
    if (binary === undefined) {
      step(`${role}: none (no ${variable} and no redis-server on the PATH)`);
      return;
    }
    const { emit } = this.#options;
    const options = this.#options;
    const cache = options.use === 'cache';
    const appendonly = cache ? false : options.appendonly;
    const maxmemoryMb = options.use === 'cache' ? options.maxmemoryMb : undefined;
    // Said explicitly, so a redis.conf default can never make the sessions' Redis evict.
    const extraArgs = maxmemoryMb !== undefined ? ['--maxmemory', `${maxmemoryMb}mb`, '--maxmemory-policy', 'allkeys-lru'] : ['--maxmemory-policy', 'noeviction'];
    const dataDir = join(this.#options.dir, '.scaleout', folder);
    // A restart keeps the port: instances hold REDIS_URL, and their clients reconnect to it.
    let port: number | undefined;
    const supervised = new SupervisedProcess<RedisServer>({
      name,
      source: role,
      start: async () => {
        const server = await startRedisServer({
          dataDir, appendonly, binary, extraArgs, ...(port === undefined ? {} : { port }),
          onLeftover: (pid) => emit({ level: 'warn', source: role, message: `stopped redis-server pid ${pid}, left running in ${dataDir} by an earlier run` }),
        });
        port = server.port;
        return server;
      },
      restart: this.#options.restart,
      immediate: REDIS_IMMEDIATE_RESTARTS,
      restartNote: `on the same port${cache ? ' (cache data is lost)' : appendonly ? ' (append-only file kept)' : ' (append-only file off: its data is lost)'}`,
      emit,
      ...(this.#options.clock === undefined ? {} : { clock: this.#options.clock }),
    });
    const server = await supervised.start();
    this.#server = supervised;
    this.#url = server.url;
    this.#source = 'spawned';
    step(maxmemoryMb !== undefined
      ? `${role}: redis-server on ${server.host}:${server.port} (pid ${server.pid ?? '?'}, maxmemory ${maxmemoryMb} MB, allkeys-lru)`
      : `${role}: redis-server on ${server.host}:${server.port} (pid ${server.pid ?? '?'}, append-only file ${appendonly ? 'on' : 'off'})`);
  }

  url(): string | undefined {
    return this.#url;
  }

  env(): Record<string, string> {
    return this.#url === undefined ? {} : { [this.#use.variable]: this.#url };
  }

  async health(): Promise<boolean> {
    const run = this.#server?.run;
    if (run !== undefined) return answersPing(run.host, run.port);
    if (this.#url === undefined) return false;
    return checkRedis(this.#url, this.#use.variable).then(() => true, () => false);
  }

  status(): ProcessStatus[] {
    const supervised = this.#server;
    const run = supervised?.run;
    if (supervised !== undefined && run !== undefined) {
      const lastExit = supervised.lastExit;
      return [{
        role: this.role, id: this.role, pid: run.isRunning() ? run.pid ?? null : null, address: `${run.host}:${run.port}`, buildId: null,
        state: supervised.state, detail: `redis-server${this.role === 'redis-cache' ? ', allkeys-lru' : ''}${lastExit === undefined ? '' : `, last exit: ${lastExit}`}`, restarts: supervised.restarts,
      }];
    }
    if (this.#url !== undefined && this.#source === 'external') {
      return [{ role: this.role, id: this.role, pid: null, address: hostPortOf(this.#url), buildId: null, state: 'external', detail: this.#use.variable }];
    }
    return [];
  }

  processes(): ProcessStatus[] {
    return this.status();
  }

  async stop(): Promise<void> {
    await this.#server?.stop();
  }

  kill(): void {
    this.#server?.kill();
  }
}

async function checkRedis(url: string, variable = 'REDIS_URL'): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: REDIS_CHECK_TIMEOUT_MS, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new EngineUnreachableError(variable, url, (err as Error).message, { cause: err });
  } finally {
    client.disconnect();
  }
}
