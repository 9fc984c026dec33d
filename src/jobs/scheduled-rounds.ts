import { JobsClosedError, JobsOptionsError } from './errors.js';
import type { WorkerOptions } from './options.js';
import type { Queue } from './queue.js';
import { Scheduler } from './schedule.js';
import type { SchedulerOptions } from './schedule.js';
import { Worker } from './worker.js';

export interface ScheduledRoundsOptions {
  /** The queue the ticks go through; every process of the app runs a worker on it. */
  queue: Queue<null>;
  /** Schedulers of one group share one lease. @defaultValue `rounds:<queue name>` */
  group?: string;
  /** Told of a failed round or scheduler round; the next tick runs again. */
  onError?: (err: unknown) => void;
  /** Told of each round this process runs: its name and the tick's idempotency key. */
  onRun?: (name: string, tick: string | undefined) => void;
  worker?: WorkerOptions;
  scheduler?: Omit<SchedulerOptions, 'schedules' | 'group' | 'onError'>;
}

/**
 * The cron expression (six fields, seconds first) of "every `intervalMs`": whole seconds
 * that divide a minute, or whole minutes that divide an hour.
 */
export function everyCron(intervalMs: number): string {
  const s = intervalMs / 1_000;
  if (Number.isInteger(s) && s >= 1 && s < 60 && 60 % s === 0) return `*/${s} * * * * *`;
  const m = s / 60;
  if (Number.isInteger(m) && m >= 1 && m < 60 && 60 % m === 0) return `0 */${m} * * * *`;
  if (m === 60) return '0 0 * * * *';
  throw new JobsOptionsError(`a scheduled round runs every whole number of seconds or minutes that divides a minute or an hour (1 s, 5 s, 30 s, 1 min, 15 min, 1 h), got ${String(intervalMs)} ms`);
}

/**
 * Named rounds (functions) run on a cron schedule by workers of the jobs tier: the
 * group's one active scheduler enqueues each tick exactly once, and one worker of the
 * deployment runs it. Every process registers the same rounds under the same names;
 * the one that takes a tick's job runs its own copy. This is what `warmRunner` of
 * `scaleout/cache` takes, so a cache's warmers run once per tick across instances.
 */
export class ScheduledRounds {
  readonly #o: ScheduledRoundsOptions;
  readonly #rounds = new Map<string, { intervalMs: number; round: () => Promise<void> }>();
  readonly #worker: Worker<null>;
  #scheduler: Scheduler | undefined;
  #rebuilding: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: ScheduledRoundsOptions) {
    if (typeof options?.queue?.add !== 'function') throw new JobsOptionsError('scheduled rounds need queue: a Queue of scaleout/jobs');
    this.#o = options;
    this.#worker = new Worker(options.queue, async (ctx) => {
      const entry = this.#rounds.get(ctx.name);
      // A tick of a round this process does not know (another build during a deploy): nothing to do here.
      if (entry === undefined || this.#closed) return;
      this.#o.onRun?.(ctx.name, ctx.key);
      // A failed round is not retried: the next tick runs it again, fresher.
      await entry.round().catch((err: unknown) => this.#o.onError?.(err));
    }, { concurrency: 1, ...options.worker });
  }

  /** Run `round` every `intervalMs` (see {@link everyCron} for the intervals allowed). */
  every(name: string, intervalMs: number, round: () => Promise<void>): { stop(): Promise<void> } {
    if (this.#closed) throw new JobsClosedError('scheduled rounds');
    everyCron(intervalMs);
    this.#rounds.set(name, { intervalMs, round });
    this.#reschedule();
    return {
      stop: async () => {
        if (this.#rounds.get(name)?.round !== round) return;
        this.#rounds.delete(name);
        this.#reschedule();
        await this.#rebuilding;
      },
    };
  }

  /** Stops scheduling (handing the lease over) and the worker. */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    this.#closed = true;
    this.#rounds.clear();
    this.#reschedule();
    await this.#rebuilding;
    await this.#worker.close(options);
  }

  // A scheduler's schedules are fixed: a change of rounds replaces it (the lease passes on at once).
  #reschedule(): void {
    this.#rebuilding = this.#rebuilding.then(async () => {
      const old = this.#scheduler;
      this.#scheduler = undefined;
      await old?.close();
      if (this.#closed || this.#rounds.size === 0) return;
      this.#scheduler = new Scheduler({
        ...this.#o.scheduler,
        group: this.#o.group ?? `rounds:${this.#o.queue.name}`,
        schedules: [...this.#rounds].map(([name, r]) => ({ name, jobName: name, cron: everyCron(r.intervalMs), queue: this.#o.queue, data: null })),
        onError: (err) => this.#o.onError?.(err),
      }).start();
    }).catch((err: unknown) => this.#o.onError?.(err));
  }
}
