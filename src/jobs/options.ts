import { z } from 'zod';
import { describeIssues } from '../internal/zod-issues.js';
import { JobsOptionsError } from './errors.js';

/** Priorities run from 0 (the default) to this; higher runs first. */
export const MAX_PRIORITY = 10;
/**
 * The jobs tier's defaults, the only copy: the queue, the scheduler, the backends and
 * the trackers read them from here, and docs/async.md quotes them.
 */
export const DEFAULT_RETRY = {
  attempts: 3,
  backoffMs: 1_000,
  backoffMaxMs: 60_000,
  jitter: 0.5,
} as const;
export const DEFAULT_ATTEMPTS = DEFAULT_RETRY.attempts;
export const DEFAULT_BACKOFF_MS = DEFAULT_RETRY.backoffMs;
export const DEFAULT_BACKOFF_MAX_MS = DEFAULT_RETRY.backoffMaxMs;
export const DEFAULT_JITTER = DEFAULT_RETRY.jitter;
export const DEFAULT_CONCURRENCY = 1;
/** How often a running job's worker looks for a cancellation request. */
export const DEFAULT_CANCEL_POLL_MS = 250;
/** How long `Worker.close()` lets running jobs finish before it hands them back. */
export const DEFAULT_GRACE_MS = 10_000;
export const DEFAULT_PAYLOAD_VERSION = 1;
/** Queue names the engines all accept (BullMQ refuses `:`, RabbitMQ caps names at 255 bytes). */
const queueName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/, 'letters, digits, "_", "." and "-", at most 200');

const retryFields = {
  attempts: z.number().int().min(1).max(1_000),
  backoffMs: z.number().int().min(0),
  backoffMaxMs: z.number().int().min(0),
  jitter: z.number().min(0).max(1),
};
/** A job's own retry settings; what it leaves out comes from its queue. */
const retry = {
  attempts: retryFields.attempts.optional(),
  backoffMs: retryFields.backoffMs.optional(),
  backoffMaxMs: retryFields.backoffMaxMs.optional(),
  jitter: retryFields.jitter.optional(),
};

export const queueOptionsSchema = z.object({
  attempts: retryFields.attempts.default(DEFAULT_RETRY.attempts),
  backoffMs: retryFields.backoffMs.default(DEFAULT_RETRY.backoffMs),
  backoffMaxMs: retryFields.backoffMaxMs.default(DEFAULT_RETRY.backoffMaxMs),
  jitter: retryFields.jitter.default(DEFAULT_RETRY.jitter),
}).strict();
export type QueueOptions = z.input<typeof queueOptionsSchema>;
export type ResolvedQueueOptions = z.output<typeof queueOptionsSchema>;

export const addOptionsSchema = z.object({
  ...retry,
  v: z.number().int().min(0).optional(),
  /** Idempotency key: a second `add` with the same key enqueues nothing. */
  key: z.string().min(1).max(512).optional(),
  delayMs: z.number().int().min(0).optional(),
  priority: z.number().int().min(0).max(MAX_PRIORITY).optional(),
  db: z.custom<{ query: (...args: never[]) => unknown }>((v) => typeof v === 'object' && v !== null && typeof (v as { query?: unknown }).query === 'function',
    'a pg client or pool client (with query())').optional(),
}).strict();
export type AddOptions = z.infer<typeof addOptionsSchema>;

export const workerOptionsSchema = z.object({
  concurrency: z.number().int().min(1).max(1_000).default(DEFAULT_CONCURRENCY),
  /** Payload versions this worker's handler understands. */
  versions: z.array(z.number().int().min(0)).min(1).default([DEFAULT_PAYLOAD_VERSION]),
  rateLimit: z.object({ max: z.number().int().min(1), intervalMs: z.number().int().min(1) }).strict().optional(),
  cancelPollMs: z.number().int().min(10).default(DEFAULT_CANCEL_POLL_MS),
  graceMs: z.number().int().min(0).default(DEFAULT_GRACE_MS),
  /** Errors the worker handled in the background (a malformed message, a tracker outage). */
  onError: z.custom<(err: unknown) => void>((v) => typeof v === 'function').optional(),
}).strict();
export type WorkerOptions = z.input<typeof workerOptionsSchema>;
export type ResolvedWorkerOptions = z.output<typeof workerOptionsSchema>;

export function validateQueueName(name: unknown): string {
  return parseOptions(queueName, name, 'queue name');
}

export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) throw new JobsOptionsError(`invalid ${what}: ${describeIssues(result.error.issues, input)}`);
  return result.data;
}

export const DEFAULT_SCHEDULER = {
  group: 'default',
  /** The leader holds the group's lease this long; another takes over once it lapses. */
  leaseMs: 5_000,
  intervalMs: 200,
  /** Missed runs enqueued at most after a pause (the rest are skipped). */
  maxCatchUp: 100,
} as const;

export const schedulerOptionsSchema = z.object({
  group: z.string().min(1).default(DEFAULT_SCHEDULER.group),
  leaseMs: z.number().int().min(500).default(DEFAULT_SCHEDULER.leaseMs),
  intervalMs: z.number().int().min(10).default(DEFAULT_SCHEDULER.intervalMs),
  maxCatchUp: z.number().int().min(0).default(DEFAULT_SCHEDULER.maxCatchUp),
}).refine((o) => o.intervalMs * 2 <= o.leaseMs, { path: ['intervalMs'], message: 'must be at most half of leaseMs' });
export type ResolvedSchedulerOptions = z.output<typeof schedulerOptionsSchema>;

/** What both trackers keep. */
export const DEFAULT_TRACKER = {
  /** Events kept per job, for readers that resume. */
  eventsKept: 100,
  /** A finished job's record is kept this long (24 h). */
  recordTtlMs: 24 * 3_600_000,
} as const;

/** What every backend shares. */
export const DEFAULT_BACKEND = {
  /** A job whose worker stops renewing its lock for this long is handed to another worker. */
  visibilityTimeoutMs: 30_000,
  /** How often the engine may hand one job again after its worker died before giving up on it. */
  maxRedeliveries: 10,
} as const;

export const DEFAULT_BULLMQ = {
  prefix: 'scaleout-jobs', url: 'redis://127.0.0.1:6379',
  /** Entries kept in each queue's events stream (BullMQ's own default). */
  eventsMaxLen: 10_000,
} as const;
export const DEFAULT_PG_BOSS = {
  schema: 'scaleout_pgboss',
  /** How often an idle consumer asks for jobs. */
  pollIntervalMs: 500,
  connectionString: 'postgres://127.0.0.1:5432/postgres',
} as const;

const redeliveries = {
  visibilityTimeoutMs: z.number().int().min(500, 'use an integer of at least 500').default(DEFAULT_BACKEND.visibilityTimeoutMs),
  maxRedeliveries: z.number().int().min(0).default(DEFAULT_BACKEND.maxRedeliveries),
};

export const bullmqBackendSchema = z.object({
  prefix: z.string().min(1).default(DEFAULT_BULLMQ.prefix), ...redeliveries,
  eventsMaxLen: z.number().int().min(100, 'use an integer of at least 100').default(DEFAULT_BULLMQ.eventsMaxLen),
  recordTtlMs: z.number().int().min(1_000, 'use an integer of at least 1000').default(DEFAULT_TRACKER.recordTtlMs),
});
export const pgBossBackendSchema = z.object({
  schema: z.string().regex(/^[a-z_][a-z0-9_]{0,40}$/, 'use a lower-case SQL name of at most 41 characters').default(DEFAULT_PG_BOSS.schema),
  ...redeliveries,
  pollIntervalMs: z.number().int().min(10).default(DEFAULT_PG_BOSS.pollIntervalMs),
  preparedStatements: z.boolean().default(true),
});
export type ResolvedBullMQBackendOptions = z.output<typeof bullmqBackendSchema> & { url: string };
export type ResolvedPgBossBackendOptions = z.output<typeof pgBossBackendSchema> & { connectionString: string };

export const DEFAULT_REDIS_TRACKER = { keyPrefix: 'scaleout:jobs:', url: DEFAULT_BULLMQ.url } as const;
export const DEFAULT_POSTGRES_TRACKER = {
  schema: 'scaleout_jobs',
  pruneIntervalMs: 60_000,
  poolSize: 10,
  connectionString: DEFAULT_PG_BOSS.connectionString,
} as const;

const kept = {
  eventsKept: z.number().int().min(1, 'use a positive integer').default(DEFAULT_TRACKER.eventsKept),
  recordTtlMs: z.number().int().min(1_000, 'use an integer of at least 1000').default(DEFAULT_TRACKER.recordTtlMs),
};
export const redisTrackerSchema = z.object({ keyPrefix: z.string().min(1).default(DEFAULT_REDIS_TRACKER.keyPrefix), ...kept });
export const postgresTrackerSchema = z.object({
  schema: z.string().regex(/^[a-z_][a-z0-9_]{0,50}$/, 'use a lower-case SQL name of at most 51 characters').default(DEFAULT_POSTGRES_TRACKER.schema),
  eventsKept: kept.eventsKept,
  // Pruning deletes by time, so any TTL works here; Redis expires keys, whose TTL the Redis tracker bounds.
  recordTtlMs: z.number().int().min(1, 'use a positive integer').default(DEFAULT_TRACKER.recordTtlMs),
  poolSize: z.number().int().min(1).default(DEFAULT_POSTGRES_TRACKER.poolSize),
  /** 0: no pruning by this process. */
  pruneIntervalMs: z.number().int().min(0).default(DEFAULT_POSTGRES_TRACKER.pruneIntervalMs),
  preparedStatements: z.boolean().default(true),
});
export type ResolvedRedisTrackerOptions = z.output<typeof redisTrackerSchema> & { url: string };
export type ResolvedPostgresTrackerOptions = z.output<typeof postgresTrackerSchema> & { connectionString: string };

type Env = NodeJS.ProcessEnv;

export function resolveBullMQBackendOptions(input: z.input<typeof bullmqBackendSchema> & { url?: string }, env: Env = process.env): ResolvedBullMQBackendOptions {
  return { ...parseOptions(bullmqBackendSchema, input, 'BullMQ backend options'), url: input?.url ?? env.REDIS_URL ?? DEFAULT_BULLMQ.url };
}

export function resolvePgBossBackendOptions(input: z.input<typeof pgBossBackendSchema> & { connectionString?: string }, env: Env = process.env): ResolvedPgBossBackendOptions {
  return { ...parseOptions(pgBossBackendSchema, input, 'pg-boss backend options'), connectionString: input?.connectionString ?? env.DATABASE_URL ?? DEFAULT_PG_BOSS.connectionString };
}

export function resolveRedisTrackerOptions(input: z.input<typeof redisTrackerSchema> & { url?: string }, env: Env = process.env): ResolvedRedisTrackerOptions {
  return { ...parseOptions(redisTrackerSchema, input, 'Redis tracker options'), url: input?.url ?? env.REDIS_URL ?? DEFAULT_REDIS_TRACKER.url };
}

export function resolvePostgresTrackerOptions(input: z.input<typeof postgresTrackerSchema> & { connectionString?: string }, env: Env = process.env): ResolvedPostgresTrackerOptions {
  return { ...parseOptions(postgresTrackerSchema, input, 'PostgreSQL tracker options'), connectionString: input?.connectionString ?? env.DATABASE_URL ?? DEFAULT_POSTGRES_TRACKER.connectionString };
}
