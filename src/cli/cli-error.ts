import { ScaleoutError } from '../internal/errors.js';

/** A command line that cannot be run as given: exit code 2. */
export class UsageError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_CLI_USAGE', message);
  }
}
