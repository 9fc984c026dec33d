import { SessionInputError } from './errors.js';
import type { SessionFields, SessionValue } from './store.js';

/**
 * Checks and JSON encoding shared by every store, so all of them accept and refuse the
 * same input.
 */

/** Longest field name a session accepts. */
export const MAX_FIELD_NAME_CHARS = 256;
/** Longest session id or user id a store accepts. */
export const MAX_ID_CHARS = 256;

export function assertId(id: unknown, what = 'session id'): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_CHARS || id.includes('\u0000')) {
    throw new SessionInputError(`${what} must be a string of 1-${MAX_ID_CHARS} characters without NUL`);
  }
}

export function assertFieldName(name: unknown): asserts name is string {
  // NUL is refused everywhere: Redis uses a NUL field for its own bookkeeping and
  // PostgreSQL text and jsonb cannot hold it, so both stores accept the same names.
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_FIELD_NAME_CHARS || name.includes('\u0000')) {
    throw new SessionInputError(
      `session field name ${JSON.stringify(String(name)).slice(0, 80)} is invalid; ` +
      `use a string of 1-${MAX_FIELD_NAME_CHARS} characters without NUL`);
  }
}

export function assertTtlMs(ttlMs: unknown): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new SessionInputError(`ttlMs must be a positive integer number of milliseconds, got ${String(ttlMs)}`);
  }
}

export function assertIncrement(key: string, by: unknown): asserts by is number {
  if (typeof by !== 'number' || !Number.isSafeInteger(by)) {
    throw new SessionInputError(`increment of "${key}" must be a safe integer, got ${String(by)}`);
  }
}

/** JSON text of a field value; refuses what JSON cannot carry back unchanged. */
export function encodeValue(name: string, value: SessionValue): string {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new SessionInputError(`session field "${name}" cannot hold ${String(value)}; store a finite number`);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new SessionInputError(`session field "${name}" holds a value JSON cannot encode (${(err as Error).message}); store plain data`);
  }
  if (text === undefined) {
    throw new SessionInputError(`session field "${name}" cannot hold ${typeof value}; use delete() to remove a field, or store plain data`);
  }
  if (ESCAPED_NUL.test(text)) {
    throw new SessionInputError(`session field "${name}" holds a string with a NUL character, which PostgreSQL cannot store; remove it`);
  }
  return text;
}

// A \u0000 escape in JSON text, not preceded by an escaped backslash.
const ESCAPED_NUL = /(?<!\\)(?:\\\\)*\\u0000/;

/** Decode a stored value; text that is not JSON (written by something else) comes back as the raw string. */
export function decodeValue(text: string): SessionValue {
  try {
    return JSON.parse(text) as SessionValue;
  } catch {
    return text;
  }
}

/** Validate and encode a field map into [name, jsonText] pairs. */
export function encodeFields(fields: SessionFields): [string, string][] {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new SessionInputError('session fields must be a plain object of name -> value');
  }
  const pairs: [string, string][] = [];
  for (const name of Object.keys(fields)) {
    assertFieldName(name);
    pairs.push([name, encodeValue(name, fields[name] as SessionValue)]);
  }
  return pairs;
}

export function assertFieldNames(keys: readonly string[]): void {
  if (!Array.isArray(keys)) throw new SessionInputError('field names must be an array of strings');
  for (const key of keys) assertFieldName(key);
}
