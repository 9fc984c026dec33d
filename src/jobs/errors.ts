import { ScaleoutError } from '../internal/errors.js';
import { defineErrorCatalogue } from '../internal/error-catalogue.js';

/**
 * The engine behind a queue (Redis, PostgreSQL, RabbitMQ) did not answer or refused
 * the connection. Retriable: backends reconnect by themselves.
 */
export class JobsBackendUnavailableError extends ScaleoutError {
  constructor(backend: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_JOBS_BACKEND_UNAVAILABLE',
      `the ${backend} queue backend is unreachable (${describeCause(options.cause)}); ` +
      'retry shortly, and check that the engine runs and its address is right',
      { ...options, retriable: true });
  }
}

/** Invalid options given to a queue, a worker, a scheduler or a backend. */
export class JobsOptionsError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_JOBS_INVALID_OPTIONS', message);
  }
}

/**
 * A job whose payload version the worker does not know. The job goes to the
 * dead-letter queue at once (retrying cannot help); deploy a worker that knows the
 * version, then redrive.
 */
export class JobsUnknownVersionError extends ScaleoutError {
  constructor(queue: string, v: unknown, known: readonly number[]) {
    super('SCALEOUT_JOBS_UNKNOWN_VERSION',
      `a job in queue "${queue}" carries payload version ${String(v)}, and this worker knows ${known.join(', ')}; ` +
      'deploy a worker that handles it and redrive the dead-letter queue');
  }
}

/** A message on a queue that is not a job envelope (written by something else). */
export class JobsMalformedJobError extends ScaleoutError {
  constructor(queue: string, detail: string) {
    super('SCALEOUT_JOBS_MALFORMED_JOB',
      `a message in queue "${queue}" is not a scaleout job (${detail}); only enqueue through Queue.add`);
  }
}

/** The job was cancelled; thrown into a handler's `ctx.signal` as its reason. */
export class JobsCancelledError extends ScaleoutError {
  constructor(jobId: string) {
    super('SCALEOUT_JOBS_CANCELLED', `job ${jobId} was cancelled; the handler should stop and return`);
  }
}

/** The worker is stopping and the grace time ran out; the job goes back to its queue. */
export class JobsShutdownError extends ScaleoutError {
  constructor(jobId: string) {
    super('SCALEOUT_JOBS_SHUTDOWN',
      `the worker is stopping and job ${jobId} did not finish within the grace time; it goes back to the queue`);
  }
}

/** An operation on a queue, worker or scheduler after its `close()`. */
export class JobsClosedError extends ScaleoutError {
  constructor(what: string) {
    super('SCALEOUT_JOBS_CLOSED', `the ${what} is closed; create a new one`);
  }
}

/** A feature the backend cannot provide (see its `capabilities`). */
export class JobsUnsupportedError extends ScaleoutError {
  constructor(backend: string, feature: string, why: string) {
    super('SCALEOUT_JOBS_UNSUPPORTED', `the ${backend} backend cannot ${feature}: ${why}`);
  }
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (cause === undefined) return 'no detail';
  return String(cause);
}

/** Every code of the jobs tier: what it means and what to do (docs/errors.md is made from this). */
export const JOBS_ERRORS = defineErrorCatalogue('jobs', [
  { code: 'SCALEOUT_JOBS_BACKEND_UNAVAILABLE', errorClass: JobsBackendUnavailableError,
    meaning: 'The engine behind a queue (Redis, PostgreSQL, RabbitMQ) did not answer or refused the connection. Backends reconnect by themselves.',
    action: 'Retry shortly; check that the engine runs and its address is right.' },
  { code: 'SCALEOUT_JOBS_INVALID_OPTIONS', errorClass: JobsOptionsError,
    meaning: 'Invalid options given to a queue, a worker, a scheduler or a backend; the message names the option.',
    action: 'Fix the named option.' },
  { code: 'SCALEOUT_JOBS_UNKNOWN_VERSION', errorClass: JobsUnknownVersionError,
    meaning: 'A job carries a payload version this worker does not know. It goes to the dead-letter queue at once: retrying cannot help.',
    action: 'Deploy a worker that handles the version, then redrive the dead-letter queue.' },
  { code: 'SCALEOUT_JOBS_MALFORMED_JOB', errorClass: JobsMalformedJobError,
    meaning: 'A message on a queue is not a scaleout job envelope: something else wrote it.',
    action: 'Enqueue only through `Queue.add`; remove the foreign message.' },
  { code: 'SCALEOUT_JOBS_CANCELLED', errorClass: JobsCancelledError,
    meaning: 'The job was cancelled; this is the reason of the handler\'s `ctx.signal`.',
    action: 'The handler should stop its work and return.' },
  { code: 'SCALEOUT_JOBS_SHUTDOWN', errorClass: JobsShutdownError,
    meaning: 'The worker is stopping and the job did not finish within the grace time; it goes back to its queue and runs again.',
    action: 'Nothing, or give the worker a longer grace time if jobs are long.' },
  { code: 'SCALEOUT_JOBS_CLOSED', errorClass: JobsClosedError,
    meaning: 'An operation on a queue, worker or scheduler after its `close()`.',
    action: 'Create a new one instead of reusing it after `close()`.' },
  { code: 'SCALEOUT_JOBS_UNSUPPORTED', errorClass: JobsUnsupportedError,
    meaning: 'A feature the queue backend cannot provide, such as enqueueing inside the caller\'s transaction outside pg-boss (see the backend\'s `capabilities`).',
    action: 'Use a backend that has the feature, or do without it.' },
]);
