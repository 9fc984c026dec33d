import { defineErrorCatalogue } from '../../internal/error-catalogue.js';
import { ScaleoutError } from '../../internal/errors.js';

/** Invalid options given to a document store or loader. */
export class DocumentConfigError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_DOCUMENT_CONFIG';
  constructor(message: string) {
    super(DocumentConfigError.code, message);
  }
}

/** A patch operation, path or value that cannot be applied. */
export class DocumentPatchError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_DOCUMENT_PATCH_INVALID';
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super(DocumentPatchError.code,
      `invalid document patch (${detail}); paths are non-empty lists of keys and array indexes, values must be JSON`,
      options);
  }
}

/** The document does not exist. */
export class DocumentNotFoundError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_DOCUMENT_NOT_FOUND';
  readonly key: string;
  constructor(key: string) {
    super(DocumentNotFoundError.code, `document "${key}" does not exist; create it first (create or put)`);
    this.key = key;
  }
}

/** `create` met an existing document. */
export class DocumentExistsError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_DOCUMENT_EXISTS';
  readonly key: string;
  constructor(key: string) {
    super(DocumentExistsError.code, `document "${key}" already exists; use put or patch to change it`);
    this.key = key;
  }
}

/**
 * The caller's `expectedVersion` is not the stored one: someone else changed the
 * document since the caller read it. Re-read, re-apply the change, and try again.
 */
export class DocumentVersionConflictError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_DOCUMENT_VERSION_CONFLICT';
  readonly key: string;
  readonly expectedVersion: number;
  readonly actualVersion: number;
  constructor(key: string, expectedVersion: number, actualVersion: number) {
    super(DocumentVersionConflictError.code,
      `document "${key}" is at version ${actualVersion}, not ${expectedVersion}; read it again, re-apply your change and retry`);
    this.key = key;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** Every code of the document store: what it means and what to do. */
export const DOCUMENT_ERRORS = defineErrorCatalogue('db/documents', [
  { errorClass: DocumentConfigError,
    meaning: 'Invalid options given to a document store or loader; the message names the option.',
    action: 'Fix the named option.' },
  { errorClass: DocumentPatchError,
    meaning: 'A patch operation, path or value that cannot be applied.',
    action: 'Paths are non-empty lists of keys and array indexes, and values must be JSON; fix the patch.' },
  { errorClass: DocumentNotFoundError,
    meaning: 'The document does not exist.',
    action: 'Create it first, with `create` or `put`.' },
  { errorClass: DocumentExistsError,
    meaning: '`create` met a document that already exists.',
    action: 'Use `put` or `patch` to change an existing document.' },
  { errorClass: DocumentVersionConflictError,
    meaning: 'The caller\'s `expectedVersion` is not the stored one: someone else changed the document since the caller read it.',
    action: 'Read the document again, re-apply the change and retry.' },
]);
