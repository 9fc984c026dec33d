import type { JobEnvelope, JobEventType } from './job.js';
import type { JobRecordPatch, JobTracker, SqlExecutor } from './tracker.js';

/** A job's last record and event, for a backend to write in the same step as its acknowledgement. */
export interface AckRecord {
  jobId: string;
  patch: JobRecordPatch;
  event: { type: JobEventType; data?: unknown };
  /**
   * The attempt of a first delivery that ended before its `active` step was sent: the
   * backend writes that step (state, `active` event) ahead of the end, in the same step.
   */
  active?: number;
}

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

/** How the engine hands a job over. */
export interface Delivery {
  /**
   * The engine's first hand-over of the job's first enqueue: no earlier run of it can
   * exist, and (with `removeWaiting`) a cancel before now took it out of the engine.
   */
  first: boolean;
  /**
   * This delivery's acknowledgement stores a completed job's end (the {@link AckRecord}
   * `handle` resolves with) in the engine, so nothing is written before it; otherwise
   * the backend's {@link QueueBackend.recordsOnAck} says.
   */
  recordsOnAck?: boolean;
}

/** What `removeWaiting` found: the job taken out, held by a worker, or not in the engine under its id. */
export type RemoveWaitingResult = 'removed' | 'running' | 'unknown';

/** Engine jobs of one queue that the engine holds as finished. */
export interface FinishedCounts {
  completed: number;
  failed: number;
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
  /**
   * Optional: the tracker of one queue's jobs, where the engine keeps part of each
   * job's record itself (BullMQ's job hash and events stream); `tracker` otherwise.
   */
  trackerOf?(queue: string): JobTracker;
  /** Creates what the queue needs in the engine; safe to call many times. */
  prepare(queue: string): Promise<void>;
  /** False when `first` and a job with this id exists already. */
  enqueue(queue: string, envelope: JobEnvelope, options: EnqueueOptions): Promise<boolean>;
  /**
   * Optional: enqueues a new job (`first`) and writes its first record (the tracker's
   * `create`) in one step of the engine; false for a duplicate, which writes nothing.
   */
  enqueueWithRecord?(queue: string, envelope: JobEnvelope, options: EnqueueOptions, info: { id: string; queue: string; name: string }): Promise<boolean>;
  /**
   * True when `consume` writes the {@link AckRecord} that `handle` resolves with in the
   * same step as the acknowledgement (one statement, one commit); others never get one.
   */
  readonly recordsOnAck?: boolean;
  /**
   * Hands each job to `handle`. When `handle` resolves the job is acknowledged (with its
   * record, see `recordsOnAck`); when it rejects (the engine or tracker failed) the
   * engine hands it again later.
   */
  consume(queue: string, options: ConsumeOptions, handle: (raw: unknown, delivery?: Delivery) => Promise<AckRecord | void>): BackendConsumer;
  /**
   * Optional: takes the first enqueue of job `jobId` out of the engine unless a worker
   * holds it, atomically, so a cancelled waiting job is never handed over. A worker
   * may then start a `first` delivery without asking the tracker first.
   */
  removeWaiting?(queue: string, jobId: string): Promise<RemoveWaitingResult>;
  /** Takes up to `max` waiting jobs, each to be acknowledged once handled. */
  take(queue: string, max: number): Promise<TakenJob[]>;
  /**
   * Jobs ready to run and not yet handed to a consumer (delayed ones and retries waiting
   * for their backoff are not counted): what `scaleout up` scales workers on.
   */
  depth?(queue: string): Promise<number>;
  /**
   * Optional: how many of the queue's engine jobs the engine still holds as completed and
   * as failed (what it keeps: BullMQ an hour of completed jobs, pg-boss until it archives
   * them). Read twice, the difference is a rate; an engine that forgets its finished jobs
   * (RabbitMQ) has no such count.
   */
  finishedCounts?(queue: string): Promise<FinishedCounts>;
  close(): Promise<void>;
}

/** The engine's name of a queue's dead-letter queue. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead`;
}
