import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import { JobsClosedError, JobsOptionsError } from './errors.js';
import { DEFAULT_SCHEDULER, parseOptions, schedulerOptionsSchema } from './options.js';
import type { Queue } from './queue.js';
import type { JobTracker } from './tracker.js';

/** How long a scheduler's lease lasts unless renewed; a dead scheduler's successor takes over after it. */
export const DEFAULT_SCHEDULER_LEASE_MS = DEFAULT_SCHEDULER.leaseMs;
/** How often a scheduler renews its lease and looks for due ticks. */
export const DEFAULT_SCHEDULER_INTERVAL_MS = DEFAULT_SCHEDULER.intervalMs;
/** At most this many missed ticks of one schedule are enqueued after an outage (the latest ones). */
export const DEFAULT_MAX_CATCH_UP = DEFAULT_SCHEDULER.maxCatchUp;
/** @defaultValue */
export const DEFAULT_SCHEDULER_GROUP = DEFAULT_SCHEDULER.group;

export interface ScheduleDefinition<T = unknown> {
  /** Unique within the group; the key of the schedule's last-run mark. */
  name: string;
  /** Five fields, or six with seconds first (`* * * * * *` = every second). */
  cron: string;
  queue: Queue<T>;
  /** @defaultValue the schedule's name */
  jobName?: string;
  data: T;
  /** IANA time zone of the expression. @defaultValue UTC */
  timezone?: string;
}

export interface SchedulerOptions {
  schedules: ScheduleDefinition<never>[] | ScheduleDefinition[];
  /** Where the lease and marks live. @defaultValue the first schedule's queue's tracker */
  tracker?: JobTracker;
  /** Schedulers of one group share one lease: one of them runs at a time. */
  group?: string;
  leaseMs?: number;
  intervalMs?: number;
  maxCatchUp?: number;
  onError?: (err: unknown) => void;
}

/**
 * Enqueues the jobs of cron schedules, with exactly one scheduler of a group active
 * across all processes: it holds a lease in the tracker and renews it. Each tick is
 * enqueued with the tick's time in its idempotency key and then recorded as the
 * schedule's mark, so a successor (or a restarted scheduler) enqueues the ticks missed
 * since the mark once, and two schedulers that overlap for a moment (a paused process
 * whose lease ran out) cannot enqueue one tick twice.
 */
export class Scheduler {
  readonly owner = randomUUID();
  readonly #tracker: JobTracker;
  readonly #schedules: { def: ScheduleDefinition; cron: Cron }[];
  readonly #lease: string;
  readonly #leaseMs: number;
  readonly #intervalMs: number;
  readonly #maxCatchUp: number;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> = Promise.resolve();
  #closed = false;
  #leader = false;

  constructor(options: SchedulerOptions) {
    const schedules = options.schedules as ScheduleDefinition[];
    if (!Array.isArray(schedules) || schedules.length === 0) throw new JobsOptionsError('a scheduler needs at least one schedule');
    const names = new Set<string>();
    this.#schedules = schedules.map((def) => {
      if (typeof def.name !== 'string' || def.name === '' || names.has(def.name)) {
        throw new JobsOptionsError(`schedule names must be unique non-empty strings (got ${JSON.stringify(def.name)})`);
      }
      names.add(def.name);
      try {
        return { def, cron: new Cron(def.cron, { paused: true, timezone: def.timezone ?? 'UTC' }) };
      } catch (err) {
        throw new JobsOptionsError(`schedule "${def.name}" has an invalid cron expression "${def.cron}": ${(err as Error).message}`);
      }
    });
    this.#tracker = options.tracker ?? (schedules[0] as ScheduleDefinition).queue.backend.tracker;
    const { group, leaseMs, intervalMs, maxCatchUp } = parseOptions(schedulerOptionsSchema,
      { group: options.group, leaseMs: options.leaseMs, intervalMs: options.intervalMs, maxCatchUp: options.maxCatchUp }, 'scheduler options');
    this.#lease = `scheduler:${group}`;
    this.#leaseMs = leaseMs;
    this.#intervalMs = intervalMs;
    this.#maxCatchUp = maxCatchUp;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** True while this scheduler holds the group's lease. */
  get leader(): boolean {
    return this.#leader;
  }

  start(): this {
    if (this.#closed) throw new JobsClosedError('scheduler');
    if (this.#timer !== undefined) return this;
    const loop = (): void => {
      this.#round = this.#runRound().catch((err: unknown) => { this.#leader = false; this.#onError(err); });
      void this.#round.then(() => { if (!this.#closed) this.#timer = setTimeout(loop, this.#intervalMs); });
    };
    this.#timer = setTimeout(loop, 0);
    return this;
  }

  /** Stops and gives the lease up, so another scheduler takes over at once. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#round;
    if (this.#leader) await this.#tracker.releaseLease(this.#lease, this.owner).catch((err: unknown) => this.#onError(err));
    this.#leader = false;
  }

  async #runRound(): Promise<void> {
    this.#leader = await this.#tracker.lease(this.#lease, this.owner, this.#leaseMs);
    if (!this.#leader) return;
    const started = Date.now();
    for (const { def, cron } of this.#schedules) {
      // A round that outlives most of the lease would overlap with a successor.
      if (this.#closed || Date.now() - started > this.#leaseMs / 2) return;
      await this.#catchUp(def, cron);
    }
  }

  async #catchUp(def: ScheduleDefinition, cron: Cron): Promise<void> {
    const markName = `schedule:${this.#lease}:${def.name}`;
    const now = Date.now();
    const mark = await this.#tracker.getMark(markName);
    if (mark === undefined) {
      // A new schedule starts now; it does not replay the past.
      await this.#tracker.setMark(markName, now);
      return;
    }
    const due: Date[] = [];
    for (let t = cron.nextRun(new Date(mark)); t !== null && t.getTime() <= now; t = cron.nextRun(t)) {
      due.push(t);
      if (due.length > this.#maxCatchUp) due.shift();
    }
    for (const tick of due) {
      if (this.#closed) return;
      await def.queue.add(def.jobName ?? def.name, def.data as never, { key: `schedule:${def.name}:${tick.toISOString()}` });
      await this.#tracker.setMark(markName, tick.getTime());
    }
  }
}
