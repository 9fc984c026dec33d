import { defineErrorCatalogue } from '../../internal/error-catalogue.js';
import { ScaleoutError } from '../../internal/errors.js';

/** The stick table could not be written to disk; the table in memory is unchanged. */
export class StickTableSaveError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_BALANCER_STICK_TABLE_SAVE';
  readonly path: string;
  constructor(path: string, options: { cause?: unknown } = {}) {
    const detail = options.cause instanceof Error ? ` (${options.cause.message})` : '';
    super(StickTableSaveError.code,
      `could not save the stick table to ${path}${detail}; check that its directory exists, is writable and has free space`,
      { ...options, retriable: true });
    this.path = path;
  }
}

/** Every code of balancer affinity: what it means and what to do. */
export const AFFINITY_ERRORS = defineErrorCatalogue('balancer/affinity', [
  { errorClass: StickTableSaveError,
    meaning: 'The stick table (which client sticks to which server) could not be written to its file. The table in memory is unchanged and the balancer keeps routing; only a restart before the next successful save loses the newest entries.',
    action: 'Check that the file\'s directory exists, is writable by the balancer and has free space. The next save (every `saveIntervalMs`) tries again.' },
]);
