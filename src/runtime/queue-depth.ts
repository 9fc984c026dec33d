import type { QueueBackend } from '../jobs/index.js';
import { INSTANCE_ENV } from '../internal/instance-env.js';
import type { Profile } from './config.js';

/** Jobs waiting in some queues, read through the jobs tier's own backend. */
export interface QueueDepthReader {
  /** The sum of the queues' depths. */
  read(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A reader on the deployment's queue engine: BullMQ on the `redis` profile's Redis, pg-boss
 * on the `postgres` profile's PostgreSQL, as the app's queues are. `prefix` is the app's
 * BullMQ prefix or pg-boss schema (the backend's default when not given). Nothing is
 * created: the backend only counts. The jobs tier is loaded here, only for a deployment
 * that scales on queue depth.
 */
export async function openQueueDepth(profile: Profile | null, env: Record<string, string>, queues: readonly string[], prefix: string | undefined): Promise<QueueDepthReader> {
  const backend = await openCountingBackend(profile, env, prefix);
  return {
    read: async () => (await Promise.all(queues.map((queue) => backend.depth!(queue)))).reduce((a, b) => a + b, 0),
    close: () => backend.close(),
  };
}

/** One queue as the dashboard's queue panel shows it. */
export interface QueueStats {
  /** The worker role that serves it (`worker:exports`). */
  role: string;
  queue: string;
  /** Jobs ready and not yet handed over; null when the engine could not be read. */
  depth: number | null;
  /** Finished engine jobs the engine still holds; null when it keeps no such count (then no rate is shown). */
  completed: number | null;
  failed: number | null;
}

/** Reads every worker queue's depth and finished counts, one backend per prefix, opened on first use. */
export class QueueStatsReader {
  readonly #open: (prefix: string | undefined) => Promise<QueueBackend>;
  readonly #backends = new Map<string, Promise<QueueBackend>>();
  #closed = false;

  constructor(open: (prefix: string | undefined) => Promise<QueueBackend>) {
    this.#open = open;
  }

  /** `queues`: the worker role, its queues, and the prefix they live under. */
  async read(queues: ReadonlyArray<{ role: string; queues: readonly string[]; prefix: string | undefined }>): Promise<QueueStats[]> {
    if (this.#closed) return [];
    return Promise.all(queues.flatMap(({ role, queues: names, prefix }) => names.map(async (queue): Promise<QueueStats> => {
      const stats: QueueStats = { role, queue, depth: null, completed: null, failed: null };
      let backend: QueueBackend;
      try {
        backend = await this.#backend(prefix);
      } catch {
        return stats;
      }
      const [depth, finished] = await Promise.all([
        backend.depth?.(queue).catch(() => null) ?? null,
        backend.finishedCounts?.(queue).catch(() => null) ?? null,
      ]);
      return { ...stats, depth, completed: finished?.completed ?? null, failed: finished?.failed ?? null };
    })));
  }

  #backend(prefix: string | undefined): Promise<QueueBackend> {
    const key = prefix ?? '';
    let backend = this.#backends.get(key);
    if (backend === undefined) {
      backend = this.#open(prefix);
      // A failed open is tried again on the next read (the engine may come up later).
      backend.catch(() => this.#backends.delete(key));
      this.#backends.set(key, backend);
    }
    return backend;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const backends = [...this.#backends.values()];
    this.#backends.clear();
    await Promise.all(backends.map(async (b) => (await b).close()).map((p) => p.catch(() => undefined)));
  }
}

/**
 * A backend on the deployment's queue engine that only counts (BullMQ on the `redis`
 * profile's Redis, pg-boss on the `postgres` profile's PostgreSQL). The jobs tier is
 * loaded here, only when a queue is read.
 */
export async function openCountingBackend(profile: Profile | null, env: Record<string, string>, prefix: string | undefined): Promise<QueueBackend> {
  const { BullMQBackend, DEFAULT_BULLMQ_PREFIX, DEFAULT_PG_BOSS_SCHEMA, PgBossBackend } = await import('../jobs/index.js');
  if (profile === 'redis' && env[INSTANCE_ENV.redisUrl] !== undefined) {
    return new BullMQBackend({ url: env[INSTANCE_ENV.redisUrl], prefix: prefix ?? DEFAULT_BULLMQ_PREFIX });
  }
  if (profile === 'postgres' && env[INSTANCE_ENV.databaseUrl] !== undefined) {
    return new PgBossBackend({ connectionString: env[INSTANCE_ENV.databaseUrl], schema: prefix ?? DEFAULT_PG_BOSS_SCHEMA });
  }
  throw new Error(`no queue engine to read (profile ${profile ?? 'none'})`);
}
