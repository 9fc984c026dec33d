import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Clock } from '../../internal/clock.js';
import { formatInstanceEnv, INSTANCE_ENV } from '../../internal/instance-env.js';
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

export interface RedisEngineOptions extends EngineContext {
  /** `engines.redis` of the config. */
  appendonly: boolean;
  /** `app.restart` of the config. */
  restart: { initialMs: number; maxMs: number };
  emit: (event: SupervisorEvent) => void;
  clock?: Clock;
}

/**
 * Redis: `REDIS_URL` when set, else a `redis-server` from the PATH on a free port
 * (data under `.scaleout/redis`), restarted on the same port when it crashes.
 */
export class RedisEngine implements Engine {
  readonly role = 'redis';
  readonly #options: RedisEngineOptions;
  #source: EngineSource = 'none';
  #url: string | undefined;
  #server: SupervisedProcess<RedisServer> | undefined;

  constructor(options: RedisEngineOptions) {
    this.#options = options;
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
    const url = env[INSTANCE_ENV.redisUrl];
    if (url !== undefined && url !== '') {
      await checkRedis(url);
      this.#url = url;
      this.#source = 'external';
      step(`redis: ${redactUrl(this.#url)} (${INSTANCE_ENV.redisUrl})`);
      return;
    }
    const binary = findRedisServer(env.PATH);
    if (binary === undefined) {
      step(`redis: none (no ${INSTANCE_ENV.redisUrl} and no redis-server on the PATH)`);
      return;
    }
    const { appendonly, emit } = this.#options;
    const dataDir = join(this.#options.dir, '.scaleout', 'redis');
    // A restart keeps the port: instances hold REDIS_URL, and their clients reconnect to it.
    let port: number | undefined;
    const supervised = new SupervisedProcess<RedisServer>({
      name: 'redis-server',
      source: 'redis',
      start: async () => {
        const server = await startRedisServer({
          dataDir, appendonly, binary, ...(port === undefined ? {} : { port }),
          onLeftover: (pid) => emit({ level: 'warn', source: 'redis', message: `stopped redis-server pid ${pid}, left running in ${dataDir} by an earlier run` }),
        });
        port = server.port;
        return server;
      },
      restart: this.#options.restart,
      immediate: REDIS_IMMEDIATE_RESTARTS,
      restartNote: `on the same port${appendonly ? ' (append-only file kept)' : ' (append-only file off: its data is lost)'}`,
      emit,
      ...(this.#options.clock === undefined ? {} : { clock: this.#options.clock }),
    });
    const server = await supervised.start();
    this.#server = supervised;
    this.#url = server.url;
    this.#source = 'spawned';
    step(`redis: redis-server on ${server.host}:${server.port} (pid ${server.pid ?? '?'}, append-only file ${appendonly ? 'on' : 'off'})`);
  }

  url(): string | undefined {
    return this.#url;
  }

  env(): Record<string, string> {
    return this.#url === undefined ? {} : formatInstanceEnv({ redisUrl: this.#url });
  }

  async health(): Promise<boolean> {
    const run = this.#server?.run;
    if (run !== undefined) return answersPing(run.host, run.port);
    if (this.#url === undefined) return false;
    return checkRedis(this.#url).then(() => true, () => false);
  }

  status(): ProcessStatus[] {
    const supervised = this.#server;
    const run = supervised?.run;
    if (supervised !== undefined && run !== undefined) {
      const lastExit = supervised.lastExit;
      return [{
        role: 'redis', id: 'redis', pid: run.isRunning() ? run.pid ?? null : null, address: `${run.host}:${run.port}`, buildId: null,
        state: supervised.state, detail: `redis-server${lastExit === undefined ? '' : `, last exit: ${lastExit}`}`, restarts: supervised.restarts,
      }];
    }
    if (this.#url !== undefined && this.#source === 'external') {
      return [{ role: 'redis', id: 'redis', pid: null, address: hostPortOf(this.#url), buildId: null, state: 'external', detail: INSTANCE_ENV.redisUrl }];
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

async function checkRedis(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: REDIS_CHECK_TIMEOUT_MS, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new EngineUnreachableError(INSTANCE_ENV.redisUrl, url, (err as Error).message, { cause: err });
  } finally {
    client.disconnect();
  }
}
