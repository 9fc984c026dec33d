import { createHash, randomFillSync } from 'node:crypto';
import { JobsMalformedJobError } from './errors.js';

/** Where a job is in its life. `dead` means it sits in the dead-letter queue. */
export type JobState = 'waiting' | 'active' | 'completed' | 'dead' | 'cancelled';

/** What goes over the wire for every job: the payload with its version, and delivery bookkeeping. */
export interface JobEnvelope<T = unknown> {
  /** Stable across retries, redeliveries and redrives. */
  id: string;
  name: string;
  /** Version of `data`'s shape; a worker refuses versions it does not know. */
  v: number;
  data: T;
  /** 1 on the first run; grows with each retry after a failure (not with a redelivery after a crash). */
  attempt: number;
  maxAttempts: number;
  backoffMs: number;
  backoffMaxMs: number;
  /** 0 = no jitter, 1 = the delay is anywhere between 0 and the exponential value. */
  jitter: number;
  priority: number;
  /** The idempotency key given to `add`, if any. */
  key?: string;
}

export type JobEventType = 'waiting' | 'active' | 'progress' | 'retrying' | 'completed' | 'failed' | 'cancelled';

/** One event in a job's life, with an id that orders events of the same job. */
export interface JobEvent {
  /** Opaque and increasing; hand it back as `after` (HTTP `Last-Event-ID`) to resume. */
  id: string;
  jobId: string;
  type: JobEventType;
  data?: unknown;
  atMs: number;
}

export const TERMINAL_EVENTS: ReadonlySet<JobEventType> = new Set(['completed', 'failed', 'cancelled']);

/** What a queue can tell about one job. */
export interface JobInfo {
  id: string;
  queue: string;
  name: string;
  state: JobState;
  attempt: number;
  progress?: unknown;
  result?: unknown;
  error?: string;
  cancelRequested: boolean;
}

/** Random bytes for the next ids (16 per id), refilled when used up. */
const ID_RANDOM = Buffer.alloc(16 * 256);
let idRandomAt = ID_RANDOM.length;
/** Where an id's text is written: one flat string per id, read from it at once. */
const ID_TEXT = Buffer.alloc(36);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * A random UUID (version 4), as `crypto.randomUUID()` makes: 122 random bits from the
 * same source, so as unguessable. Written into a buffer and read as one string, where
 * `randomUUID` joins 20 pieces: a job's id is made once per `add`, and this allocates
 * one small string instead of a tree of them.
 */
export function newJobId(): string {
  if (idRandomAt === ID_RANDOM.length) {
    randomFillSync(ID_RANDOM);
    idRandomAt = 0;
  }
  const r = ID_RANDOM;
  const at = idRandomAt;
  idRandomAt += 16;
  r[at + 6] = (r[at + 6]! & 0x0f) | 0x40; // version 4
  r[at + 8] = (r[at + 8]! & 0x3f) | 0x80; // RFC 4122 variant
  let o = 0;
  for (let i = 0; i < 16; i += 1) {
    if (i === 4 || i === 6 || i === 8 || i === 10) ID_TEXT[o++] = 0x2d; // '-'
    const b = r[at + i]!;
    ID_TEXT[o++] = HEX[b >> 4]!;
    ID_TEXT[o++] = HEX[b & 0x0f]!;
  }
  return ID_TEXT.toString('latin1', 0, 36);
}

/**
 * A UUID derived from the queue and an idempotency key, so that two `add` calls with
 * the same key name the same job and the engine can refuse the second one by itself.
 */
export function jobIdForKey(queue: string, key: string): string {
  const hex = createHash('sha256').update(`${queue}\u0000${key}`).digest('hex');
  // UUID layout with version 8 (custom) and the RFC 4122 variant bits.
  const variant = ((parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Checks a message read from a queue; anything else is refused, never crashes the worker. */
export function parseEnvelope(queue: string, raw: unknown): JobEnvelope {
  const value = typeof raw === 'string' ? safeJson(queue, raw) : raw;
  if (typeof value !== 'object' || value === null) throw new JobsMalformedJobError(queue, 'not an object');
  const e = value as Record<string, unknown>;
  // Field by field, not over lists of names: this runs once per job.
  if (typeof e.id !== 'string') throw new JobsMalformedJobError(queue, '"id" is not a string');
  if (typeof e.name !== 'string') throw new JobsMalformedJobError(queue, '"name" is not a string');
  checkNumber(queue, e, 'v');
  checkNumber(queue, e, 'attempt');
  checkNumber(queue, e, 'maxAttempts');
  checkNumber(queue, e, 'backoffMs');
  checkNumber(queue, e, 'backoffMaxMs');
  checkNumber(queue, e, 'jitter');
  checkNumber(queue, e, 'priority');
  if (!('data' in e)) throw new JobsMalformedJobError(queue, 'no "data"');
  return value as JobEnvelope;
}

function checkNumber(queue: string, e: Record<string, unknown>, field: string): void {
  const n = e[field];
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new JobsMalformedJobError(queue, `"${field}" is not a number`);
}

function safeJson(queue: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new JobsMalformedJobError(queue, 'not JSON');
  }
}
