import { defineErrorCatalogue } from '../internal/error-catalogue.js';
import { ScaleoutError } from '../internal/errors.js';

/** A command line that cannot be run as given: exit code 2. */
export class UsageError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_CLI_USAGE';
  constructor(message: string) {
    super(UsageError.code, message);
  }
}

/** Every code of the command line: what it means and what to do. */
export const CLI_ERRORS = defineErrorCatalogue('cli', [
  { errorClass: UsageError,
    meaning: 'A command line that cannot be run as given: an unknown command or option, a missing or malformed argument. `scaleout` exits with code 2.',
    action: 'Fix the command as the message says; every command has `--help`.' },
]);
