import type { EnqueueOptions, QueueBackend } from './backend.js';
import { deadLetterQueueName } from './backend.js';
import { JobsClosedError, JobsUnsupportedError } from './errors.js';
import { jobIdForKey, newJobId, parseEnvelope } from './job.js';
import type { JobEnvelope, JobEvent, JobInfo } from './job.js';
import {
  addOptionsSchema, DEFAULT_PAYLOAD_VERSION,
  parseOptions, queueOptionsSchema, validateQueueName,
} from './options.js';
import type { AddOptions, QueueOptions, ResolvedQueueOptions } from './options.js';
import type { EventsOptions, JobTracker, SqlExecutor } from './tracker.js';

/** What `add` did: the job's id, and false in `added` when the idempotency key had been used. */
export interface AddedJob {
  id: string;
  added: boolean;
}

/** How many dead jobs one `redrive()` moves at most, unless told otherwise. */
export const DEFAULT_REDRIVE_MAX = 1_000;

/**
 * A named queue of jobs on one backend. Producers `add`, anyone reads a job's state,
 * follows its events or cancels it; a {@link Worker} runs the jobs.
 *
 * @example
 * ```ts
 * const emails = new Queue<{ to: string }>(backend, 'emails', { attempts: 5 });
 * const { id } = await emails.add('welcome', { to: 'a@example.com' }, { key: `welcome:${userId}` });
 * ```
 */
export class Queue<T = unknown> {
  readonly name: string;
  readonly backend: QueueBackend;
  readonly #options: ResolvedQueueOptions;
  /** Where this queue's job records and events are. */
  readonly #tracker: JobTracker;
  #ready: Promise<void> | undefined;
  /** Set once `ready()` succeeded: `add` skips it then (no promise per job). */
  #isReady = false;
  #closed = false;

  constructor(backend: QueueBackend, name: string, options: QueueOptions = {}) {
    this.name = validateQueueName(name);
    this.backend = backend;
    this.#options = parseOptions(queueOptionsSchema, options, `options of queue "${name}"`);
    this.#tracker = backend.trackerOf?.(this.name) ?? backend.tracker;
  }

  /** Creates the queue and its dead-letter queue in the engine (`add` does it on first use). */
  ready(): Promise<void> {
    this.#ready ??= (async () => {
      await this.backend.prepare(this.name);
      await this.backend.prepare(deadLetterQueueName(this.name));
      this.#isReady = true;
    })();
    this.#ready.catch(() => { this.#ready = undefined; });
    return this.#ready;
  }

  /**
   * Enqueues a job. With `key`, a second add with the same key enqueues nothing and
   * returns the same id. With `db` (PostgreSQL backends), the job is written in the
   * caller's transaction: it exists only if that transaction commits.
   */
  add(name: string, data: T, options?: AddOptions): Promise<AddedJob> {
    if (!this.#closed && this.#isReady && (options === undefined || isEmpty(options)) && this.#tracker.createdWithEngine === true) {
      // The usual add (no options, the engine's job is the record): one enqueue, no
      // async function frame of its own.
      const id = newJobId();
      return this.backend.enqueue(this.name, this.#envelope(id, name, data, NO_OPTIONS), FIRST_ENQUEUE).then((added) => ({ id, added }));
    }
    return this.#add(name, data, options);
  }

  #envelope(id: string, name: string, data: T, o: AddOptions): JobEnvelope<T> {
    const envelope: JobEnvelope<T> = {
      id, name, v: o.v ?? DEFAULT_PAYLOAD_VERSION, data, attempt: 1,
      // The job's own settings, else its queue's (resolved with the defaults).
      maxAttempts: o.attempts ?? this.#options.attempts,
      backoffMs: o.backoffMs ?? this.#options.backoffMs,
      backoffMaxMs: o.backoffMaxMs ?? this.#options.backoffMaxMs,
      jitter: o.jitter ?? this.#options.jitter,
      priority: o.priority ?? 0,
    };
    if (o.key !== undefined) envelope.key = o.key;
    return envelope;
  }

  async #add(name: string, data: T, options: AddOptions | undefined): Promise<AddedJob> {
    if (this.#closed) throw new JobsClosedError(`queue "${this.name}"`);
    // Most adds give no options: nothing to check then.
    const o: AddOptions = options === undefined || isEmpty(options) ? NO_OPTIONS : parseOptions(addOptionsSchema, options, `options of a job added to queue "${this.name}"`);
    const db = o.db as SqlExecutor | undefined;
    if (db !== undefined && !this.backend.capabilities.transactionalAdd) {
      throw new JobsUnsupportedError(this.backend.name, 'enqueue in a database transaction', 'its jobs are not in the database');
    }
    if (!this.#isReady) await this.ready();
    const id = o.key !== undefined ? jobIdForKey(this.name, o.key) : newJobId();
    const envelope = this.#envelope(id, name, data, o);
    const enqueue: EnqueueOptions = db !== undefined ? { delayMs: o.delayMs ?? 0, first: true, db } : { delayMs: o.delayMs ?? 0, first: true };
    const tracker = this.#tracker;
    // The engine's job is the record: enqueuing it is all there is to write.
    if (tracker.createdWithEngine === true) return { id, added: await this.backend.enqueue(this.name, envelope, enqueue) };
    const info = { id, queue: this.name, name };
    if (this.backend.enqueueWithRecord !== undefined) {
      // The job and its record in one statement of the engine.
      return { id, added: await this.backend.enqueueWithRecord(this.name, envelope, enqueue, info) };
    }
    if (this.backend.capabilities.atomicDedupe) {
      // The engine refuses a second job with this id by itself, so the record can be
      // written at the same time (one round trip instead of two): creating it never
      // overwrites a record a worker already moved on ('active'), and a duplicate's
      // create changes nothing. If the enqueue fails, the caller gets the error and
      // the record stays 'waiting' until it expires or an add with the key succeeds.
      const [added] = await Promise.all([this.backend.enqueue(this.name, envelope, enqueue), tracker.create(info, db)]);
      return { id, added };
    }
    // No dedupe in the engine: the record is the claim on the key. A crash between the
    // two steps loses this add (see docs/async.md).
    if (!await tracker.create(info, db)) return { id, added: false };
    await this.backend.enqueue(this.name, envelope, enqueue);
    return { id, added: true };
  }

  /** The job's state, attempt, progress and result; undefined once forgotten or never known. */
  async getJob(id: string): Promise<JobInfo | undefined> {
    return this.#tracker.get(id);
  }

  /**
   * Cancels a job: a waiting one never runs; a running one sees `ctx.signal` abort and
   * should return. False when the job is unknown or over.
   */
  async cancel(id: string): Promise<boolean> {
    const tracker = this.#tracker;
    if (!await tracker.requestCancel(id)) return false;
    // Where the engine can, the job leaves it first: a worker may start a first delivery
    // before its tracker step, so only a job the engine no longer has is 'cancelled' here.
    const engine = await this.backend.removeWaiting?.(this.name, id);
    if (engine === 'running') return true;
    if (engine === 'removed' || (await tracker.get(id))?.state === 'waiting') {
      await tracker.record(id, { state: 'cancelled' }, { type: 'cancelled' });
    }
    return true;
  }

  /** The job's events (progress, retries, the end), resuming after `after` (a `Last-Event-ID`). */
  events(id: string, options: EventsOptions = {}): AsyncIterable<JobEvent> {
    return this.#tracker.events(id, options);
  }

  /** Moves dead jobs back to the queue with a fresh set of attempts; returns how many. */
  async redrive(max = DEFAULT_REDRIVE_MAX): Promise<number> {
    await this.ready();
    let moved = 0;
    while (moved < max) {
      const taken = await this.backend.take(deadLetterQueueName(this.name), Math.min(100, max - moved));
      if (taken.length === 0) break;
      for (const job of taken) {
        const envelope = { ...parseEnvelope(this.name, job.envelope), attempt: 1 };
        // Recorded before it is enqueued, so a worker's 'active' cannot be overwritten.
        await this.#tracker.record(envelope.id, { state: 'waiting', attempt: 1 }, { type: 'waiting', data: { redriven: true } });
        await this.backend.enqueue(this.name, envelope, { delayMs: 0, first: false });
        await job.ack();
        moved += 1;
      }
    }
    return moved;
  }

  /** Refuses further adds; the backend stays open (it may serve other queues). */
  close(): void {
    this.#closed = true;
  }
}

const NO_OPTIONS: AddOptions = Object.freeze({});
const FIRST_ENQUEUE: EnqueueOptions = Object.freeze({ delayMs: 0, first: true });

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}
