import type { JobEnvelope } from './job.js';
import type { JobTracker, SqlExecutor } from './tracker.js';

/**
 * What a backend does natively and what the queue layer does for it; the contract
 * suite reads this, so a missing feature is declared, never silently skipped.
 */
export interface BackendCapabilities {
  /** `queue`: the limit holds across all workers of a queue; `worker`: each worker keeps its own. */
  rateLimit: 'queue' | 'worker';
  /** Two `add` calls with one idempotency key enqueue once even if the process dies in between. */
  atomicDedupe: boolean;
  /** `add` can join the caller's database transaction (`{ db }`). */
  transactionalAdd: boolean;
}

export interface EnqueueOptions {
  delayMs: number;
  /** The first enqueue of this job id (a duplicate of it is refused); retries and redrives are not. */
  first: boolean;
  db?: SqlExecutor;
}

export interface ConsumeOptions {
  concurrency: number;
  rateLimit?: { max: number; intervalMs: number };
}

/** A running consumer of one queue. */
export interface BackendConsumer {
  /** Stops taking new jobs; jobs already handed over keep running. */
  pause(): Promise<void>;
  /** Stops for good; call after the jobs handed over have settled. */
  close(): Promise<void>;
}

/** A job taken off a queue outside of a consumer (to redrive the dead-letter queue). */
export interface TakenJob {
  envelope: unknown;
  ack(): Promise<void>;
}

/**
 * The part of a queue an engine provides: store jobs (delayed, prioritised), hand each
 * to one consumer, and hand it again if the consumer dies before acknowledging it.
 * Everything else (retries, dead letters, progress, cancellation, events) lives in
 * Queue and Worker on top of this, the same for every engine.
 */
export interface QueueBackend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly tracker: JobTracker;
  /** Creates what the queue needs in the engine; safe to call many times. */
  prepare(queue: string): Promise<void>;
  /** False when `first` and a job with this id exists already. */
  enqueue(queue: string, envelope: JobEnvelope, options: EnqueueOptions): Promise<boolean>;
  /**
   * Hands each job to `handle`. When `handle` resolves the job is acknowledged; when it
   * rejects (the engine or tracker failed) the engine hands it again later.
   */
  consume(queue: string, options: ConsumeOptions, handle: (raw: unknown) => Promise<void>): BackendConsumer;
  /** Takes up to `max` waiting jobs, each to be acknowledged once handled. */
  take(queue: string, max: number): Promise<TakenJob[]>;
  /**
   * Jobs ready to run and not yet handed to a consumer (delayed ones and retries waiting
   * for their backoff are not counted): what `scaleout up` scales workers on.
   */
  depth?(queue: string): Promise<number>;
  close(): Promise<void>;
}

/** The engine's name of a queue's dead-letter queue. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead`;
}
