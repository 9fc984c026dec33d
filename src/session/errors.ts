import { ScaleoutError } from '../internal/errors.js';

/**
 * The session store (Redis or PostgreSQL) did not answer in time or refused the
 * connection. Retriable: stores reconnect by themselves, so the same request a moment
 * later usually succeeds. Carries the HTTP answer a web framework should give
 * (`status` 503 and `Retry-After: 1` in `headers`); Fastify's default error handler
 * uses both as they are.
 */
export class SessionStoreUnavailableError extends ScaleoutError {
  readonly status = 503;
  /** Same as `status`, under the name many error handlers read. */
  readonly statusCode = 503;
  readonly headers: Readonly<Record<string, string>> = { 'retry-after': '1' };
  constructor(store: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_SESSION_STORE_UNAVAILABLE',
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
  readonly status = 503;
  readonly statusCode = 503;
  constructor(store: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_SESSION_STORE_FAILED',
      `the ${store} session store refused the operation (${describeCause(options.cause)}); look at the engine's logs and permissions`,
      options);
  }
}

/** A field name or value the session cannot hold; a programming error in the caller. */
export class SessionInputError extends ScaleoutError {
  readonly status = 500;
  readonly statusCode = 500;
  constructor(message: string) {
    super('SCALEOUT_SESSION_INVALID_INPUT', message);
  }
}

/** `increment` on a field that holds something other than an integer. */
export class SessionFieldNotIntegerError extends ScaleoutError {
  readonly status = 500;
  readonly statusCode = 500;
  constructor(field: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_SESSION_FIELD_NOT_INTEGER',
      `session field "${field}" does not hold an integer, so it cannot be incremented; ` +
      'delete it first or use another field for the counter', options);
  }
}

/** Invalid options given to a session store or to the session manager. */
export class SessionOptionsError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_SESSION_INVALID_OPTIONS', message);
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (cause === undefined) return 'no detail';
  return String(cause);
}
