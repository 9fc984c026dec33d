import { defineErrorCatalogue } from './error-catalogue.js';

/**
 * The base of every error a user of scaleout can meet.
 *
 * Each domain declares its errors in its own `errors.ts`, extending this class with
 * a stable `code` of the form `SCALEOUT_<DOMAIN>_<PROBLEM>` and a message that says
 * what to do. Callers branch on `code` (never on the message) and on `retriable`.
 */
export class ScaleoutError extends Error {
  /** Stable machine-readable code, `SCALEOUT_<DOMAIN>_<PROBLEM>`. */
  readonly code: string;
  /** Whether the same operation may succeed if tried again unchanged. */
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }

  /** One line for a terminal: the code, then what happened and what to do. */
  toLine(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** True when `err` is a ScaleoutError (also across module copies, by shape). */
export function isScaleoutError(err: unknown): err is ScaleoutError {
  return err instanceof ScaleoutError ||
    (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' &&
      String((err as { code: string }).code).startsWith('SCALEOUT_'));
}

/** Signing keys (session or affinity cookie keys) that cannot be used. */
export class KeyringError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_KEYRING_INVALID';
  constructor(message: string) {
    super(KeyringError.code, message);
  }
}

/** The codes shared by several domains: what they mean and what to do. */
export const INTERNAL_ERRORS = defineErrorCatalogue('internal', [
  { errorClass: KeyringError,
    meaning: 'A list of signing keys (session cookie keys, balancer affinity cookie keys) cannot be used: it is empty, a key id is not 1-16 characters of `[A-Za-z0-9_-]`, an id appears twice, or a secret is shorter than 16 bytes.',
    action: 'Fix the key list as the message says. Give keys as `id:secret`, the current key first; 32 random bytes make a good secret (`openssl rand -hex 32`).' },
]);
