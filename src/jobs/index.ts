/**
 * `scaleout/jobs`: queues of background jobs on BullMQ (Redis), pg-boss (PostgreSQL) or
 * RabbitMQ, with one set of semantics: at-least-once delivery, idempotency, retries
 * with backoff and jitter, dead letters, priorities, rate limits, delays, progress,
 * cancellation, versioned payloads, events that survive a reconnect, and schedules
 * run by exactly one scheduler.
 */
export { Queue, DEFAULT_REDRIVE_MAX } from './queue.js';
export type { AddedJob } from './queue.js';
export { Worker } from './worker.js';
export type { JobContext, JobHandler } from './worker.js';
export {
  MAX_PRIORITY, DEFAULT_ATTEMPTS, DEFAULT_BACKOFF_MS, DEFAULT_BACKOFF_MAX_MS, DEFAULT_JITTER, DEFAULT_CONCURRENCY,
  DEFAULT_CANCEL_POLL_MS, DEFAULT_GRACE_MS, DEFAULT_PAYLOAD_VERSION,
} from './options.js';
export type { QueueOptions, AddOptions, WorkerOptions } from './options.js';
export type { JobEnvelope, JobEvent, JobEventType, JobInfo, JobState } from './job.js';
export { retryDelayMs } from './backoff.js';
export type { QueueBackend, BackendCapabilities, FinishedCounts } from './backend.js';
export type { JobTracker, SqlExecutor, EventsOptions } from './tracker.js';
export { DEFAULT_EVENTS_KEPT, DEFAULT_RECORD_TTL_MS } from './tracker.js';
export { RedisJobTracker, DEFAULT_REDIS_JOBS_PREFIX } from './trackers/redis-tracker.js';
export type { RedisJobTrackerOptions } from './trackers/redis-tracker.js';
export {
  BullMQBackend, DEFAULT_BULLMQ_PREFIX, DEFAULT_VISIBILITY_TIMEOUT_MS, DEFAULT_MAX_REDELIVERIES, DEFAULT_BULLMQ_EVENTS_MAX_LEN,
} from './backends/bullmq.js';
export type { BullMQBackendOptions } from './backends/bullmq.js';
export {
  JobsBackendUnavailableError, JobsOptionsError, JobsUnknownVersionError, JobsMalformedJobError, JobsCancelledError,
  JobsShutdownError, JobsClosedError, JobsUnsupportedError,
} from './errors.js';
export { PgBossBackend, DEFAULT_PG_BOSS_SCHEMA, DEFAULT_POLL_INTERVAL_MS } from './backends/pg-boss.js';
export type { PgBossBackendOptions } from './backends/pg-boss.js';
export {
  PostgresJobTracker, DEFAULT_POSTGRES_JOBS_SCHEMA, DEFAULT_EVENTS_POLL_MS, DEFAULT_POSTGRES_PRUNE_INTERVAL_MS,
} from './trackers/postgres-tracker.js';
export type { PostgresJobTrackerOptions } from './trackers/postgres-tracker.js';
export { AmqplibBackend, DELAY_QUEUE_IDLE_MS } from './backends/amqplib.js';
export type { AmqplibBackendOptions } from './backends/amqplib.js';
export { DEFAULT_AMQP_RECONNECT_MAX_DELAY_MS } from './backends/amqp-connection.js';
export {
  Scheduler, DEFAULT_SCHEDULER_LEASE_MS, DEFAULT_SCHEDULER_INTERVAL_MS, DEFAULT_MAX_CATCH_UP, DEFAULT_SCHEDULER_GROUP,
} from './schedule.js';
export type { ScheduleDefinition, SchedulerOptions } from './schedule.js';
export { ScheduledRounds, everyCron } from './scheduled-rounds.js';
export type { ScheduledRoundsOptions } from './scheduled-rounds.js';
export { formatSseEvent, jobEventStream, SSE_HEADERS } from './notify.js';
export { Prerenderer, DEFAULT_PRERENDER_CONCURRENCY, DEFAULT_RENDER_TIMEOUT_MS } from './prerender/prerenderer.js';
export type { PrerendererOptions, PrerenderEvent, PrerenderOutcome, PrerenderJob, RenderedPage, RunOptions } from './prerender/prerenderer.js';
