import { z } from 'zod';
import { describeIssues } from '../internal/zod-issues.js';
import { JobsOptionsError } from './errors.js';

/** Priorities run from 0 (the default) to this; higher runs first. */
export const MAX_PRIORITY = 10;
export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_BACKOFF_MS = 1_000;
export const DEFAULT_BACKOFF_MAX_MS = 60_000;
export const DEFAULT_JITTER = 0.5;
export const DEFAULT_CONCURRENCY = 1;
/** How often a running job's worker looks for a cancellation request. */
export const DEFAULT_CANCEL_POLL_MS = 250;
/** How long `Worker.close()` lets running jobs finish before it hands them back. */
export const DEFAULT_GRACE_MS = 10_000;
export const DEFAULT_PAYLOAD_VERSION = 1;
/** Queue names the engines all accept (BullMQ refuses `:`, RabbitMQ caps names at 255 bytes). */
const queueName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/, 'letters, digits, "_", "." and "-", at most 200');

const retry = {
  attempts: z.number().int().min(1).max(1_000).optional(),
  backoffMs: z.number().int().min(0).optional(),
  backoffMaxMs: z.number().int().min(0).optional(),
  jitter: z.number().min(0).max(1).optional(),
};

export const queueOptionsSchema = z.object({ ...retry }).strict();
export type QueueOptions = z.infer<typeof queueOptionsSchema>;

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
