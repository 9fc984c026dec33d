import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_TRACKER, resolveRedisTrackerOptions } from '../options.js';
import { TERMINAL_EVENTS } from '../job.js';
import type { JobEvent, JobEventType, JobInfo, JobState } from '../job.js';
import type { EventsOptions, JobRecordPatch, JobTracker } from '../tracker.js';

/** @defaultValue */
export const DEFAULT_REDIS_JOBS_PREFIX = DEFAULT_REDIS_TRACKER.keyPrefix;
/** How long one blocking read for new events waits before it asks again. */
export const DEFAULT_EVENTS_BLOCK_MS = 1_000;

export interface RedisJobTrackerOptions {
  /** @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379` */
  url?: string;
  redisOptions?: RedisOptions;
  /** @defaultValue {@link DEFAULT_REDIS_JOBS_PREFIX} */
  keyPrefix?: string;
  /** @defaultValue {@link DEFAULT_EVENTS_KEPT} */
  eventsKept?: number;
  /** @defaultValue {@link DEFAULT_RECORD_TTL_MS} */
  recordTtlMs?: number;
}

const REQUEST_CANCEL = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'completed' or state == 'dead' or state == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'cancel', '1')
return 1`;
// KEYS: record, events; ARGV: attempt, event body, events kept, ttl ms.
const BEGIN = `
local state = redis.call('HGET', KEYS[1], 'state')
local cancel = redis.call('HGET', KEYS[1], 'cancel')
if state == 'completed' or state == 'cancelled' or cancel == '1' then return {state, cancel or '0'} end
redis.call('HSET', KEYS[1], 'state', 'active', 'attempt', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {state or '', cancel or '0'}`;
// BEGIN then RECORD. KEYS: record, events; ARGV: attempt, active event body, events
// kept, ttl ms, end event body, then field, value pairs.
const BEGIN_RECORD = `
local state = redis.call('HGET', KEYS[1], 'state')
local cancel = redis.call('HGET', KEYS[1], 'cancel')
if not (state == 'completed' or state == 'cancelled' or cancel == '1') then
  redis.call('HSET', KEYS[1], 'state', 'active', 'attempt', ARGV[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[2])
end
if #ARGV > 5 then redis.call('HSET', KEYS[1], unpack(ARGV, 6)) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 0`;
// KEYS: record; ARGV: queue, name, ttl ms. 1 when this call made the record's queue field.
const CREATE = `
local created = redis.call('HSETNX', KEYS[1], 'queue', ARGV[1])
if created == 1 then redis.call('HSET', KEYS[1], 'name', ARGV[2]) end
redis.call('HSETNX', KEYS[1], 'state', 'waiting')
redis.call('HSETNX', KEYS[1], 'attempt', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return created`;
// KEYS: record, events; ARGV: ttl ms, events kept, event body ('' for none), then field, value pairs.
const RECORD = `
if #ARGV > 3 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 4))
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
if ARGV[3] ~= '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return 0`;
const LEASE = `
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 0`;
const SET_MARK = `
local cur = redis.call('GET', KEYS[1])
if cur == false or tonumber(cur) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0`;

/** The tracker's scripts, loaded once per connection and then run by their SHA (EVALSHA). */
const SCRIPTS = {
  jobsCreate: { numberOfKeys: 1, lua: CREATE },
  jobsRecord: { numberOfKeys: 2, lua: RECORD },
  jobsBegin: { numberOfKeys: 2, lua: BEGIN },
  jobsBeginRecord: { numberOfKeys: 2, lua: BEGIN_RECORD },
  jobsRequestCancel: { numberOfKeys: 1, lua: REQUEST_CANCEL },
  jobsLease: { numberOfKeys: 1, lua: LEASE },
  jobsRelease: { numberOfKeys: 1, lua: RELEASE },
  jobsSetMark: { numberOfKeys: 1, lua: SET_MARK },
} as const;
type ScriptName = keyof typeof SCRIPTS;

/**
 * Job records in Redis: a hash per job, a capped stream of events per job (the stream
 * id is the event id, so a reader resumes with `XREAD` after the id it last saw and
 * misses nothing between the stored events and the live ones).
 */
export class RedisJobTracker implements JobTracker {
  readonly name = 'redis';
  readonly #client: Redis;
  readonly #url: string;
  readonly #redisOptions: RedisOptions;
  readonly #prefix: string;
  readonly #eventsKept: number;
  readonly #ttlMs: number;
  readonly #readers = new Set<Redis>();

  constructor(options: RedisJobTrackerOptions = {}) {
    const resolved = resolveRedisTrackerOptions(options);
    this.#prefix = resolved.keyPrefix;
    this.#eventsKept = resolved.eventsKept;
    this.#ttlMs = resolved.recordTtlMs;
    this.#url = resolved.url;
    // Workers wait out an engine restart instead of failing every job while it is away.
    this.#redisOptions = {
      maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(50 * n, 1_000),
      // Many jobs write their records at once; one round trip carries all of them.
      enableAutoPipelining: true, ...options.redisOptions,
    };
    this.#client = new Redis(this.#url, this.#redisOptions);
    this.#client.on('error', () => { /* reconnects by itself; commands report failures */ });
    // One command per step (instead of a MULTI of several), sent by SHA: with
    // auto-pipelining, the steps of many jobs in one tick share a round trip.
    for (const [name, script] of Object.entries(SCRIPTS)) this.#client.defineCommand(name, script);
  }

  #script(name: ScriptName, ...keysAndArgs: string[]): Promise<unknown> {
    return (this.#client as unknown as Record<ScriptName, (...a: string[]) => Promise<unknown>>)[name](...keysAndArgs);
  }

  #job(id: string): string { return `${this.#prefix}j:${id}`; }
  #events(id: string): string { return `${this.#prefix}e:${id}`; }

  async create(info: { id: string; queue: string; name: string }): Promise<boolean> {
    return (await this.#script('jobsCreate', this.#job(info.id), info.queue, info.name, String(this.#ttlMs))) === 1;
  }

  async record(jobId: string, patch: JobRecordPatch, event?: { type: JobEventType; data?: unknown }): Promise<void> {
    const body = event === undefined ? '' : eventBody(event);
    await this.#script('jobsRecord', this.#job(jobId), this.#events(jobId), String(this.#ttlMs), String(this.#eventsKept), body, ...patchFields(patch));
  }

  async beginAndRecord(jobId: string, attempt: number, patch: JobRecordPatch, event: { type: JobEventType; data?: unknown }): Promise<void> {
    await this.#script('jobsBeginRecord', this.#job(jobId), this.#events(jobId), String(attempt),
      eventBody({ type: 'active', data: { attempt } }), String(this.#eventsKept), String(this.#ttlMs), eventBody(event), ...patchFields(patch));
  }

  async get(jobId: string): Promise<JobInfo | undefined> {
    const h = await this.#client.hgetall(this.#job(jobId));
    if (h.state === undefined) return undefined;
    return {
      id: jobId, queue: h.queue ?? '', name: h.name ?? '', state: h.state as JobState,
      attempt: Number(h.attempt ?? 1), cancelRequested: h.cancel === '1',
      ...(h.progress !== undefined ? { progress: JSON.parse(h.progress) as unknown } : {}),
      ...(h.result !== undefined ? { result: JSON.parse(h.result) as unknown } : {}),
      ...(h.error !== undefined ? { error: h.error } : {}),
    };
  }

  async begin(jobId: string, attempt: number): Promise<{ state: JobState; cancelRequested: boolean } | undefined> {
    const body = JSON.stringify({ type: 'active', data: { attempt }, atMs: Date.now() });
    const [state, cancel] = await this.#script('jobsBegin', this.#job(jobId), this.#events(jobId),
      String(attempt), body, String(this.#eventsKept), String(this.#ttlMs)) as [string, string];
    return state === '' ? undefined : { state: state as JobState, cancelRequested: cancel === '1' };
  }

  async requestCancel(jobId: string): Promise<boolean> {
    return (await this.#script('jobsRequestCancel', this.#job(jobId))) === 1;
  }

  async *events(jobId: string, options: EventsOptions = {}): AsyncIterable<JobEvent> {
    // A blocking read holds its connection, so each reader gets its own.
    const reader = new Redis(this.#url, { ...this.#redisOptions, lazyConnect: false });
    reader.on('error', () => { /* reconnects by itself */ });
    this.#readers.add(reader);
    const onAbort = (): void => { reader.disconnect(); };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let after = options.after ?? '0-0';
    try {
      while (!isAborted(options.signal)) {
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = await reader.xread('BLOCK', DEFAULT_EVENTS_BLOCK_MS, 'STREAMS', this.#events(jobId), after) as typeof reply;
        } catch (err) {
          if (isAborted(options.signal) || !this.#readers.has(reader)) return;
          throw err;
        }
        for (const [, entries] of reply ?? []) {
          for (const [id, values] of entries) {
            after = id;
            const body = JSON.parse(values[1] ?? '{}') as { type: JobEventType; data?: unknown; atMs: number };
            yield { id, jobId, type: body.type, data: body.data, atMs: body.atMs };
            if (TERMINAL_EVENTS.has(body.type)) return;
          }
        }
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      this.#readers.delete(reader);
      reader.disconnect();
    }
  }

  async once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const recordKey = `${this.#prefix}o:${key}`;
    const stored = await this.#client.get(recordKey);
    if (stored !== null) return (JSON.parse(stored) as { r: T }).r;
    const r = await fn();
    await this.#client.set(recordKey, JSON.stringify({ r: r ?? null }), 'PX', this.#ttlMs);
    return r;
  }

  async lease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.#script('jobsLease', `${this.#prefix}l:${name}`, owner, String(ttlMs))) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.#script('jobsRelease', `${this.#prefix}l:${name}`, owner);
  }

  async getMark(name: string): Promise<number | undefined> {
    const v = await this.#client.get(`${this.#prefix}m:${name}`);
    return v === null ? undefined : Number(v);
  }

  async setMark(name: string, value: number): Promise<void> {
    await this.#script('jobsSetMark', `${this.#prefix}m:${name}`, String(value));
  }

  #closed = false;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const reader of this.#readers) reader.disconnect();
    this.#readers.clear();
    await this.#client.quit().catch(() => { this.#client.disconnect(); });
  }
}

/** A record patch as HSET field, value pairs (a Redis record hash, here and in the BullMQ tracker's). */
export function patchFields(patch: JobRecordPatch): string[] {
  const fields: string[] = [];
  if (patch.state !== undefined) fields.push('state', patch.state);
  if (patch.attempt !== undefined) fields.push('attempt', String(patch.attempt));
  if (patch.progress !== undefined) fields.push('progress', JSON.stringify(patch.progress));
  if (patch.result !== undefined) fields.push('result', JSON.stringify(patch.result));
  if (patch.error !== undefined) fields.push('error', patch.error);
  return fields;
}

function eventBody(event: { type: JobEventType; data?: unknown }): string {
  return JSON.stringify({ type: event.type, data: event.data, atMs: Date.now() });
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
