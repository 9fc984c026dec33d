import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { createSchemaUnderLock } from '../../internal/store-connections.js';
import { PreparedSql } from '../prepared-sql.js';
import { DEFAULT_POSTGRES_TRACKER, resolvePostgresTrackerOptions } from '../options.js';
import { TERMINAL_EVENTS } from '../job.js';
import type { JobEvent, JobEventType, JobInfo, JobState } from '../job.js';
import type { EventsOptions, JobRecordPatch, JobTracker, SqlExecutor } from '../tracker.js';

/** @defaultValue */
export const DEFAULT_POSTGRES_JOBS_SCHEMA = DEFAULT_POSTGRES_TRACKER.schema;
/** How often a tracker deletes records, events and idempotency records older than their TTL (0 = never). */
export const DEFAULT_POSTGRES_PRUNE_INTERVAL_MS = DEFAULT_POSTGRES_TRACKER.pruneIntervalMs;
/** Connections of a tracker's pool; a worker with high concurrency may want more. */
export const DEFAULT_POSTGRES_POOL_SIZE = DEFAULT_POSTGRES_TRACKER.poolSize;
/** How long an events reader waits for a notification before it looks at the table anyway. */
export const DEFAULT_EVENTS_POLL_MS = 1_000;
/**
 * Least time between two NOTIFY statements of a tracker. A lone event is announced at
 * once; under load, the events of this window share one statement (each is a commit
 * that waits for a WAL flush, and a socket write on both sides).
 */
export const NOTIFY_GAP_MS = 5;

export interface PostgresJobTrackerOptions {
  /** @defaultValue `process.env.DATABASE_URL`, else `postgres://127.0.0.1:5432/postgres` */
  connectionString?: string;
  /** @defaultValue {@link DEFAULT_POSTGRES_JOBS_SCHEMA} */
  schema?: string;
  /** @defaultValue {@link DEFAULT_EVENTS_KEPT} */
  eventsKept?: number;
  poolSize?: number;
  /** How long a finished job's record, its events and idempotency records stay. @defaultValue {@link DEFAULT_RECORD_TTL_MS} */
  recordTtlMs?: number;
  /** @defaultValue {@link DEFAULT_POSTGRES_PRUNE_INTERVAL_MS} */
  pruneIntervalMs?: number;
  /** Run its statements as named prepared statements (see {@link PreparedSql}). @defaultValue true */
  preparedStatements?: boolean;
}

/**
 * Job records in PostgreSQL: a row per job, a table of events whose sequence number is
 * the event id, and a NOTIFY per event so that readers in other processes wake up at
 * once (they read the table, so a notification lost during a reconnect loses nothing).
 */
export class PostgresJobTracker implements JobTracker {
  readonly name = 'postgres';
  readonly #sql: PreparedSql;
  readonly #connectionString: string;
  readonly #schema: string;
  readonly #channel: string;
  readonly #toNotify = new Set<string>();
  #notifying: Promise<void> = Promise.resolve();
  /** Cancels the NOTIFY waiting for its turn (see #notify); undefined when none is. */
  #cancelNotify: (() => void) | undefined;
  #notifiedAt = -Infinity;
  readonly #eventsKept: number;
  readonly #readers = new Set<pg.Client>();
  #ready: Promise<void> | undefined;
  readonly #ttlMs: number;
  /**
   * Statements built around a queue engine's own (its insert, its acknowledgement),
   * by that statement and variant: the engine's texts are constant, so each combined
   * text is built once, and stays the same string (a prepared statement's key).
   */
  readonly #combined = new Map<string, Map<string, string | null>>();
  readonly #pruneTimer: NodeJS.Timeout | undefined = undefined;

  constructor(options: PostgresJobTrackerOptions = {}) {
    const resolved = resolvePostgresTrackerOptions(options);
    this.#schema = resolved.schema;
    this.#eventsKept = resolved.eventsKept;
    this.#connectionString = resolved.connectionString;
    this.#channel = `scaleout_jobs_${createHash('sha256').update(this.#schema).digest('hex').slice(0, 16)}`;
    this.#sql = new PreparedSql({ connectionString: this.#connectionString, max: resolved.poolSize, prepare: resolved.preparedStatements });
    this.#ttlMs = resolved.recordTtlMs;
    const pruneMs = resolved.pruneIntervalMs;
    if (pruneMs > 0) {
      // Every process prunes; the deletes are idempotent and cheap when there is nothing to do.
      this.#pruneTimer = setInterval(() => { this.prune().catch(() => undefined); }, pruneMs);
      this.#pruneTimer.unref();
    }
  }

  /** The channel of its NOTIFY: the payload is the id of a job with a new event. */
  get channel(): string {
    return this.#channel;
  }

  /**
   * Deletes what is older than the TTL: records of finished jobs, events, idempotency
   * records. Records of jobs still waiting or running stay. Returns how many rows went.
   */
  async prune(): Promise<number> {
    const s = this.#schema;
    const { rows } = await this.#query(`
      WITH r AS (DELETE FROM ${s}.job_record WHERE state IN ('completed', 'dead', 'cancelled')
                   AND updated_at < now() - $1 * interval '1 millisecond' RETURNING 1),
           e AS (DELETE FROM ${s}.job_event WHERE at_ms < $2 RETURNING 1),
           o AS (DELETE FROM ${s}.job_once WHERE at < now() - $1 * interval '1 millisecond' RETURNING 1)
      SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM e) + (SELECT count(*) FROM o) AS n`,
    [this.#ttlMs, Date.now() - this.#ttlMs]);
    return Number((rows[0] as { n: string }).n);
  }

  /** Creates the tables (once per process; concurrent processes serialise on a lock). */
  ready(): Promise<void> {
    const s = this.#schema;
    // One multi-statement string: the simple query protocol runs it in one round trip.
    this.#ready ??= createSchemaUnderLock(this.#sql.pool, `scaleout_jobs:${s}`, [`
        CREATE SCHEMA IF NOT EXISTS ${s};
        CREATE TABLE IF NOT EXISTS ${s}.job_record (
          id text PRIMARY KEY, queue text, name text, state text NOT NULL, attempt int NOT NULL DEFAULT 1,
          progress jsonb, result jsonb, error text, cancel boolean NOT NULL DEFAULT false,
          updated_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE IF NOT EXISTS ${s}.job_event (
          seq bigserial PRIMARY KEY, job_id text NOT NULL, type text NOT NULL, data jsonb, at_ms bigint NOT NULL);
        CREATE INDEX IF NOT EXISTS job_event_job ON ${s}.job_event (job_id, seq);
        CREATE TABLE IF NOT EXISTS ${s}.job_once (key text PRIMARY KEY, result jsonb, at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE IF NOT EXISTS ${s}.job_lease (name text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL);
        CREATE TABLE IF NOT EXISTS ${s}.job_mark (name text PRIMARY KEY, value bigint NOT NULL);`]);
    this.#ready.catch(() => { this.#ready = undefined; });
    return this.#ready;
  }

  async #query(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
    await this.ready();
    return this.#sql.executeSql(text, values);
  }

  async create(info: { id: string; queue: string; name: string }, db?: SqlExecutor): Promise<boolean> {
    await this.ready();
    const sql = `INSERT INTO ${this.#schema}.job_record AS r (id, queue, name, state) VALUES ($1, $2, $3, 'waiting')
      ON CONFLICT (id) DO UPDATE SET queue = coalesce(r.queue, excluded.queue), name = coalesce(r.name, excluded.name)
      RETURNING (xmax = 0) AS inserted`;
    const values = [info.id, info.queue, info.name];
    const { rows } = await (db !== undefined ? db.query(sql, values) : this.#sql.executeSql(sql, values));
    return (rows[0] as { inserted: boolean } | undefined)?.inserted === true;
  }

  /**
   * Runs `insert` (one `INSERT ... RETURNING id` statement of a queue engine, with
   * `values`) and, in the same statement, creates the record of the job it inserted:
   * one round trip and one commit for both, and no record for a duplicate the engine
   * refused. Returns the rows of `insert`.
   */
  async createAlong(
    insert: string, values: unknown[], info: { queue: string; name: string },
    run: (text: string, values: unknown[]) => Promise<{ rows: unknown[] }>,
  ): Promise<{ rows: unknown[] }> {
    await this.ready();
    const n = values.length;
    const text = this.#combine(`create|${n}|`, insert, () => (/^\s*INSERT\b[\s\S]*\bRETURNING\s+id\s*$/i.test(insert)
      ? `WITH ins AS (${insert}),
      rec AS (INSERT INTO ${this.#schema}.job_record AS r (id, queue, name, state) SELECT id::text, $${n + 1}, $${n + 2}, 'waiting' FROM ins
        ON CONFLICT (id) DO UPDATE SET queue = coalesce(r.queue, excluded.queue), name = coalesce(r.name, excluded.name))
      SELECT id FROM ins`
      : null));
    if (text === null) {
      // Not the shape this wraps: two statements.
      const result = await run(insert, values);
      const row = result.rows[0] as { id: string } | undefined;
      if (row !== undefined) await this.create({ id: String(row.id), ...info });
      return result;
    }
    return run(text, [...values, info.queue, info.name]);
  }

  /** The combined text of `variant` around `statement`, built once (null: it cannot be combined). */
  #combine(variant: string, statement: string, build: () => string | null): string | null {
    // By variant, then by the engine's own string: a string keeps its hash, so the long key costs nothing after the first time.
    let texts = this.#combined.get(variant);
    if (texts === undefined) this.#combined.set(variant, texts = new Map());
    let text = texts.get(statement);
    if (text === undefined) {
      text = build();
      // Bounded: an engine whose texts were not constant gets no memory, only the work.
      if (texts.size < 64) texts.set(statement, text);
    }
    return text;
  }

  async record(jobId: string, patch: JobRecordPatch, event?: { type: JobEventType; data?: unknown }): Promise<void> {
    await this.#query(`WITH ${this.#recordSteps(1)} SELECT 1`, this.#recordValues(jobId, patch, event));
    if (event !== undefined) this.#notify(jobId);
  }

  /**
   * Wakes the readers of `jobId`'s events, after the event is committed. A NOTIFY
   * inside the writing transaction would hold PostgreSQL's global notify lock through
   * that commit's WAL flush, so every job's commits would queue behind each other.
   * Sent afterwards, each NOTIFY is still a commit of its own, so a tracker sends at
   * most one per {@link NOTIFY_GAP_MS}: the first event at the end of its tick, the
   * ones after it together. One lost (a crash in between) costs a reader its poll
   * interval, never an event.
   */
  #notify(jobId: string): void {
    this.#toNotify.add(jobId);
    if (this.#cancelNotify !== undefined) return;
    const wait = this.#notifiedAt + NOTIFY_GAP_MS - performance.now();
    if (wait > 0) {
      const timer = setTimeout(() => this.#sendNotify(), wait);
      this.#cancelNotify = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.#sendNotify());
      this.#cancelNotify = () => clearImmediate(immediate);
    }
  }

  #sendNotify(): void {
    this.#cancelNotify = undefined;
    this.#notifiedAt = performance.now();
    const ids = [...this.#toNotify];
    this.#toNotify.clear();
    this.#notifying = this.#sql.executeSql('SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id', [this.#channel, ids])
      .then(() => undefined, () => undefined);
  }

  /**
   * Runs `statement` (one `WITH ...` statement of a queue engine, e.g. its
   * acknowledgement, with `values`) and, in the same statement and commit, writes the
   * job's record and event as {@link record} does. With `active` (an attempt), the
   * job's `active` event goes first, in the same statement: a job that ended before
   * its `active` step was sent gets both events in order and one commit.
   * Returns the rows of `statement`.
   */
  async recordAlong(
    statement: string, values: unknown[], jobId: string, patch: JobRecordPatch, event: { type: JobEventType; data?: unknown },
    run: (text: string, values: unknown[]) => Promise<{ rows: unknown[] }>, active?: number,
  ): Promise<{ rows: unknown[] }> {
    await this.ready();
    const first = values.length + 1;
    const text = this.#combine(`record|${first}|${active !== undefined}|`, statement, () => {
      const head = /^\s*WITH\s+/i.exec(statement);
      return head === null ? null : `WITH ${this.#recordSteps(first, active !== undefined)}, ${statement.slice(head[0].length)}`;
    });
    if (text === null) {
      // Not the shape this joins: the record first, then the statement.
      if (active !== undefined) await this.#query(`WITH ${this.#recordSteps(1, true)} SELECT 1`, this.#recordValues(jobId, patch, event, active));
      else await this.record(jobId, patch, event);
      return run(statement, values);
    }
    const result = await run(text, [...values, ...this.#recordValues(jobId, patch, event, active)]);
    this.#notify(jobId);
    return result;
  }

  /**
   * The record's steps as data-modifying CTEs (run whether or not the rest of the
   * statement reads them), with parameters from `$first` on (see #recordValues); with
   * `active`, an `active` event is inserted before the event (one INSERT, rows in order,
   * so their sequence numbers are too).
   */
  #recordSteps(first: number, active = false): string {
    const s = this.#schema;
    const p = (n: number): string => `$${first + n - 1}`;
    const events = active
      ? `INSERT INTO ${s}.job_event (job_id, type, data, at_ms) SELECT ${p(1)}, e.type, e.data, ${p(9)}
          FROM (VALUES (1, 'active', ${p(11)}::jsonb), (2, ${p(7)}::text, ${p(8)}::jsonb)) AS e(o, type, data)
          WHERE e.type IS NOT NULL ORDER BY e.o`
      : `INSERT INTO ${s}.job_event (job_id, type, data, at_ms) SELECT ${p(1)}, ${p(7)}, ${p(8)}::jsonb, ${p(9)} WHERE ${p(7)}::text IS NOT NULL`;
    return `
      rec_up AS (
        INSERT INTO ${s}.job_record AS r (id, state, attempt, progress, result, error)
        VALUES (${p(1)}, coalesce(${p(2)}, 'waiting'), coalesce(${p(3)}::int, 1), ${p(4)}::jsonb, ${p(5)}::jsonb, ${p(6)})
        ON CONFLICT (id) DO UPDATE SET state = coalesce(${p(2)}, r.state), attempt = coalesce(${p(3)}::int, r.attempt),
          progress = coalesce(${p(4)}::jsonb, r.progress), result = coalesce(${p(5)}::jsonb, r.result), error = coalesce(${p(6)}, r.error), updated_at = now()
        RETURNING 1),
      rec_ev AS (
        ${events}
        RETURNING seq),
      rec_trim AS (
        DELETE FROM ${s}.job_event WHERE job_id = ${p(1)} AND ${p(7)}::text IS NOT NULL AND seq <= (
          SELECT seq FROM ${s}.job_event WHERE job_id = ${p(1)} ORDER BY seq DESC OFFSET ${p(10)} LIMIT 1)
        RETURNING 1)`;
  }

  #recordValues(jobId: string, patch: JobRecordPatch, event?: { type: JobEventType; data?: unknown }, active?: number): unknown[] {
    const values = [jobId, patch.state ?? null, patch.attempt ?? null, json(patch.progress), json(patch.result), patch.error ?? null,
      event?.type ?? null, json(event?.data), Date.now(), this.#eventsKept - 1];
    if (active === undefined) return values;
    // Two new events: keep the same number of earlier ones fewer.
    values[9] = Math.max(0, this.#eventsKept - 2);
    values.push(JSON.stringify({ attempt: active }));
    return values;
  }

  async get(jobId: string): Promise<JobInfo | undefined> {
    const { rows } = await this.#query(`SELECT * FROM ${this.#schema}.job_record WHERE id = $1`, [jobId]);
    const r = rows[0] as {
      queue: string | null; name: string | null; state: JobState; attempt: number; progress: unknown; result: unknown;
      error: string | null; cancel: boolean;
    } | undefined;
    if (r === undefined) return undefined;
    return {
      id: jobId, queue: r.queue ?? '', name: r.name ?? '', state: r.state, attempt: r.attempt, cancelRequested: r.cancel,
      ...(r.progress !== null ? { progress: r.progress } : {}),
      ...(r.result !== null ? { result: r.result } : {}),
      ...(r.error !== null ? { error: r.error } : {}),
    };
  }

  async begin(jobId: string, attempt: number): Promise<{ state: JobState; cancelRequested: boolean } | undefined> {
    const s = this.#schema;
    // One statement: read the row as it was, and mark it active unless the job is over
    // or its cancellation was requested.
    const { rows } = await this.#query(`
      WITH before AS (SELECT state, cancel FROM ${s}.job_record WHERE id = $1),
      go AS (SELECT NOT EXISTS (SELECT 1 FROM before WHERE state IN ('completed', 'cancelled') OR cancel) AS ok),
      up AS (
        INSERT INTO ${s}.job_record AS r (id, state, attempt) SELECT $1, 'active', $2 FROM go WHERE ok
        ON CONFLICT (id) DO UPDATE SET state = 'active', attempt = $2, updated_at = now()
        RETURNING 1),
      ev AS (
        INSERT INTO ${s}.job_event (job_id, type, data, at_ms) SELECT $1, 'active', $3, $4 FROM go WHERE ok RETURNING seq)
      SELECT (SELECT state FROM before) AS state, (SELECT cancel FROM before) AS cancel, (SELECT count(*) FROM ev) AS events`,
    [jobId, attempt, JSON.stringify({ attempt }), Date.now()]);
    const r = rows[0] as { state: JobState | null; cancel: boolean | null; events: string } | undefined;
    if (Number(r?.events ?? 0) > 0) this.#notify(jobId);
    return r?.state == null ? undefined : { state: r.state, cancelRequested: r.cancel === true };
  }

  async requestCancel(jobId: string): Promise<boolean> {
    const { rowCount } = await this.#query(`UPDATE ${this.#schema}.job_record SET cancel = true
      WHERE id = $1 AND state NOT IN ('completed', 'dead', 'cancelled')`, [jobId]);
    return rowCount === 1;
  }

  async *events(jobId: string, options: EventsOptions = {}): AsyncIterable<JobEvent> {
    await this.ready();
    let after = options.after !== undefined && /^\d+$/.test(options.after) ? options.after : '0';
    let wake: (() => void) | undefined;
    let client: pg.Client | undefined;
    const onAbort = (): void => wake?.();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (options.signal?.aborted !== true) {
        if (client === undefined) {
          // A reader owns a connection for LISTEN; a dropped one is replaced, and the
          // table read below catches up on whatever was notified meanwhile.
          const fresh = new pg.Client({ connectionString: this.#connectionString });
          fresh.on('error', () => { if (client === fresh) client = undefined; wake?.(); });
          fresh.on('notification', (n) => { if (n.payload === jobId) wake?.(); });
          try {
            await fresh.connect();
            await fresh.query(`LISTEN ${this.#channel}`);
            client = fresh;
            this.#readers.add(fresh);
          } catch {
            await fresh.end().catch(() => undefined);
            await delay(200);
            continue;
          }
        }
        const notified = new Promise<void>((resolve) => { wake = resolve; });
        const { rows } = await this.#sql.executeSql(`SELECT seq::text AS id, type, data, at_ms FROM ${this.#schema}.job_event
          WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT 100`, [jobId, after]);
        for (const r of rows as { id: string; type: JobEventType; data: unknown; at_ms: string }[]) {
          after = r.id;
          yield { id: r.id, jobId, type: r.type, data: r.data, atMs: Number(r.at_ms) };
          if (TERMINAL_EVENTS.has(r.type)) return;
        }
        if (rows.length === 100) continue;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([notified, new Promise((resolve) => { timer = setTimeout(resolve, DEFAULT_EVENTS_POLL_MS); })]);
        clearTimeout(timer);
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      if (client !== undefined) {
        this.#readers.delete(client);
        await client.end().catch(() => undefined);
      }
    }
  }

  async once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const { rows } = await this.#query(`SELECT result FROM ${this.#schema}.job_once WHERE key = $1`, [key]);
    if (rows.length > 0) return (rows[0] as { result: { r: T } }).result.r;
    const r = await fn();
    await this.#query(`INSERT INTO ${this.#schema}.job_once (key, result) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
      [key, JSON.stringify({ r: r ?? null })]);
    return r;
  }

  async lease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.#query(`INSERT INTO ${this.#schema}.job_lease AS l (name, owner, expires_at)
      VALUES ($1, $2, now() + $3 * interval '1 millisecond')
      ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE l.owner = excluded.owner OR l.expires_at < now()`, [name, owner, ttlMs]);
    return rowCount === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.#query(`DELETE FROM ${this.#schema}.job_lease WHERE name = $1 AND owner = $2`, [name, owner]);
  }

  async getMark(name: string): Promise<number | undefined> {
    const { rows } = await this.#query(`SELECT value::text FROM ${this.#schema}.job_mark WHERE name = $1`, [name]);
    const r = rows[0] as { value: string } | undefined;
    return r === undefined ? undefined : Number(r.value);
  }

  async setMark(name: string, value: number): Promise<void> {
    await this.#query(`INSERT INTO ${this.#schema}.job_mark AS m (name, value) VALUES ($1, $2)
      ON CONFLICT (name) DO UPDATE SET value = greatest(m.value, excluded.value)`, [name, value]);
  }

  #closed = false;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pruneTimer);
    if (this.#cancelNotify !== undefined) {
      // What waits for its turn goes now: the pool is about to end.
      this.#cancelNotify();
      this.#sendNotify();
    }
    await this.#notifying;
    for (const c of this.#readers) await c.end().catch(() => undefined);
    this.#readers.clear();
    await this.#sql.close();
  }
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
