import { retryDelayMs } from './backoff.js';
import type { AckRecord, BackendConsumer, Delivery, QueueBackend } from './backend.js';
import { deadLetterQueueName } from './backend.js';
import { describeCause, JobsCancelledError, JobsShutdownError, JobsUnknownVersionError } from './errors.js';
import { parseEnvelope } from './job.js';
import type { JobEnvelope } from './job.js';
import { parseOptions, workerOptionsSchema } from './options.js';
import { ProgressWriter } from './progress-writer.js';
import type { ResolvedWorkerOptions, WorkerOptions } from './options.js';
import type { Queue } from './queue.js';
import type { JobTracker } from './tracker.js';

/** What a handler gets for one run of one job. */
export interface JobContext<T = unknown> {
  readonly id: string;
  readonly queue: string;
  readonly name: string;
  /** The payload version; one of the worker's `versions`. */
  readonly v: number;
  readonly data: T;
  readonly attempt: number;
  /** The idempotency key given to `add` (a schedule's is `schedule:<name>:<tick ISO time>`). */
  readonly key: string | undefined;
  /** Aborts when the job is cancelled or the worker's grace time runs out; the handler should return. */
  readonly signal: AbortSignal;
  /**
   * Stores the job's progress (readable by id) and sends a `progress` event. Calls made
   * while an earlier one is being written coalesce: only the last of them is written.
   */
  progress(value: unknown): Promise<void>;
  /**
   * Runs `fn` once per job and key, across retries and redeliveries: a job re-run after
   * a crash skips effects it already completed and gets their stored results.
   */
  once<R>(key: string, fn: () => Promise<R>): Promise<R>;
}

export type JobHandler<T = unknown> = (ctx: JobContext<T>) => Promise<unknown>;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown } | { shutdown: true };

/**
 * A job's abort signal, made on first use: most handlers of short jobs never read it,
 * and an AbortController is one of the costlier objects of a job's run.
 */
class JobAbort {
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get reason(): unknown {
    return this.#reason;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** A running job the worker asks the tracker about, for a cancel it was not told of. */
interface Watched {
  id: string;
  sinceMs: number;
  abort: JobAbort;
}

/**
 * Runs the jobs of one queue with a handler. Failures are retried with exponential
 * backoff and jitter, then dead-lettered; a job whose worker dies runs again.
 *
 * @example
 * ```ts
 * const worker = new Worker(emails, async (ctx) => {
 *   await ctx.once('send', () => mailer.send(ctx.data.to));
 * }, { concurrency: 4 });
 * process.on('SIGTERM', () => worker.close());
 * ```
 */
export class Worker<T = unknown> {
  readonly queue: string;
  readonly #backend: QueueBackend;
  /** Where this queue's job records and events are. */
  readonly #tracker: JobTracker;
  readonly #handler: JobHandler<T>;
  readonly #options: ResolvedWorkerOptions;
  readonly #consumer: BackendConsumer;
  readonly #running = new Set<Promise<AckRecord | void>>();
  #graceOver = false;
  /** What ends each running job's wait when the grace time is over (no promise per job kept by a shared one). */
  readonly #onGraceOver = new Set<() => void>();
  readonly #watched = new Set<Watched>();
  readonly #cancelPoll: NodeJS.Timeout;
  #closing: Promise<void> | undefined;

  constructor(queue: Queue<T>, handler: JobHandler<T>, options: WorkerOptions = {}) {
    this.queue = queue.name;
    this.#backend = queue.backend;
    this.#tracker = queue.backend.trackerOf?.(queue.name) ?? queue.backend.tracker;
    this.#handler = handler;
    this.#options = parseOptions(workerOptionsSchema, options, `options of the worker of queue "${queue.name}"`);
    // One timer for all running jobs: each is asked about once it has run cancelPollMs.
    this.#cancelPoll = setInterval(() => this.#pollCancels(), this.#options.cancelPollMs);
    this.#cancelPoll.unref();
    this.#consumer = this.#backend.consume(this.queue, {
      concurrency: this.#options.concurrency,
      ...(this.#options.rateLimit !== undefined ? { rateLimit: this.#options.rateLimit } : {}),
    }, (raw, delivery) => this.#track(raw, delivery));
  }

  /** How many jobs this worker runs right now. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Stops taking jobs, lets running ones finish for `graceMs`, then aborts their signal
   * and hands them back to the queue (they run again elsewhere, with the same attempt).
   */
  close(options: { graceMs?: number } = {}): Promise<void> {
    this.#closing ??= (async () => {
      await this.#consumer.pause().catch((err: unknown) => this.#report(err));
      const graceMs = options.graceMs ?? this.#options.graceMs;
      let timer: NodeJS.Timeout | undefined;
      let timeIsUp = false;
      const timeUp = new Promise<void>((resolve) => { timer = setTimeout(() => { timeIsUp = true; resolve(); }, graceMs); });
      // A job the engine handed over while pausing (its state already 'active' there)
      // joins the running ones and gets the same grace time.
      while (!timeIsUp && this.#running.size > 0) await Promise.race([Promise.allSettled([...this.#running]), timeUp]);
      clearTimeout(timer);
      this.#graceOver = true;
      for (const stop of [...this.#onGraceOver]) stop();
      await Promise.allSettled([...this.#running]);
      clearInterval(this.#cancelPoll);
      await this.#consumer.close().catch((err: unknown) => this.#report(err));
    })();
    return this.#closing;
  }

  #pollCancels(): void {
    const now = performance.now();
    for (const w of this.#watched) {
      if (now - w.sinceMs < this.#options.cancelPollMs) continue;
      this.#tracker.get(w.id).then((info) => {
        if (info?.cancelRequested === true) w.abort.abort(new JobsCancelledError(w.id));
      }, (err: unknown) => this.#report(err));
    }
  }

  #track(raw: unknown, delivery: Delivery | undefined): Promise<AckRecord | void> {
    const run = this.#handle(raw, delivery);
    this.#running.add(run);
    const done = (): void => { this.#running.delete(run); };
    run.then(done, done);
    return run;
  }

  async #handle(raw: unknown, delivery: Delivery | undefined): Promise<AckRecord | void> {
    let env: JobEnvelope<T>;
    try {
      env = parseEnvelope(this.queue, raw) as JobEnvelope<T>;
    } catch (err) {
      // Nothing can run it or route it anywhere useful; keeping it would block the queue.
      this.#report(err);
      return;
    }
    const tracker = this.#tracker;
    // Handed over by the engine after close() began: run within the grace time, else back to the queue.
    if (this.#graceOver) {
      await this.#handBack(env);
      return;
    }
    if (!this.#options.versions.includes(env.v)) {
      await this.#deadLetter(env, new JobsUnknownVersionError(this.queue, env.v, this.#options.versions));
      return;
    }
    const controller = new JobAbort();
    // Where the engine stores a completed job's end with its acknowledgement.
    const recordsOnAck = delivery?.recordsOnAck ?? this.#backend.recordsOnAck === true;
    // A first delivery where a cancel takes the job out of the engine has nothing to
    // learn from the tracker before it runs (no earlier run, no cancel of a waiting
    // job): it starts at once, and its 'active' step goes out with its first writes
    // (the same connection, in order), or is the engine's hand-over itself. Any other
    // delivery asks first.
    let begun: Promise<unknown> | undefined;
    // A tracker that can write the 'active' step and the end in one step gets the
    // 'active' step a moment later (after the I/O of this turn): a job that is over by
    // then costs it one write instead of two. Progress sends it first.
    let held: NodeJS.Immediate | undefined;
    let begin: (() => void) | undefined;
    if (delivery?.first === true && this.#backend.removeWaiting !== undefined) {
      if (tracker.startsWithEngine !== true) {
        begin = () => {
          clearImmediate(held);
          held = undefined;
          if (begun !== undefined) return;
          begun = tracker.begin(env.id, env.attempt).then((before) => {
            // A cancel that came while the job was being handed over.
            if (before?.cancelRequested === true) controller.abort(new JobsCancelledError(env.id));
          });
          begun.catch(() => undefined);
        };
        if (tracker.beginAndRecord !== undefined && !recordsOnAck) held = setImmediate(begin);
        else begin();
      }
    } else {
      const before = await tracker.begin(env.id, env.attempt);
      // A redelivery of a job whose end was recorded but not acknowledged.
      if (before?.state === 'completed' || before?.state === 'cancelled') return;
      if (before?.cancelRequested === true) {
        await tracker.record(env.id, { state: 'cancelled' }, { type: 'cancelled' });
        return;
      }
    }

    // Pushed where the tracker can (a cancel heard while the job was handed over
    // included), and polled in any case.
    const unwatch = tracker.watchCancel?.(env.id, () => controller.abort(new JobsCancelledError(env.id)));
    const watched: Watched = { id: env.id, sinceMs: performance.now(), abort: controller };
    this.#watched.add(watched);
    let progress: ProgressWriter | undefined;
    const ctx: JobContext<T> = {
      id: env.id, queue: this.queue, name: env.name, v: env.v, data: env.data, attempt: env.attempt, key: env.key,
      get signal() { return controller.signal; },
      progress: (value) => {
        progress ??= new ProgressWriter((v) => {
          // Behind the 'active' step, on the same connection.
          begin?.();
          return tracker.record(env.id, { progress: v }, { type: 'progress', data: v });
        });
        return progress.set(value);
      },
      once: (key, fn) => tracker.once(`${this.queue}:${env.key ?? env.id}:${key}`, fn),
    };
    const outcome = await new Promise<Outcome>((resolve) => {
      const stop = (): void => resolve({ shutdown: true });
      if (this.#graceOver) {
        stop();
        return;
      }
      this.#onGraceOver.add(stop);
      const settle = (o: Outcome): void => {
        this.#onGraceOver.delete(stop);
        resolve(o);
      };
      Promise.resolve().then(() => this.#handler(ctx)).then((value) => settle({ ok: true, value }), (error: unknown) => settle({ ok: false, error }));
    });
    this.#watched.delete(watched);
    unwatch?.();
    // The last progress is stored before the end is.
    await progress?.flush();
    if (held !== undefined && 'ok' in outcome && outcome.ok && tracker.beginAndRecord !== undefined) {
      // Over before its 'active' step went out: both in one step, in that order.
      clearImmediate(held);
      held = undefined;
      const result = outcome.value ?? null;
      await tracker.beginAndRecord(env.id, env.attempt, { state: 'completed', result }, { type: 'completed', data: result });
      return;
    }
    begin?.();
    const finishing = this.#finish(env, outcome, controller, recordsOnAck);
    if (begun === undefined) return finishing;
    // The end is already on its way behind the 'active' step; a failed 'active' step
    // fails the delivery, which the engine hands again (then asking the tracker first).
    const [end] = await Promise.all([finishing, begun]);
    return end;
  }

  async #finish(env: JobEnvelope<T>, outcome: Outcome, controller: JobAbort, recordsOnAck: boolean): Promise<AckRecord | void> {
    const tracker = this.#tracker;
    if ('shutdown' in outcome) {
      controller.abort(new JobsShutdownError(env.id));
      await this.#handBack(env);
    } else if (outcome.ok) {
      const end: AckRecord = { jobId: env.id, patch: { state: 'completed', result: outcome.value ?? null }, event: { type: 'completed', data: outcome.value ?? null } };
      // Written with the acknowledgement where the backend can (one step), else before it.
      if (recordsOnAck) return end;
      await tracker.record(end.jobId, end.patch, end.event);
    } else if (controller.reason instanceof JobsCancelledError) {
      await tracker.record(env.id, { state: 'cancelled' }, { type: 'cancelled' });
    } else if (env.attempt < env.maxAttempts) {
      const delayMs = retryDelayMs(env.attempt, env.backoffMs, env.backoffMaxMs, env.jitter);
      const next = { ...env, attempt: env.attempt + 1 };
      // The record comes first: the retry may start on another worker at once, and its
      // 'active' must not be overwritten. The retry is enqueued before this delivery is
      // acknowledged: a crash in between gives a duplicate, never a lost job.
      await tracker.record(env.id, { state: 'waiting', error: describeCause(outcome.error) },
        { type: 'retrying', data: { attempt: env.attempt, delayMs, error: describeCause(outcome.error) } });
      await this.#backend.enqueue(this.queue, next, { delayMs, first: false });
    } else {
      await this.#deadLetter(env, outcome.error);
    }
  }

  async #handBack(env: JobEnvelope<T>): Promise<void> {
    await this.#tracker.record(env.id, { state: 'waiting' }, { type: 'waiting', data: { handedBack: true } });
    await this.#backend.enqueue(this.queue, env, { delayMs: 0, first: false });
  }

  async #deadLetter(env: JobEnvelope<T>, error: unknown): Promise<void> {
    await this.#backend.enqueue(deadLetterQueueName(this.queue), env, { delayMs: 0, first: false });
    await this.#tracker.record(env.id, { state: 'dead', error: describeCause(error) },
      { type: 'failed', data: { attempt: env.attempt, error: describeCause(error) } });
  }

  #report(err: unknown): void {
    try {
      this.#options.onError?.(err);
    } catch {
      // A throwing error callback must not take the worker down.
    }
  }
}
