import { ScaleoutError } from '../../internal/errors.js';

/** The stick table could not be written to disk; the table in memory is unchanged. */
export class StickTableSaveError extends ScaleoutError {
  readonly path: string;
  constructor(path: string, options: { cause?: unknown } = {}) {
    const detail = options.cause instanceof Error ? ` (${options.cause.message})` : '';
    super('SCALEOUT_BALANCER_STICK_TABLE_SAVE',
      `could not save the stick table to ${path}${detail}; check that its directory exists, is writable and has free space`,
      { ...options, retriable: true });
    this.path = path;
  }
}
