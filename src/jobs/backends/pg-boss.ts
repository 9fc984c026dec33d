import { setTimeout as delay } from 'node:timers/promises';
import PgBoss from 'pg-boss';
import type {
  AckRecord, BackendCapabilities, BackendConsumer, ConsumeOptions, Delivery, EnqueueOptions, FinishedCounts, QueueBackend, RemoveWaitingResult, TakenJob,
} from '../backend.js';
import type { JobEnvelope } from '../job.js';
import { DEFAULT_PG_BOSS, resolvePgBossBackendOptions } from '../options.js';
import { LocalRateLimiter } from '../rate-limiter.js';
import type { JobTracker } from '../tracker.js';
import { PostgresJobTracker } from '../trackers/postgres-tracker.js';
import { PreparedSql } from '../prepared-sql.js';

/** @defaultValue */
export const DEFAULT_PG_BOSS_SCHEMA = DEFAULT_PG_BOSS.schema;
/** How often an idle consumer asks for jobs. */
export const DEFAULT_POLL_INTERVAL_MS = DEFAULT_PG_BOSS.pollIntervalMs;

export interface PgBossBackendOptions {
  /** @defaultValue `process.env.DATABASE_URL`, else `postgres://127.0.0.1:5432/postgres` */
  connectionString?: string;
  /** pg-boss's schema; the tracker's tables go to `<schema>_t`. @defaultValue {@link DEFAULT_PG_BOSS_SCHEMA} */
  schema?: string;
  /** A job whose worker died is handed again after this long (rounded up to seconds). */
  visibilityTimeoutMs?: number;
  maxRedeliveries?: number;
  pollIntervalMs?: number;
  /**
   * Run repeated statements as named prepared statements (see {@link PreparedSql}).
   * Turn off behind a connection pooler in transaction mode that does not keep them
   * (PgBouncer before 1.21); one that refuses a name turns it off by itself. @defaultValue true
   */
  preparedStatements?: boolean;
  tracker?: JobTracker;
}

/**
 * Queues in PostgreSQL through pg-boss (the `postgres` profile). A job can be enqueued
 * in the caller's transaction (`add(..., { db: client })`), together with its record,
 * so it exists exactly when the transaction commits.
 */
export class PgBossBackend implements QueueBackend {
  readonly name = 'pg-boss';
  readonly capabilities: BackendCapabilities = { rateLimit: 'worker', atomicDedupe: true, transactionalAdd: true };
  readonly tracker: JobTracker;
  readonly enqueueWithRecord?: QueueBackend['enqueueWithRecord'];
  readonly recordsOnAck: boolean;
  readonly #ackWithRecord: ((queue: string, jobId: string, end: AckRecord) => Promise<unknown>) | undefined;
  readonly #schema: string;
  readonly #boss: PgBoss;
  /** pg-boss's connections: its statements and the backend's own. */
  readonly #sql: PreparedSql;
  readonly #ownsTracker: boolean;
  readonly #visibilitySeconds: number;
  readonly #maxRedeliveries: number;
  readonly #pollIntervalMs: number;
  readonly #consumers = new Set<{ stop(): void; done: Promise<void> }>();
  #started: Promise<unknown> | undefined;

  constructor(options: PgBossBackendOptions = {}) {
    const { connectionString, schema, visibilityTimeoutMs, maxRedeliveries, pollIntervalMs, preparedStatements } = resolvePgBossBackendOptions(options);
    this.#schema = schema;
    this.#visibilitySeconds = Math.max(1, Math.ceil(visibilityTimeoutMs / 1_000));
    this.#maxRedeliveries = maxRedeliveries;
    this.#pollIntervalMs = pollIntervalMs;
    this.#sql = new PreparedSql({ connectionString, prepare: preparedStatements, applicationName: 'pgboss' });
    this.#boss = new PgBoss({
      db: this.#sql, schema, schedule: false,
      // Expired jobs (their worker died) are only handed again by maintenance.
      maintenanceIntervalSeconds: Math.max(1, Math.floor(this.#visibilitySeconds / 2)),
    });
    this.#boss.on('error', () => { /* pg-boss retries maintenance by itself */ });
    this.#ownsTracker = options.tracker === undefined;
    const tracker = options.tracker ?? new PostgresJobTracker({ connectionString, schema: `${schema}_t`, preparedStatements });
    this.tracker = tracker;
    if (tracker instanceof PostgresJobTracker && options.tracker === undefined) {
      // Its tables are in the same database as pg-boss's: the job and its record go in one statement.
      this.enqueueWithRecord = async (queue, envelope, enqueue, info) => {
        const db = enqueue.db;
        const run = db !== undefined
          ? (text: string, values: unknown[]) => db.query(text, values)
          : (text: string, values: unknown[]) => this.#sql.executeSql(text, values);
        return this.#send(queue, envelope, enqueue, { executeSql: (text: string, values: unknown[]) => tracker.createAlong(text, values, info, run) });
      };
      // The job's end and pg-boss's completion in one statement: one commit, and no
      // window where the end is recorded but the job not yet acknowledged.
      const run = (text: string, values: unknown[]) => this.#sql.executeSql(text, values);
      this.#ackWithRecord = (queue, jobId, end) => this.#boss.complete(queue, jobId, undefined as unknown as object, {
        db: { executeSql: (text: string, values: unknown[]) => tracker.recordAlong(text, values, end.jobId, end.patch, end.event, run, end.active) },
      } as PgBoss.ConnectionOptions);
    }
    this.recordsOnAck = this.#ackWithRecord !== undefined;
  }

  #start(): Promise<unknown> {
    this.#started ??= this.#boss.start();
    this.#started.catch(() => { this.#started = undefined; });
    return this.#started;
  }

  async depth(queue: string): Promise<number> {
    await this.#start();
    // Before the active state and due: pg-boss's getQueueSize would count delayed jobs too.
    const result = await this.#sql.executeSql(
      `SELECT count(*)::int AS n FROM ${this.#schema}.job WHERE name = $1 AND state < 'active' AND start_after <= now()`, [queue]) as { rows: Array<{ n: number }> };
    return result.rows[0]?.n ?? 0;
  }

  async finishedCounts(queue: string): Promise<FinishedCounts> {
    await this.#start();
    const result = await this.#sql.executeSql(
      `SELECT count(*) FILTER (WHERE state = 'completed')::int AS completed, count(*) FILTER (WHERE state = 'failed')::int AS failed FROM ${this.#schema}.job WHERE name = $1`, [queue]) as { rows: Array<{ completed: number; failed: number }> };
    return { completed: result.rows[0]?.completed ?? 0, failed: result.rows[0]?.failed ?? 0 };
  }

  async prepare(queue: string): Promise<void> {
    await this.#start();
    await this.#boss.createQueue(queue, { name: queue, retryLimit: this.#maxRedeliveries, retryDelay: 1, retryBackoff: true, expireInSeconds: this.#visibilitySeconds });
  }

  async enqueue(queue: string, envelope: JobEnvelope, options: EnqueueOptions): Promise<boolean> {
    const db = options.db;
    return this.#send(queue, envelope, options,
      db !== undefined ? { executeSql: (text: string, values: unknown[]) => db.query(text, values) } : undefined);
  }

  async #send(queue: string, envelope: JobEnvelope, options: EnqueueOptions, db: { executeSql(text: string, values: unknown[]): Promise<{ rows: unknown[] }> } | undefined): Promise<boolean> {
    await this.#start();
    const id = await this.#boss.send(queue, envelope as unknown as object, {
      ...(options.first ? { id: envelope.id } : {}),
      priority: envelope.priority,
      // Seconds relative to the database's clock, not this host's.
      ...(options.delayMs > 0 ? { startAfter: options.delayMs / 1_000 } : {}),
      ...(db !== undefined ? { db } : {}),
    } as PgBoss.SendOptions);
    return id !== null;
  }

  consume(queue: string, options: ConsumeOptions, handle: (raw: unknown, delivery: Delivery) => Promise<AckRecord | void>): BackendConsumer {
    const limiter = options.rateLimit === undefined ? undefined : new LocalRateLimiter(options.rateLimit.max, options.rateLimit.intervalMs);
    const stopper = new AbortController();
    const running = new Set<Promise<void>>();
    let slotFreed: (() => void) | undefined;
    const loop = async (): Promise<void> => {
      while (!stopper.signal.aborted) {
        try {
          await this.#start();
          break;
        } catch {
          await delay(this.#pollIntervalMs, undefined, { signal: stopper.signal }).catch(() => undefined);
        }
      }
      while (!stopper.signal.aborted) {
        const free = options.concurrency - running.size;
        if (free <= 0) {
          await new Promise<void>((resolve) => { slotFreed = resolve; });
          continue;
        }
        let jobs: PgBoss.Job<unknown>[] = [];
        try {
          if (limiter !== undefined) await limiter.take(stopper.signal);
          if (stopper.signal.aborted) break;
          // With its metadata: retryCount tells a first hand-over from a later one.
          jobs = await this.#boss.fetch(queue, { batchSize: limiter === undefined ? free : 1, includeMetadata: true }) ?? [];
        } catch {
          // The database is away or we are stopping; ask again after a pause.
        }
        for (const job of jobs) {
          const run = handle(job.data, isFirst(job) ? FIRST : LATER).then(
            (end) => (end !== undefined && this.#ackWithRecord !== undefined ? this.#ackWithRecord(queue, job.id, end) : this.#boss.complete(queue, job.id)),
            (err: unknown) => this.#boss.fail(queue, job.id, { message: err instanceof Error ? err.message : String(err) }),
          ).then(() => undefined, () => undefined);
          running.add(run);
          void run.finally(() => { running.delete(run); slotFreed?.(); });
        }
        if (jobs.length === 0 && !stopper.signal.aborted) {
          await delay(this.#pollIntervalMs, undefined, { signal: stopper.signal }).catch(() => undefined);
        }
      }
    };
    const consumer = {
      stop: () => { stopper.abort(); slotFreed?.(); },
      done: loop(),
    };
    this.#consumers.add(consumer);
    return {
      pause: async () => { consumer.stop(); await consumer.done; },
      close: async () => {
        consumer.stop();
        await consumer.done;
        await Promise.allSettled([...running]);
        this.#consumers.delete(consumer);
      },
    };
  }

  async removeWaiting(queue: string, jobId: string): Promise<RemoveWaitingResult> {
    // Not an id of a first enqueue (those are UUIDs), so not in pg-boss under it.
    if (!UUID.test(jobId)) return 'unknown';
    await this.#start();
    // One statement: cancelled in pg-boss only while no worker has taken it (a fetch
    // that holds the row's lock makes this wait, then find it active). `before` is the
    // state as the statement began: waiting there but not cancelled here means a
    // worker took it meanwhile.
    const result = await this.#sql.executeSql(`
      WITH gone AS (
        UPDATE ${this.#schema}.job SET state = 'cancelled', completed_on = now()
        WHERE name = $1 AND id = $2::uuid AND state < 'active' RETURNING 1)
      SELECT (SELECT count(*) FROM gone)::int AS removed,
        (SELECT state::text FROM ${this.#schema}.job WHERE name = $1 AND id = $2::uuid) AS before`, [queue, jobId]) as { rows: Array<{ removed: number; before: string | null }> };
    const row = result.rows[0];
    if (row !== undefined && row.removed > 0) return 'removed';
    return row?.before === 'created' || row?.before === 'retry' || row?.before === 'active' ? 'running' : 'unknown';
  }

  async take(queue: string, max: number): Promise<TakenJob[]> {
    await this.#start();
    const jobs = await this.#boss.fetch(queue, { batchSize: max }) ?? [];
    return jobs.map((job) => ({ envelope: job.data, ack: async () => { await this.#boss.complete(queue, job.id); } }));
  }

  #closed = false;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#consumers) c.stop();
    await Promise.allSettled([...this.#consumers].map((c) => c.done));
    if (this.#started !== undefined) await this.#boss.stop({ graceful: false, wait: true, timeout: 1_000 }).catch(() => undefined);
    await this.#sql.close();
    if (this.#ownsTracker) await this.tracker.close();
  }
}

const FIRST: Delivery = Object.freeze({ first: true });
const LATER: Delivery = Object.freeze({ first: false });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * pg-boss's first hand-over of a job's first enqueue: its id is the job's (retries and
 * redrives are other pg-boss jobs), and pg-boss has not started it before (a job whose
 * worker died, or that failed, is handed again with a retry count above 0).
 */
function isFirst(job: PgBoss.Job<unknown>): boolean {
  const data = job.data as { id?: unknown } | null;
  return (job as { retryCount?: number }).retryCount === 0 && typeof data === 'object' && data !== null && data.id === job.id;
}
