import { defineErrorCatalogue } from '../internal/error-catalogue.js';
import { ScaleoutError } from '../internal/errors.js';

/**
 * The L2 engine (Redis, Memcached or PostgreSQL) did not answer in time, refused the
 * connection, or the circuit breaker in front of it is open. The cache treats this as
 * a miss and calls the loader (it fails open), so users meet this error only when they
 * call an L2 store directly. Retriable: stores reconnect by themselves.
 */
export class CacheL2UnavailableError extends ScaleoutError {
  constructor(store: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_CACHE_L2_UNAVAILABLE',
      `the ${store} cache L2 is unreachable or too slow (${describeCause(options.cause)}); ` +
      'the cache serves from the loader meanwhile; check that the engine runs and its address is right',
      { ...options, retriable: true });
  }
}

/** The L2 engine answered with an error that is not about reaching it (permissions, out of memory). */
export class CacheL2Error extends ScaleoutError {
  constructor(store: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_CACHE_L2_FAILED',
      `the ${store} cache L2 refused the operation (${describeCause(options.cause)}); look at the engine's logs and permissions`,
      options);
  }
}

/** The bus (Redis pub/sub or PostgreSQL LISTEN/NOTIFY) could not publish an invalidation. */
export class CacheBusUnavailableError extends ScaleoutError {
  constructor(bus: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_CACHE_BUS_UNAVAILABLE',
      `the ${bus} cache bus could not publish (${describeCause(options.cause)}); ` +
      'other instances drop their L1 copy within l1MaxStaleMs anyway; check the engine',
      { ...options, retriable: true });
  }
}

/** Invalid options given to the cache, an L2 store or a bus. */
export class CacheOptionsError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_CACHE_INVALID_OPTIONS', message);
  }
}

/** A key or tag the cache cannot hold: empty, too long, or not a string. */
export class CacheKeyError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_CACHE_INVALID_KEY', message);
  }
}

/** A value the cache cannot store: not JSON-serialisable (undefined, a function, a cycle, a BigInt). */
export class CacheValueError extends ScaleoutError {
  constructor(key: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_CACHE_INVALID_VALUE',
      `the value for cache key "${key}" cannot be stored (${describeCause(options.cause)}); ` +
      'return JSON-serialisable data (plain objects, arrays, strings, numbers, booleans, null) from the loader',
      options);
  }
}

/** The L2 store cannot do what was asked (a versioned set on Memcached, whose client has no compare-and-set). */
export class CacheUnsupportedError extends ScaleoutError {
  constructor(store: string, operation: string) {
    super('SCALEOUT_CACHE_UNSUPPORTED',
      `the ${store} cache L2 cannot do ${operation}; use Redis or PostgreSQL as L2 for versioned writes, or invalidate on write instead`);
  }
}

/** A write-behind entry could not be made durable in the log; the write did not happen. */
export class WriteBehindUnavailableError extends ScaleoutError {
  constructor(log: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_CACHE_WRITE_BEHIND_UNAVAILABLE',
      `the write-behind log ${log} did not take the write (${describeCause(options.cause)}); ` +
      'the write was not acknowledged: retry it, or write to the database directly',
      { ...options, retriable: true });
  }
}

/** An operation on a cache, store or bus after `close()`. */
export class CacheClosedError extends ScaleoutError {
  constructor(what: string) {
    super('SCALEOUT_CACHE_CLOSED', `the ${what} was closed; create a new one instead of reusing it after close()`);
  }
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (cause === undefined) return 'no detail';
  return String(cause);
}

/** Every code of the cache: what it means and what to do. */
export const CACHE_ERRORS = defineErrorCatalogue('cache', [
  { code: 'SCALEOUT_CACHE_L2_UNAVAILABLE', errorClass: CacheL2UnavailableError,
    meaning: 'The cache L2 (Redis, Memcached or PostgreSQL) did not answer in time, refused the connection, or its circuit breaker is open. The cache treats this as a miss and calls the loader, so it is seen only when calling an L2 store directly.',
    action: 'Check that the engine runs and its address is right; the cache serves from the loader meanwhile.' },
  { code: 'SCALEOUT_CACHE_L2_FAILED', errorClass: CacheL2Error,
    meaning: 'The cache L2 answered with an error that is not about reaching it: permissions, out of memory.',
    action: 'Look at the engine\'s logs and permissions.' },
  { code: 'SCALEOUT_CACHE_BUS_UNAVAILABLE', errorClass: CacheBusUnavailableError,
    meaning: 'The bus (Redis pub/sub or PostgreSQL LISTEN/NOTIFY) could not publish an invalidation. Other instances drop their L1 copy within `l1MaxStaleMs` anyway.',
    action: 'Check the bus engine; retry the write if stale reads for up to `l1MaxStaleMs` matter.' },
  { code: 'SCALEOUT_CACHE_INVALID_OPTIONS', errorClass: CacheOptionsError,
    meaning: 'Invalid options given to the cache, an L2 store or a bus; the message names the option.',
    action: 'Fix the named option.' },
  { code: 'SCALEOUT_CACHE_INVALID_KEY', errorClass: CacheKeyError,
    meaning: 'A key or tag the cache cannot hold: empty, too long, or not a string.',
    action: 'Use short, non-empty string keys and tags.' },
  { code: 'SCALEOUT_CACHE_INVALID_VALUE', errorClass: CacheValueError,
    meaning: 'A loader returned a value that is not JSON-serialisable (undefined, a function, a cycle, a BigInt).',
    action: 'Return plain data from the loader: objects, arrays, strings, numbers, booleans, null.' },
  { code: 'SCALEOUT_CACHE_UNSUPPORTED', errorClass: CacheUnsupportedError,
    meaning: 'The L2 store cannot do what was asked: a versioned set (write-through) on Memcached, whose client has no compare-and-set.',
    action: 'Use Redis or PostgreSQL as L2 for versioned writes, or invalidate on write instead.' },
  { code: 'SCALEOUT_CACHE_WRITE_BEHIND_UNAVAILABLE', errorClass: WriteBehindUnavailableError,
    meaning: 'A write-behind entry could not be made durable in its log (the Redis stream or the PostgreSQL table); the write was not acknowledged and did not happen.',
    action: 'Retry the write, or write to the database directly; check the log\'s engine.' },
  { code: 'SCALEOUT_CACHE_CLOSED', errorClass: CacheClosedError,
    meaning: 'An operation on a cache, store or bus after `close()`.',
    action: 'Create a new one instead of reusing it after `close()`.' },
]);
