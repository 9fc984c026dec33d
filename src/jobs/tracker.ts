import { DEFAULT_TRACKER } from './options.js';
import type { JobEvent, JobEventType, JobInfo, JobState } from './job.js';

/** A change to a job's record, written together with the event that announces it. */
export interface JobRecordPatch {
  state?: JobState;
  attempt?: number;
  progress?: unknown;
  result?: unknown;
  error?: string;
}

/** Runs SQL inside the caller's transaction (a `pg` client between BEGIN and COMMIT). */
export interface SqlExecutor {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Told of a cancel of the job it watches (an object, not a callback: no closure per job). */
export interface CancelWatcher {
  onCancel(): void;
}

export interface EventsOptions {
  /** The id of the last event the caller saw (HTTP `Last-Event-ID`); later ones follow. */
  after?: string;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

/**
 * Where a queue keeps what its engine does not: each job's state and progress, its
 * last events (so a client can resume after a reconnect), cancellation requests,
 * idempotency records, and the leases and marks of schedulers. One implementation per
 * engine (Redis, PostgreSQL), shared by every process of the deployment.
 */
export interface JobTracker {
  readonly name: string;
  /** Writes the first record of a job; false when a job with this id exists already. */
  create(info: { id: string; queue: string; name: string }, db?: SqlExecutor): Promise<boolean>;
  /** Changes the record and appends the event, in one step. */
  record(jobId: string, patch: JobRecordPatch, event?: { type: JobEventType; data?: unknown }): Promise<void>;
  get(jobId: string): Promise<JobInfo | undefined>;
  /**
   * Marks the job active for `attempt` and sends the `active` event, unless it is over
   * (completed, cancelled) or its cancellation was requested; returns what it found
   * before, so the caller knows whether to run the job.
   */
  begin(jobId: string, attempt: number): Promise<{ state: JobState; cancelRequested: boolean } | undefined>;
  /**
   * Optional: `begin` then `record`, in one step, for a job that ended before its
   * `active` step was sent (a short job costs the tracker one write instead of two).
   */
  beginAndRecord?(jobId: string, attempt: number, patch: JobRecordPatch, event: { type: JobEventType; data?: unknown }): Promise<void>;
  /** Sets the cancel flag; false when the job is unknown or already over. */
  requestCancel(jobId: string): Promise<boolean>;
  /**
   * Optional: true when the engine's hand-over of a first delivery is the job's
   * `active` step (its state and event): a worker writes nothing before running it.
   */
  readonly startsWithEngine?: boolean;
  /**
   * Optional: true when `create` writes nothing (the engine's job, deduped by its id, is
   * the first record): `add` then only enqueues.
   */
  readonly createdWithEngine?: boolean;
  /**
   * Optional: calls `watcher.onCancel()` when a cancel of the job is requested (at once if one was
   * heard lately), pushed instead of polled, until `unwatchCancel`. A worker
   * still polls `get` every `cancelPollMs`, so a cancel missed here is seen late, never lost.
   */
  watchCancel?(jobId: string, watcher: CancelWatcher): void;
  /** Stops what `watchCancel` started (with the same watcher). */
  unwatchCancel?(jobId: string, watcher: CancelWatcher): void;
  /** Events of one job in order, first those stored after `after`, then new ones as they happen; ends after a terminal event. */
  events(jobId: string, options?: EventsOptions): AsyncIterable<JobEvent>;
  /**
   * Runs `fn` unless a run under the same key has completed already, in which case it
   * returns that run's result. Two concurrent callers with one key may both run `fn`;
   * one job runs on one worker at a time, which is the case this serves.
   */
  once<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Takes or renews a lease; true while `owner` holds it. */
  lease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<void>;
  getMark(name: string): Promise<number | undefined>;
  /** Moves the mark forward only (a late writer cannot move it back). */
  setMark(name: string, value: number): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_EVENTS_KEPT = DEFAULT_TRACKER.eventsKept;
/** How long a finished job's record and events stay readable. */
export const DEFAULT_RECORD_TTL_MS = DEFAULT_TRACKER.recordTtlMs;
