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
import type { CancelWatcher, JobTracker } from './tracker.js';

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
 * One run of one job, one object for all the worker keeps of it: its abort signal
 * (made on first use: most handlers of short jobs never read it, and an
 * AbortController is one of the costlier objects of a job's run), when it started (for
 * the cancel poll), and what ends the worker's wait for it when the grace time is over.
 * It is also the job's cancel watcher, so watching costs no closure per job.
 */
class Run implements CancelWatcher {
  readonly id: string;
  readonly sinceMs: number;
  /** Resolves the worker's wait for the handler; set while it waits. */
  settle: ((o: Outcome) => void) | undefined;
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;

  constructor(id: string) {
    this.id = id;
    this.sinceMs = performance.now();
  }

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

  onCancel(): void {
    this.abort(new JobsCancelledError(this.id));
  }
}

/**
 * What a handler gets: fields, and its functions made on first use (a handler may take
 * them apart from the context, `({ data, progress }) => ...`, so they are closures, not
 * methods, but most short jobs never use them).
 */
class Context<T> implements JobContext<T> {
  readonly id: string;
  readonly queue: string;
  readonly name: string;
  readonly v: number;
  readonly data: T;
  readonly attempt: number;
  readonly key: string | undefined;
  readonly #run: Run;
  readonly #tracker: JobTracker;
  /** Sends the 'active' step first where it is held back (see Worker#handle); resolves once it is stored. */
  readonly #begin: (() => Promise<unknown>) | undefined;
  #writer: ProgressWriter | undefined;
  #progress: ((value: unknown) => Promise<void>) | undefined;
  #once: (<R>(key: string, fn: () => Promise<R>) => Promise<R>) | undefined;

  constructor(queue: string, env: JobEnvelope<T>, run: Run, tracker: JobTracker, begin: (() => Promise<unknown>) | undefined) {
    this.id = env.id;
    this.queue = queue;
    this.name = env.name;
    this.v = env.v;
    this.data = env.data;
    this.attempt = env.attempt;
    this.key = env.key;
    this.#run = run;
    this.#tracker = tracker;
    this.#begin = begin;
  }

  get signal(): AbortSignal {
    return this.#run.signal;
  }

  get progress(): (value: unknown) => Promise<void> {
    return this.#progress ??= (value) => {
      this.#writer ??= new ProgressWriter((v) => {
        // Behind the 'active' step (stored first: a tracker's writes may go out on
        // different connections).
        const begun = this.#begin?.();
        if (begun === undefined) return this.#tracker.record(this.id, { progress: v }, { type: 'progress', data: v });
        return begun.then(() => this.#tracker.record(this.id, { progress: v }, { type: 'progress', data: v }));
      });
      return this.#writer.set(value);
    };
  }

  get once(): <R>(key: string, fn: () => Promise<R>) => Promise<R> {
    return this.#once ??= (key, fn) => this.#tracker.once(`${this.queue}:${this.key ?? this.id}:${key}`, fn);
  }

  /** Resolves once the last progress set is stored (or failed). */
  flush(): Promise<void> | undefined {
    return this.#writer?.flush();
  }
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
  /** Jobs whose handler runs: polled for cancels, and their wait ended when the grace time is over. */
  readonly #runs = new Set<Run>();
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
      for (const run of [...this.#runs]) run.settle?.({ shutdown: true });
      await Promise.allSettled([...this.#running]);
      clearInterval(this.#cancelPoll);
      await this.#consumer.close().catch((err: unknown) => this.#report(err));
    })();
    return this.#closing;
  }

  #pollCancels(): void {
    const now = performance.now();
    for (const run of this.#runs) {
      if (now - run.sinceMs < this.#options.cancelPollMs) continue;
      this.#tracker.get(run.id).then((info) => {
        if (info?.cancelRequested === true) run.onCancel();
      }, (err: unknown) => this.#report(err));
    }
  }

  #track(raw: unknown, delivery: Delivery | undefined): Promise<AckRecord | void> {
    let env: JobEnvelope<T>;
    try {
      env = parseEnvelope(this.queue, raw) as JobEnvelope<T>;
    } catch (err) {
      // Nothing can run it or route it anywhere useful; keeping it would block the queue.
      this.#report(err);
      return Promise.resolve();
    }
    // A first delivery whose start the engine's hand-over records (nothing to ask or
    // write before it runs) takes the short path: no async function frame, no steps.
    const run = delivery?.first === true && this.#tracker.startsWithEngine === true && this.#backend.removeWaiting !== undefined
      && !this.#graceOver && this.#options.versions.includes(env.v)
      ? this.#runFirst(env, delivery.recordsOnAck ?? this.#backend.recordsOnAck === true)
      : this.#handle(env, delivery);
    this.#running.add(run);
    const done = (): void => { this.#running.delete(run); };
    run.then(done, done);
    return run;
  }

  /** The short path of {@link #handle} for a first delivery the engine's hand-over starts. */
  #runFirst(env: JobEnvelope<T>, recordsOnAck: boolean): Promise<AckRecord | void> {
    const tracker = this.#tracker;
    const run = new Run(env.id);
    tracker.watchCancel?.(env.id, run);
    const ctx = new Context<T>(this.queue, env, run, tracker, undefined);
    return this.#wait(run, ctx).then((outcome) => {
      this.#runs.delete(run);
      tracker.unwatchCancel?.(env.id, run);
      const flushing = ctx.flush();
      // The common end: the acknowledgement stores it.
      if (flushing === undefined && recordsOnAck && 'ok' in outcome && outcome.ok) return completedEnd(env.id, outcome.value);
      return this.#finishAfter(flushing, env, outcome, run, recordsOnAck);
    });
  }

  async #finishAfter(flushing: Promise<void> | undefined, env: JobEnvelope<T>, outcome: Outcome, run: Run, recordsOnAck: boolean): Promise<AckRecord | void> {
    // The last progress is stored before the end is.
    await flushing;
    return this.#finish(env, outcome, run, recordsOnAck);
  }

  /**
   * Runs the handler; resolves with how it ended, or with a hand-back once the grace
   * time is over. The caller takes the run out of `#runs` when this resolves.
   */
  #wait(run: Run, ctx: Context<T>): Promise<Outcome> {
    this.#runs.add(run);
    return new Promise<Outcome>((resolve) => {
      run.settle = resolve;
      let result: unknown;
      try {
        result = this.#handler(ctx);
      } catch (error) {
        resolve({ ok: false, error });
        return;
      }
      Promise.resolve(result).then((value) => resolve({ ok: true, value }), (error: unknown) => resolve({ ok: false, error }));
    });
  }

  async #handle(env: JobEnvelope<T>, delivery: Delivery | undefined): Promise<AckRecord | void> {
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
    const run = new Run(env.id);
    // Where the engine stores a completed job's end with its acknowledgement.
    const recordsOnAck = delivery?.recordsOnAck ?? this.#backend.recordsOnAck === true;
    // A first delivery where a cancel takes the job out of the engine has nothing to
    // learn from the tracker before it runs (no earlier run, no cancel of a waiting
    // job): it starts at once, and its 'active' step is stored before its first writes,
    // or goes with its end, or is the engine's hand-over itself. Any other delivery
    // asks first.
    let begun: Promise<unknown> | undefined;
    // Where the 'active' step and the end can go in one step (the tracker's
    // beginAndRecord, or the acknowledgement that stores the end), the 'active' step
    // goes a moment later (after the I/O of this turn): a job that is over by then
    // costs one write instead of two. Progress sends it first.
    let held: NodeJS.Immediate | undefined;
    let begin: (() => Promise<unknown>) | undefined;
    if (delivery?.first === true && this.#backend.removeWaiting !== undefined) {
      if (tracker.startsWithEngine !== true) {
        begin = () => {
          clearImmediate(held);
          held = undefined;
          if (begun !== undefined) return begun;
          begun = tracker.begin(env.id, env.attempt).then((before) => {
            // A cancel that came while the job was being handed over.
            if (before?.cancelRequested === true) run.onCancel();
          });
          begun.catch(() => undefined);
          return begun;
        };
        if (recordsOnAck || tracker.beginAndRecord !== undefined) held = setImmediate(begin);
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
    tracker.watchCancel?.(env.id, run);
    const ctx = new Context<T>(this.queue, env, run, tracker, begin);
    let outcome: Outcome;
    if (this.#graceOver) {
      outcome = { shutdown: true };
    } else {
      outcome = await this.#wait(run, ctx);
      this.#runs.delete(run);
    }
    tracker.unwatchCancel?.(env.id, run);
    // The last progress is stored before the end is.
    await ctx.flush();
    if (held !== undefined) {
      clearImmediate(held);
      held = undefined;
      if ('ok' in outcome && outcome.ok) {
        // Over before its 'active' step went out: both in one step, in that order.
        const result = outcome.value ?? null;
        if (recordsOnAck) return { jobId: env.id, patch: { state: 'completed', result, attempt: env.attempt }, event: { type: 'completed', data: result }, active: env.attempt };
        if (tracker.beginAndRecord !== undefined) {
          await tracker.beginAndRecord(env.id, env.attempt, { state: 'completed', result }, { type: 'completed', data: result });
          return;
        }
      }
      // Failed, cancelled or handed back before its 'active' step went out: it goes now.
    }
    begin?.();
    if (begun !== undefined) {
      // The 'active' step is stored before the end (a tracker's writes may go out on
      // different connections), and a cancel it found makes a failed run 'cancelled'. Mostly
      // done by now: it went out a turn after the job started. A failed 'active' step
      // fails the delivery, which the engine hands again (then asking the tracker first).
      await begun;
    } else if (recordsOnAck && 'ok' in outcome && outcome.ok) {
      // The common end, without a step of its own: the acknowledgement stores it.
      return completedEnd(env.id, outcome.value);
    }
    return this.#finish(env, outcome, run, recordsOnAck);
  }

  async #finish(env: JobEnvelope<T>, outcome: Outcome, run: Run, recordsOnAck: boolean): Promise<AckRecord | void> {
    const tracker = this.#tracker;
    if ('shutdown' in outcome) {
      run.abort(new JobsShutdownError(env.id));
      await this.#handBack(env);
    } else if (outcome.ok) {
      const end = completedEnd(env.id, outcome.value);
      // Written with the acknowledgement where the backend can (one step), else before it.
      if (recordsOnAck) return end;
      await tracker.record(end.jobId, end.patch, end.event);
    } else if (run.reason instanceof JobsCancelledError) {
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

function completedEnd(jobId: string, value: unknown): AckRecord {
  const result = value ?? null;
  return { jobId, patch: { state: 'completed', result }, event: { type: 'completed', data: result } };
}
