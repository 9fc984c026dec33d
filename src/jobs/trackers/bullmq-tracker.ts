import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { TERMINAL_EVENTS } from '../job.js';
import type { JobEvent, JobEventType, JobInfo, JobState } from '../job.js';
import type { CancelWatcher, EventsOptions, JobRecordPatch, JobTracker } from '../tracker.js';
import { patchFields } from './redis-tracker.js';
import type { RedisJobTracker } from './redis-tracker.js';
import { StreamFanout } from './stream-fanout.js';
import type { StreamEntry } from './stream-fanout.js';

/** How long a worker process remembers a cancel it heard, for a job it had not started yet. */
export const RECENT_CANCEL_MS = 60_000;

/**
 * What the BullMQ backend's processor returns for a completed job: BullMQ stores it as
 * the job's `returnvalue` and sends it in its `completed` event, in the same script
 * that acknowledges the job. Other acknowledgements (a retry enqueued, a dead letter,
 * a hand-back) return nothing, and their end is in the job's record.
 */
export interface CompletedMark {
  completed: true;
  result: unknown;
}

export function completedMark(result: unknown): CompletedMark {
  return { completed: true, result: result ?? null };
}

function readMark(returnvalue: string | undefined | null): CompletedMark | undefined {
  if (returnvalue === undefined || returnvalue === null || returnvalue === '') return undefined;
  try {
    const v = JSON.parse(returnvalue) as Partial<CompletedMark> | null;
    return typeof v === 'object' && v !== null && v.completed === true ? { completed: true, result: v.result ?? null } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The engine id of one delivery of a job: the job's id for its first enqueue,
 * `<id>.<attempt>.<random>` for a retry, a hand-back or a redrive (so that an event of
 * the engine names the job and its attempt).
 */
export function engineJobId(id: string, attempt: number, random: string): string {
  return `${id}.${attempt}.${random}`;
}

function parseEngineId(engineId: string): { id: string; attempt: number } {
  const [id = engineId, attempt] = engineId.split('.');
  const n = Number(attempt);
  return { id, attempt: Number.isInteger(n) && n >= 1 ? n : 1 };
}

// The record of a job that left the fast path, made from the engine's job hash when it
// does not exist yet. KEYS: record, engine job hash; ARGV: queue, ttl ms.
const ENSURE_RECORD = `
local function ensureRecord()
  if redis.call('EXISTS', KEYS[1]) == 1 then return end
  local j = redis.call('HMGET', KEYS[2], 'name', 'processedOn', 'finishedOn')
  local state = 'waiting'
  if j[2] and not j[3] then state = 'active' end
  redis.call('HSET', KEYS[1], 'queue', ARGV[1], 'name', j[1] or '', 'state', state, 'attempt', '1')
end
`;
// KEYS: record, engine job hash, events stream, queue meta; ARGV: queue, ttl ms, event
// body ('' for none), job id, only progress ('1'/'0'), then field, value pairs.
const RECORD = `${ENSURE_RECORD}
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then
  -- A job on the fast path keeps its progress in the engine's hash, as BullMQ's own progress does.
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], unpack(ARGV, 6)) end
else
  ensureRecord()
  if #ARGV > 5 then redis.call('HSET', KEYS[1], unpack(ARGV, 6)) end
end
if ARGV[3] ~= '' then
  local maxEvents = redis.call('HGET', KEYS[4], 'opts.maxLenEvents') or 10000
  local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxEvents, '*', 'event', 'scaleout', 'jobId', ARGV[4], 'e', ARGV[3])
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'eid', id) end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
// The 'active' step of a delivery that is not a first one (its event is the engine's).
// KEYS: record, engine job hash; ARGV: queue, ttl ms, attempt.
const BEGIN = `${ENSURE_RECORD}
ensureRecord()
local state = redis.call('HGET', KEYS[1], 'state')
local cancel = redis.call('HGET', KEYS[1], 'cancel')
if not (state == 'completed' or state == 'cancelled' or cancel == '1') then
  redis.call('HSET', KEYS[1], 'state', 'active', 'attempt', ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {state, cancel or '0'}`;
// KEYS: record, engine job hash; ARGV: queue, ttl ms, channel, job id. 1 when the cancel
// was taken (the job is known and not over).
const REQUEST_CANCEL = `${ENSURE_RECORD}
if redis.call('EXISTS', KEYS[1]) == 0 then
  local j = redis.call('HMGET', KEYS[2], 'finishedOn', 'returnvalue')
  if redis.call('EXISTS', KEYS[2]) == 0 or j[1] then return 0 end
  ensureRecord()
end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'completed' or state == 'dead' or state == 'cancelled' then return 0 end
local rv = redis.call('HGET', KEYS[2], 'returnvalue')
if rv and string.find(rv, '"completed":true', 1, true) then return 0 end
redis.call('HSET', KEYS[1], 'cancel', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;

const SCRIPTS = {
  bullJobsRecord: { numberOfKeys: 4, lua: RECORD },
  bullJobsBegin: { numberOfKeys: 2, lua: BEGIN },
  bullJobsRequestCancel: { numberOfKeys: 2, lua: REQUEST_CANCEL },
} as const;
type ScriptName = keyof typeof SCRIPTS;

/** What the per-queue trackers of one BullMQ backend share: connections, and the cancels heard. */
export class BullMQTrackerShared {
  readonly client: Redis;
  readonly base: RedisJobTracker;
  readonly bullPrefix: string;
  readonly recordPrefix: string;
  readonly ttlMs: number;
  readonly #url: string;
  readonly #redisOptions: RedisOptions;
  #subscriber: Redis | undefined;
  readonly #channels = new Set<string>();
  /**
   * Running jobs of this process waiting to hear of a cancel, by job id: one watcher
   * (the usual case, no set per job), or several when one job runs twice here.
   */
  readonly #watchers = new Map<string, CancelWatcher | Set<CancelWatcher>>();
  /** Cancels heard for jobs this process was not running at the time (a job in hand-over). */
  readonly #recent = new Map<string, number>();
  #closed = false;

  constructor(options: { url: string; redisOptions: RedisOptions; base: RedisJobTracker; bullPrefix: string; recordPrefix: string; ttlMs: number }) {
    this.#url = options.url;
    this.#redisOptions = options.redisOptions;
    this.base = options.base;
    this.bullPrefix = options.bullPrefix;
    this.recordPrefix = options.recordPrefix;
    this.ttlMs = options.ttlMs;
    this.client = this.open();
    for (const [name, script] of Object.entries(SCRIPTS)) this.client.defineCommand(name, script);
  }

  /** A connection like the tracker's own (retries forever, auto-pipelined). */
  open(): Redis {
    const r = new Redis(this.#url, { ...this.#redisOptions });
    r.on('error', () => { /* reconnects by itself; commands report failures */ });
    return r;
  }

  script(name: ScriptName, ...keysAndArgs: string[]): Promise<unknown> {
    return (this.client as unknown as Record<ScriptName, (...a: string[]) => Promise<unknown>>)[name](...keysAndArgs);
  }

  /** Listens for the cancels of one queue (once per process); resolves once subscribed. */
  async listen(channel: string): Promise<void> {
    if (this.#closed || this.#channels.has(channel)) return;
    this.#channels.add(channel);
    if (this.#subscriber === undefined) {
      // ioredis subscribes again by itself after a reconnect.
      this.#subscriber = this.open();
      this.#subscriber.on('message', (_channel: string, jobId: string) => this.#heard(jobId));
    }
    await this.#subscriber.subscribe(channel);
  }

  #heard(jobId: string): void {
    const watchers = this.#watchers.get(jobId);
    if (watchers !== undefined) {
      if (watchers instanceof Set) for (const w of [...watchers]) w.onCancel();
      else watchers.onCancel();
      return;
    }
    const now = Date.now();
    this.#recent.set(jobId, now);
    // Forget old ones as new ones come: the map stays as small as the cancels of a minute.
    for (const [id, at] of this.#recent) {
      if (now - at < RECENT_CANCEL_MS) break;
      this.#recent.delete(id);
    }
  }

  watch(jobId: string, watcher: CancelWatcher): void {
    if (this.#recent.size > 0) {
      const at = this.#recent.get(jobId);
      if (at !== undefined && Date.now() - at < RECENT_CANCEL_MS) {
        this.#recent.delete(jobId);
        watcher.onCancel();
      }
    }
    const known = this.#watchers.get(jobId);
    if (known === undefined) this.#watchers.set(jobId, watcher);
    else if (known instanceof Set) known.add(watcher);
    else if (known !== watcher) this.#watchers.set(jobId, new Set([known, watcher]));
  }

  unwatch(jobId: string, watcher: CancelWatcher): void {
    const known = this.#watchers.get(jobId);
    if (known === watcher) {
      this.#watchers.delete(jobId);
    } else if (known instanceof Set) {
      known.delete(watcher);
      if (known.size === 0) this.#watchers.delete(jobId);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscriber?.disconnect();
    await this.client.quit().catch(() => { this.client.disconnect(); });
  }
}

/**
 * The tracker of one BullMQ queue that keeps nothing BullMQ already keeps. A job on the
 * fast path (its first delivery, run once to completion) has no record of its own: its
 * state, progress and result are in BullMQ's job hash, its `active`, `progress` and
 * `completed` events in BullMQ's events stream of the queue (`<prefix>:<queue>:events`),
 * whose ids are the event ids. A job that leaves the fast path (a retry, a dead letter,
 * a cancel, a hand-back, a redelivery) gets a record hash, and its own events go to the
 * same stream, so one job's events stay in one order with one kind of id. Readers of a
 * queue's events share one blocking reader per process ({@link StreamFanout}); a
 * resume after `Last-Event-ID` reads the stored part with `XRANGE`, and when BullMQ
 * trimmed the stream past it (`streams.events.maxLen`), the job's end is made from its
 * final state.
 */
export class BullMQQueueTracker implements JobTracker {
  readonly name = 'bullmq';
  /** A first delivery's `active` step is BullMQ's hand-over itself: nothing to write before it runs. */
  readonly startsWithEngine = true;
  /** BullMQ's job is the first record: `create` writes nothing. */
  readonly createdWithEngine = true;
  readonly #shared: BullMQTrackerShared;
  readonly #queue: string;
  readonly #stream: string;
  readonly #meta: string;
  readonly #channel: string;
  readonly #fanout: StreamFanout;
  #listening: Promise<void> | undefined;

  constructor(shared: BullMQTrackerShared, queue: string) {
    this.#shared = shared;
    this.#queue = queue;
    this.#stream = `${shared.bullPrefix}:${queue}:events`;
    this.#meta = `${shared.bullPrefix}:${queue}:meta`;
    this.#channel = `${shared.recordPrefix}cancel:${queue}`;
    this.#fanout = new StreamFanout(() => shared.open(), this.#stream, routeOf);
  }

  #record(id: string): string { return `${this.#shared.recordPrefix}j:${id}`; }
  #engineJob(id: string): string { return `${this.#shared.bullPrefix}:${this.#queue}:${id}`; }

  /** BullMQ's job (added with the job's id, deduped by it) is the record: nothing to write. */
  async create(): Promise<boolean> {
    return true;
  }

  async record(jobId: string, patch: JobRecordPatch, event?: { type: JobEventType; data?: unknown }): Promise<void> {
    const fields = patchFields(patch);
    const onlyProgress = patch.progress !== undefined && fields.length === 2 ? '1' : '0';
    const body = event === undefined ? '' : JSON.stringify({ type: event.type, data: event.data, atMs: Date.now() });
    await this.#shared.script('bullJobsRecord', this.#record(jobId), this.#engineJob(jobId), this.#stream, this.#meta,
      this.#queue, String(this.#shared.ttlMs), body, jobId, onlyProgress, ...fields);
  }

  async begin(jobId: string, attempt: number): Promise<{ state: JobState; cancelRequested: boolean } | undefined> {
    const [state, cancel] = await this.#shared.script('bullJobsBegin', this.#record(jobId), this.#engineJob(jobId),
      this.#queue, String(this.#shared.ttlMs), String(attempt)) as [string, string];
    return { state: state as JobState, cancelRequested: cancel === '1' };
  }

  async get(jobId: string): Promise<JobInfo | undefined> {
    const [record, job] = await Promise.all([
      this.#shared.client.hgetall(this.#record(jobId)),
      this.#shared.client.hmget(this.#engineJob(jobId), 'name', 'processedOn', 'finishedOn', 'returnvalue', 'progress'),
    ]);
    return merge(jobId, this.#queue, record, job);
  }

  async requestCancel(jobId: string): Promise<boolean> {
    return (await this.#shared.script('bullJobsRequestCancel', this.#record(jobId), this.#engineJob(jobId),
      this.#queue, String(this.#shared.ttlMs), this.#channel, jobId)) === 1;
  }

  /** Starts listening for cancels of this queue's jobs (a worker does before it takes jobs). */
  listenForCancels(): Promise<void> {
    this.#listening ??= this.#shared.listen(this.#channel);
    this.#listening.catch(() => { this.#listening = undefined; });
    return this.#listening;
  }

  watchCancel(jobId: string, watcher: CancelWatcher): void {
    // Listening already (a worker starts it before taking jobs): nothing to do per job.
    if (this.#listening === undefined) void this.listenForCancels().catch(() => undefined);
    this.#shared.watch(jobId, watcher);
  }

  unwatchCancel(jobId: string, watcher: CancelWatcher): void {
    this.#shared.unwatch(jobId, watcher);
  }

  async *events(jobId: string, options: EventsOptions = {}): AsyncIterable<JobEvent> {
    const signal = options.signal;
    if (signal?.aborted === true) return;
    const live: StreamEntry[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = await this.#fanout.subscribe(jobId, (entry) => { live.push(entry); wake?.(); });
    const onAbort = (): void => wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // The state first: an end seen here was written (with its event) before the range is read.
      const client = this.#shared.client;
      const [record, job, first] = await Promise.all([
        client.hgetall(this.#record(jobId)),
        client.hmget(this.#engineJob(jobId), 'name', 'processedOn', 'finishedOn', 'returnvalue', 'progress', 'timestamp'),
        client.xrange(this.#stream, '-', '+', 'COUNT', 1),
      ]);
      const info = merge(jobId, this.#queue, record, job);
      // Without a cursor, from the job's creation (BullMQ's timestamp, less a margin for
      // the clocks of producer and server); an older job of the same id is not replayed.
      const createdMs = Number(job[5] ?? NaN);
      let cursor = options.after ?? (Number.isFinite(createdMs) ? `${Math.max(0, createdMs - 1_000)}-0` : '0-0');
      const start = cursor;
      const stored = await client.xrange(this.#stream, `(${cursor}`, '+') as StreamEntry[];
      for (const entry of stored) {
        const event = toEvent(jobId, entry);
        if (event === undefined) continue;
        cursor = entry[0];
        yield event;
        if (TERMINAL_EVENTS.has(event.type)) return;
      }
      if (info !== undefined && isOver(info.state)) {
        // Over before the range was read, and its end not in the range: the reader saw it
        // already (the end is at or before its cursor), or BullMQ trimmed it away.
        const oldest = first[0]?.[0];
        const trimmed = oldest === undefined || compareIds(oldest, start) > 0;
        const end = trimmed ? finalEvent(jobId, info, record.eid, job[2]) : undefined;
        if (end !== undefined && compareIds(end.id, start) > 0) yield end;
        return;
      }
      while (!isAborted(signal)) {
        const entry = live.shift();
        if (entry === undefined) {
          await new Promise<void>((resolve) => { wake = resolve; });
          wake = undefined;
          continue;
        }
        if (compareIds(entry[0], cursor) <= 0) continue;
        const event = toEvent(jobId, entry);
        if (event === undefined) continue;
        cursor = entry[0];
        yield event;
        if (TERMINAL_EVENTS.has(event.type)) return;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  }

  once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.#shared.base.once(key, fn);
  }

  lease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#shared.base.lease(name, owner, ttlMs);
  }

  releaseLease(name: string, owner: string): Promise<void> {
    return this.#shared.base.releaseLease(name, owner);
  }

  getMark(name: string): Promise<number | undefined> {
    return this.#shared.base.getMark(name);
  }

  setMark(name: string, value: number): Promise<void> {
    return this.#shared.base.setMark(name, value);
  }

  /** The backend closes what the queues' trackers share. */
  async close(): Promise<void> {
    this.#fanout.close();
  }
}

function routeOf(fields: string[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'jobId') return parseEngineId(fields[i + 1] ?? '').id;
  }
  return undefined;
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** One entry of the queue's stream as an event of `jobId`; undefined for another job's or one scaleout does not show. */
function toEvent(jobId: string, [id, fields]: StreamEntry): JobEvent | undefined {
  const engineId = field(fields, 'jobId');
  if (engineId === undefined) return undefined;
  const ref = parseEngineId(engineId);
  if (ref.id !== jobId) return undefined;
  const atMs = Number(id.split('-')[0]);
  switch (field(fields, 'event')) {
    case 'scaleout': {
      const body = JSON.parse(field(fields, 'e') ?? '{}') as { type: JobEventType; data?: unknown; atMs?: number };
      return { id, jobId, type: body.type, data: body.data, atMs: body.atMs ?? atMs };
    }
    case 'active':
      return { id, jobId, type: 'active', data: { attempt: ref.attempt }, atMs };
    case 'progress':
      return { id, jobId, type: 'progress', data: JSON.parse(field(fields, 'data') ?? 'null') as unknown, atMs };
    case 'completed': {
      const mark = readMark(field(fields, 'returnvalue'));
      return mark === undefined ? undefined : { id, jobId, type: 'completed', data: mark.result, atMs };
    }
    default:
      return undefined;
  }
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function isOver(state: JobState): boolean {
  return state === 'completed' || state === 'dead' || state === 'cancelled';
}

/** The end of a job whose end event is gone from the stream, made from its final state. */
function finalEvent(jobId: string, info: JobInfo, eid: string | undefined, finishedOn: string | null | undefined): JobEvent | undefined {
  const id = eid ?? (finishedOn ? `${finishedOn}-0` : undefined);
  if (id === undefined) return undefined;
  const atMs = Number(id.split('-')[0]);
  switch (info.state) {
    case 'completed': return { id, jobId, type: 'completed', data: info.result ?? null, atMs };
    case 'cancelled': return { id, jobId, type: 'cancelled', atMs };
    case 'dead': return { id, jobId, type: 'failed', data: { attempt: info.attempt, error: info.error ?? '' }, atMs };
    default: return undefined;
  }
}

/** The job as its record says, where it has one, and as BullMQ's job hash says otherwise. */
function merge(jobId: string, queue: string, record: Record<string, string>, job: (string | null)[]): JobInfo | undefined {
  const [name, processedOn, finishedOn, returnvalue, progress] = job;
  const mark = readMark(returnvalue);
  const engineProgress = progress !== null && progress !== undefined ? { progress: JSON.parse(progress) as unknown } : {};
  if (record.state !== undefined) {
    // Completed on the fast path after its record was made (a cancel asked for too late).
    const completed = mark !== undefined;
    return {
      id: jobId, queue: record.queue || queue, name: record.name || (name ?? ''),
      state: completed ? 'completed' : record.state as JobState,
      attempt: Number(record.attempt ?? 1), cancelRequested: record.cancel === '1',
      ...(record.progress !== undefined ? { progress: JSON.parse(record.progress) as unknown } : engineProgress),
      ...(completed ? { result: mark.result } : record.result !== undefined ? { result: JSON.parse(record.result) as unknown } : {}),
      ...(record.error !== undefined ? { error: record.error } : {}),
    };
  }
  if (name === null || name === undefined) return undefined;
  const state: JobState = mark !== undefined ? 'completed' : processedOn && !finishedOn ? 'active' : 'waiting';
  return {
    id: jobId, queue, name, state, attempt: 1, cancelRequested: false,
    ...engineProgress,
    ...(mark !== undefined ? { result: mark.result } : {}),
  };
}

function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

