import { ScaleoutError } from '../../internal/errors.js';

/** Invalid options given to a document store or loader. */
export class DocumentConfigError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_DB_DOCUMENT_CONFIG', message);
  }
}

/** A patch operation, path or value that cannot be applied. */
export class DocumentPatchError extends ScaleoutError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_DB_DOCUMENT_PATCH_INVALID',
      `invalid document patch (${detail}); paths are non-empty lists of keys and array indexes, values must be JSON`,
      options);
  }
}

/** The document does not exist. */
export class DocumentNotFoundError extends ScaleoutError {
  readonly key: string;
  constructor(key: string) {
    super('SCALEOUT_DB_DOCUMENT_NOT_FOUND', `document "${key}" does not exist; create it first (create or put)`);
    this.key = key;
  }
}

/** `create` met an existing document. */
export class DocumentExistsError extends ScaleoutError {
  readonly key: string;
  constructor(key: string) {
    super('SCALEOUT_DB_DOCUMENT_EXISTS', `document "${key}" already exists; use put or patch to change it`);
    this.key = key;
  }
}

/**
 * The caller's `expectedVersion` is not the stored one: someone else changed the
 * document since the caller read it. Re-read, re-apply the change, and try again.
 */
export class DocumentVersionConflictError extends ScaleoutError {
  readonly key: string;
  readonly expectedVersion: number;
  readonly actualVersion: number;
  constructor(key: string, expectedVersion: number, actualVersion: number) {
    super('SCALEOUT_DB_DOCUMENT_VERSION_CONFLICT',
      `document "${key}" is at version ${actualVersion}, not ${expectedVersion}; read it again, re-apply your change and retry`);
    this.key = key;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}
