import { defineErrorCatalogue } from '../internal/error-catalogue.js';
import { ScaleoutError } from '../internal/errors.js';

/**
 * The session store (Redis or PostgreSQL) did not answer in time or refused the
 * connection. Retriable: stores reconnect by themselves, so the same request a moment
 * later usually succeeds. Carries the HTTP answer a web framework should give
 * (`status` 503 and `Retry-After: 1` in `headers`); Fastify's default error handler
 * uses both as they are.
 */
export class SessionStoreUnavailableError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_SESSION_STORE_UNAVAILABLE';
  readonly status = 503;
  /** Same as `status`, under the name many error handlers read. */
  readonly statusCode = 503;
  readonly headers: Readonly<Record<string, string>> = { 'retry-after': '1' };
  constructor(store: string, options: { cause?: unknown } = {}) {
    super(SessionStoreUnavailableError.code,
      `the ${store} session store is unreachable or too slow (${describeCause(options.cause)}); ` +
      'retry shortly, and check that the engine runs and its address is right',
      { ...options, retriable: true });
  }
}

/**
 * The session store answered with an error that is not about reaching it (out of
 * memory, read-only replica, missing permissions). Not retriable as such: look at the
 * engine.
 */
export class SessionStoreError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_SESSION_STORE_FAILED';
  readonly status = 503;
  readonly statusCode = 503;
  constructor(store: string, options: { cause?: unknown } = {}) {
    super(SessionStoreError.code,
      `the ${store} session store refused the operation (${describeCause(options.cause)}); look at the engine's logs and permissions`,
      options);
  }
}

/** A field name or value the session cannot hold; a programming error in the caller. */
export class SessionInputError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_SESSION_INVALID_INPUT';
  readonly status = 500;
  readonly statusCode = 500;
  constructor(message: string) {
    super(SessionInputError.code, message);
  }
}

/** `increment` on a field that holds something other than an integer. */
export class SessionFieldNotIntegerError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_SESSION_FIELD_NOT_INTEGER';
  readonly status = 500;
  readonly statusCode = 500;
  constructor(field: string, options: { cause?: unknown } = {}) {
    super(SessionFieldNotIntegerError.code,
      `session field "${field}" does not hold an integer, so it cannot be incremented; ` +
      'delete it first or use another field for the counter', options);
  }
}

/** Invalid options given to a session store or to the session manager. */
export class SessionOptionsError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_SESSION_INVALID_OPTIONS';
  constructor(message: string) {
    super(SessionOptionsError.code, message);
  }
}

/** Every code of sessions: what it means and what to do. */
export const SESSION_ERRORS = defineErrorCatalogue('session', [
  { errorClass: SessionStoreUnavailableError, status: 503,
    meaning: 'The session store (Redis or PostgreSQL) did not answer in time or refused the connection. Retriable: stores reconnect by themselves. The error carries `Retry-After: 1` for the HTTP answer.',
    action: 'Retry shortly. Check that the engine runs and that its address (`REDIS_URL`, `DATABASE_URL`) is right.' },
  { errorClass: SessionStoreError, status: 503,
    meaning: 'The session store answered with an error that is not about reaching it: out of memory, a read-only replica, missing permissions.',
    action: 'Look at the engine\'s logs and permissions; retrying unchanged will not help.' },
  { errorClass: SessionInputError, status: 500,
    meaning: 'A session call with an argument the session cannot take: a field name or id that is empty or too long, a value JSON cannot encode, a non-finite number, a bad TTL, or a write to the user-id field outside `login()`.',
    action: 'Fix the calling code; this is a programming error, not bad user input.' },
  { errorClass: SessionFieldNotIntegerError, status: 500,
    meaning: '`increment` was called on a session field that holds something other than an integer.',
    action: 'Delete the field first, or keep the counter in a field of its own.' },
  { errorClass: SessionOptionsError,
    meaning: 'Invalid options given to a session store or to the session manager; the message names the option.',
    action: 'Fix the named option. Nothing was started.' },
]);

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (cause === undefined) return 'no detail';
  return String(cause);
}
