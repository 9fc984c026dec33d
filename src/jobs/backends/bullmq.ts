import { randomUUID } from 'node:crypto';
import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type {
  AckRecord, BackendCapabilities, BackendConsumer, ConsumeOptions, Delivery, EnqueueOptions, FinishedCounts, QueueBackend, RemoveWaitingResult, TakenJob,
} from '../backend.js';
import type { JobEnvelope } from '../job.js';
import { DEFAULT_BACKEND, DEFAULT_BULLMQ, MAX_PRIORITY, resolveBullMQBackendOptions } from '../options.js';
import type { JobTracker } from '../tracker.js';
import { BullMQQueueTracker, BullMQTrackerShared, completedMark, engineJobId } from '../trackers/bullmq-tracker.js';
import { RedisJobTracker } from '../trackers/redis-tracker.js';

/** @defaultValue */
export const DEFAULT_BULLMQ_PREFIX = DEFAULT_BULLMQ.prefix;
/** A job whose worker stops renewing its lock for this long is handed to another worker. */
export const DEFAULT_VISIBILITY_TIMEOUT_MS = DEFAULT_BACKEND.visibilityTimeoutMs;
/** How often the engine may hand one job again after its worker died before giving up on it. */
export const DEFAULT_MAX_REDELIVERIES = DEFAULT_BACKEND.maxRedeliveries;

export interface BullMQBackendOptions {
  /** @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379` */
  url?: string;
  redisOptions?: RedisOptions;
  /** Prefix of every key, for BullMQ's keys and the tracker's. @defaultValue {@link DEFAULT_BULLMQ_PREFIX} */
  prefix?: string;
  /** @defaultValue {@link DEFAULT_VISIBILITY_TIMEOUT_MS} */
  visibilityTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_MAX_REDELIVERIES} */
  maxRedeliveries?: number;
  /**
   * A tracker to use instead of BullMQ's own records (then every job's record and
   * events are written to it besides BullMQ's job, four scripts per job instead of two).
   */
  tracker?: JobTracker;
  /** How long a finished job stays readable (its record, BullMQ's completed job). @defaultValue 24 h */
  recordTtlMs?: number;
  /**
   * Entries kept in each queue's BullMQ events stream, where the jobs' events are
   * (`streams.events.maxLen`); a reader resuming after an older event gets the job's
   * end made from its state, not the events in between. @defaultValue {@link DEFAULT_BULLMQ_EVENTS_MAX_LEN}
   */
  eventsMaxLen?: number;
}

/** @defaultValue */
export const DEFAULT_BULLMQ_EVENTS_MAX_LEN = DEFAULT_BULLMQ.eventsMaxLen;

function added(): boolean {
  return true;
}

/** Queues in Redis through BullMQ (the `redis` profile). */
export class BullMQBackend implements QueueBackend {
  readonly name = 'bullmq';
  readonly capabilities: BackendCapabilities = { rateLimit: 'queue', atomicDedupe: true, transactionalAdd: false };
  readonly tracker: JobTracker;
  readonly #connection: Redis;
  readonly #prefix: string;
  readonly #visibilityTimeoutMs: number;
  readonly #maxRedeliveries: number;
  readonly #queues = new Map<string, BullQueue>();
  readonly #workers = new Set<BullWorker>();
  readonly #ownsTracker: boolean;
  /** Set when the jobs' records are BullMQ's own (no tracker given). */
  readonly #native: BullMQTrackerShared | undefined;
  readonly #queueTrackers = new Map<string, BullMQQueueTracker>();
  readonly #recordTtlMs: number;
  readonly #eventsMaxLen: number;

  constructor(options: BullMQBackendOptions = {}) {
    const { url, prefix, visibilityTimeoutMs, maxRedeliveries, recordTtlMs, eventsMaxLen } = resolveBullMQBackendOptions(options);
    this.#prefix = prefix;
    this.#visibilityTimeoutMs = visibilityTimeoutMs;
    this.#maxRedeliveries = maxRedeliveries;
    // BullMQ requires connections that retry forever; that is also what lets workers
    // resume by themselves after Redis comes back.
    this.#connection = new Redis(url, {
      ...options.redisOptions, maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(50 * n, 1_000),
    });
    this.#connection.on('error', () => { /* reconnects by itself */ });
    this.#ownsTracker = options.tracker === undefined;
    this.#recordTtlMs = recordTtlMs;
    this.#eventsMaxLen = eventsMaxLen;
    const base = new RedisJobTracker({
      url, keyPrefix: `${this.#prefix}:t:`, recordTtlMs: this.#recordTtlMs,
      ...(options.redisOptions !== undefined ? { redisOptions: options.redisOptions } : {}),
    });
    this.tracker = options.tracker ?? base;
    if (options.tracker === undefined) {
      this.#native = new BullMQTrackerShared({
        url, base, bullPrefix: this.#prefix, recordPrefix: `${this.#prefix}:t:`, ttlMs: this.#recordTtlMs,
        redisOptions: { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(50 * n, 1_000), enableAutoPipelining: true, ...options.redisOptions },
      });
    } else {
      void base.close();
    }
  }

  /**
   * The tracker of one queue: without a `tracker` option, one that reads BullMQ's own
   * job hash and events stream and writes a record only for a job that leaves the
   * fast path (see {@link BullMQQueueTracker}); otherwise the given one.
   */
  trackerOf(queue: string): JobTracker {
    if (this.#native === undefined) return this.tracker;
    let t = this.#queueTrackers.get(queue);
    if (t === undefined) this.#queueTrackers.set(queue, t = new BullMQQueueTracker(this.#native, queue));
    return t;
  }

  #queue(name: string): BullQueue {
    let q = this.#queues.get(name);
    if (q === undefined) {
      q = new BullQueue(name, {
        connection: this.#connection, prefix: this.#prefix, streams: { events: { maxLen: this.#eventsMaxLen } },
        // What every job of the queue gets: BullMQ merges these into each add's options
        // (so each job's stored options are the same as when given per add), and the add
        // builds only what differs per job.
        defaultJobOptions: {
          // Engine-level attempts only cover failures of the engine or tracker themselves.
          attempts: this.#maxRedeliveries,
          backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
          // BullMQ's completed job is the job's record (see trackerOf): kept as long as one.
          removeOnComplete: { age: Math.ceil((this.#native !== undefined ? this.#recordTtlMs : 3_600_000) / 1_000) },
          removeOnFail: { age: 7 * 24 * 3_600 },
        },
      });
      q.on('error', () => { /* the connection reconnects by itself */ });
      this.#queues.set(name, q);
    }
    return q;
  }

  async depth(queue: string): Promise<number> {
    return this.#queue(queue).getJobCountByTypes('waiting', 'prioritized');
  }

  async finishedCounts(queue: string): Promise<FinishedCounts> {
    const counts = await this.#queue(queue).getJobCounts('completed', 'failed');
    return { completed: counts.completed ?? 0, failed: counts.failed ?? 0 };
  }

  async prepare(queue: string): Promise<void> {
    await this.#queue(queue).waitUntilReady();
  }

  enqueue(queue: string, envelope: JobEnvelope, options: EnqueueOptions): Promise<boolean> {
    // Only a keyed id can repeat (others are random); BullMQ's add ignores a known id
    // silently, so ask first to report the duplicate.
    if (options.first && envelope.key !== undefined) return this.#enqueueKeyed(queue, envelope, options);
    try {
      return this.#add(queue, envelope, options).then(added);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async #enqueueKeyed(queue: string, envelope: JobEnvelope, options: EnqueueOptions): Promise<boolean> {
    if (await this.#queue(queue).getJob(envelope.id) !== undefined) return false;
    await this.#add(queue, envelope, options);
    return true;
  }

  #add(queue: string, envelope: JobEnvelope, options: EnqueueOptions): Promise<unknown> {
    // The job id dedupes the first enqueue; retries and redrives are new engine jobs
    // of the same scaleout job.
    const jobId = options.first ? envelope.id : engineJobId(envelope.id, envelope.attempt, randomUUID());
    // BullMQ: 1 runs first; scaleout: higher runs first. The rest is the queue's defaultJobOptions.
    const priority = 1 + MAX_PRIORITY - envelope.priority;
    return this.#queue(queue).add(envelope.name, envelope, options.delayMs > 0 ? { jobId, priority, delay: options.delayMs } : { jobId, priority });
  }

  consume(queue: string, options: ConsumeOptions, handle: (raw: unknown, delivery: Delivery) => Promise<AckRecord | void>): BackendConsumer {
    const native = this.#native !== undefined;
    if (native) void (this.trackerOf(queue) as BullMQQueueTracker).listenForCancels().catch(() => undefined);
    const worker = new BullWorker(queue, async (job) => {
      const data = job.data as { id?: unknown } | null;
      // The first enqueue's engine id is the job's id (retries and redrives get others);
      // a stalled job handed again has been started before.
      const first = typeof data === 'object' && data !== null && job.id === data.id && job.attemptsStarted <= 1 && !(job.stalledCounter > 0);
      // A first delivery's end goes in BullMQ's acknowledgement (its returnvalue and
      // `completed` event), nothing written before it.
      const end = await handle(job.data, { first, recordsOnAck: native && first });
      return end?.event.type === 'completed' ? completedMark(end.patch.result) : undefined;
    }, {
      connection: this.#connection,
      prefix: this.#prefix,
      concurrency: options.concurrency,
      lockDuration: this.#visibilityTimeoutMs,
      stalledInterval: Math.max(250, Math.floor(this.#visibilityTimeoutMs / 2)),
      maxStalledCount: this.#maxRedeliveries,
      ...(options.rateLimit !== undefined ? { limiter: { max: options.rateLimit.max, duration: options.rateLimit.intervalMs } } : {}),
    });
    worker.on('error', () => { /* the connection reconnects by itself */ });
    this.#workers.add(worker);
    return {
      pause: async () => { await worker.pause(true); },
      close: async () => {
        this.#workers.delete(worker);
        await worker.close();
      },
    };
  }

  async removeWaiting(queue: string, jobId: string): Promise<RemoveWaitingResult> {
    const job = await this.#queue(queue).getJob(jobId);
    if (job === undefined) return 'unknown';
    // BullMQ refuses to remove a job whose lock a worker holds, in the same script.
    if (await job.isActive()) return 'running';
    try {
      await job.remove();
      return 'removed';
    } catch (err) {
      // Taken by a worker since the look above; anything else is the caller's error.
      if (err instanceof Error && err.message.includes('locked')) return 'running';
      throw err;
    }
  }

  async take(queue: string, max: number): Promise<TakenJob[]> {
    const jobs = await this.#queue(queue).getJobs(['waiting', 'prioritized', 'delayed'], 0, max - 1);
    return jobs.filter((j) => j !== undefined).map((job) => ({
      envelope: job.data as unknown,
      ack: async () => { await job.remove(); },
    }));
  }

  #closed = false;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#workers].map((w) => w.close(true)));
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    this.#queues.clear();
    for (const t of this.#queueTrackers.values()) await t.close();
    this.#queueTrackers.clear();
    await this.#native?.close();
    if (this.#ownsTracker) await this.tracker.close();
    await this.#connection.quit().catch(() => { this.#connection.disconnect(); });
  }
}
