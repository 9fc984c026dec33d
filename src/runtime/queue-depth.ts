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
  const { BullMQBackend, DEFAULT_BULLMQ_PREFIX, DEFAULT_PG_BOSS_SCHEMA, PgBossBackend } = await import('../jobs/index.js');
  let backend: QueueBackend;
  if (profile === 'redis' && env[INSTANCE_ENV.redisUrl] !== undefined) {
    backend = new BullMQBackend({ url: env[INSTANCE_ENV.redisUrl], prefix: prefix ?? DEFAULT_BULLMQ_PREFIX });
  } else if (profile === 'postgres' && env[INSTANCE_ENV.databaseUrl] !== undefined) {
    backend = new PgBossBackend({ connectionString: env[INSTANCE_ENV.databaseUrl], schema: prefix ?? DEFAULT_PG_BOSS_SCHEMA });
  } else {
    throw new Error(`no queue engine to read (profile ${profile ?? 'none'})`);
  }
  return {
    read: async () => (await Promise.all(queues.map((queue) => backend.depth!(queue)))).reduce((a, b) => a + b, 0),
    close: () => backend.close(),
  };
}
