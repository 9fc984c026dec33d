import { defineErrorCatalogue } from '../internal/error-catalogue.js';
import { ScaleoutError } from '../internal/errors.js';

/** Bench options that cannot run: the message names the option, the value and what is allowed. */
export class BenchOptionsError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_BENCH_OPTIONS';
  constructor(message: string) {
    super(BenchOptionsError.code, message);
  }
}

/** Nothing to send the load to: no balancer answers, or its admin API does not. */
export class BenchTargetError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_BENCH_TARGET';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(BenchTargetError.code, message, options);
  }
}

/** A load is already running where only one at a time may (the dashboard's button). */
export class BenchBusyError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_BENCH_BUSY';
  constructor() {
    super(BenchBusyError.code, 'a load is already running; wait for it to end (one at a time, so loads do not add up)');
  }
}

/** The load generator itself failed (autocannon threw, or wrk exited with an error). */
export class BenchRunError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_BENCH_RUN';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(BenchRunError.code, message, options);
  }
}

/** Every code of `scaleout bench`: what it means and what to do. */
export const BENCH_ERRORS = defineErrorCatalogue('bench', [
  { errorClass: BenchOptionsError,
    meaning: 'An option of `scaleout bench` (or of the dashboard\'s load) is out of range: a rate, a duration or a connection count that is not a positive whole number within its bound, an unknown scenario, or wrk asked for what it cannot do (a fixed rate, a scenario with a login).',
    action: 'Fix the named option; `scaleout bench --help` lists them with their bounds.' },
  { errorClass: BenchTargetError,
    meaning: 'There is nothing to load: the supervisor of the folder has no balancer yet, or the balancer\'s admin API does not answer (the bench reads its counters before and after).',
    action: 'Start the app with `scaleout up` and wait until `scaleout status` shows it running, then run the bench again.' },
  { errorClass: BenchBusyError,
    meaning: 'The dashboard runs one load at a time, and one is running.',
    action: 'Wait for it to end (it is bounded in time), then start another.' },
  { errorClass: BenchRunError,
    meaning: 'The load generator failed: autocannon reported an error, or wrk exited with an error.',
    action: 'Read the message; check the app answers on its URL. With `--tool wrk`, check `wrk` runs on its own.' },
]);
