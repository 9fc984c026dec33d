import { defineErrorCatalogue } from '../internal/error-catalogue.js';
import { ScaleoutError } from '../internal/errors.js';

/** Options every database error accepts: the underlying pg error, if any. */
export interface DbErrorOptions {
  cause?: unknown;
}

/** Invalid `createDatabase` options. Raised once, at construction. */
export class DatabaseOptionsError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_INVALID_OPTIONS';
  constructor(field: string, value: unknown, allowed: string) {
    super(DatabaseOptionsError.code,
      `option "${field}" is ${describe(value)}; it must be ${allowed}`);
  }
}

/** No connection could be opened to a node (refused, timed out, DNS, authentication). */
export class DatabaseUnreachableError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_UNREACHABLE';
  readonly node: string;
  constructor(node: string, options: DbErrorOptions = {}) {
    super(DatabaseUnreachableError.code,
      `cannot connect to PostgreSQL at ${node}; check that it runs and accepts connections, then retry`,
      { ...options, retriable: true });
    this.node = node;
  }
}

/**
 * The connection broke while a statement was running. For a write the outcome is
 * unknown: it may have committed. Retry only statements that are safe to repeat.
 */
export class ConnectionLostError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_CONNECTION_LOST';
  readonly node: string;
  constructor(node: string, options: DbErrorOptions = {}) {
    super(ConnectionLostError.code,
      `the connection to ${node} was lost mid-statement; a write may or may not have committed, ` +
      'so retry it only if it is idempotent',
      { ...options, retriable: true });
    this.node = node;
  }
}

/** 40001: the transaction lost a serialization conflict (or a recovery conflict on a replica). */
export class SerializationFailureError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_SERIALIZATION_FAILURE';
  constructor(options: DbErrorOptions = {}) {
    super(SerializationFailureError.code,
      'the transaction conflicted with a concurrent one and was rolled back; run the whole transaction again',
      { ...options, retriable: true });
  }
}

/** 40P01: PostgreSQL broke a deadlock by aborting this transaction. */
export class DeadlockError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_DEADLOCK';
  constructor(options: DbErrorOptions = {}) {
    super(DeadlockError.code,
      'the transaction was chosen as a deadlock victim and rolled back; run it again, ' +
      'and take row locks in one consistent order to avoid this',
      { ...options, retriable: true });
  }
}

/**
 * 25006: a write reached a node that only reads: a replica, or an old primary that was
 * fenced after a failover. The router refreshes its view of the roles; retry.
 */
export class ReadOnlyNodeError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_READ_ONLY';
  readonly node: string;
  constructor(node: string, options: DbErrorOptions = {}) {
    super(ReadOnlyNodeError.code,
      `${node} refused a write because it is read-only (a replica or a fenced old primary); ` +
      'retry once the router has found the current primary',
      { ...options, retriable: true });
    this.node = node;
  }
}

/** The primary is down and a failover is under way (or about to start). */
export class FailoverInProgressError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_FAILOVER_IN_PROGRESS';
  constructor(options: DbErrorOptions = {}) {
    super(FailoverInProgressError.code,
      'the primary is unavailable and a failover is in progress; retry in a moment ' +
      '(a write that was in flight may or may not have committed)',
      { ...options, retriable: true });
  }
}

/** No node currently acts as a writable primary, and no failover will make one. */
export class NoPrimaryError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_NO_PRIMARY';
  constructor(options: DbErrorOptions = {}) {
    super(NoPrimaryError.code,
      'no reachable PostgreSQL node accepts writes; start or promote a primary, ' +
      'or enable failover so the router promotes a replica',
      { ...options, retriable: true });
  }
}

/** COMMIT answered ROLLBACK: a statement in the transaction had failed. */
export class TransactionAbortedError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_TRANSACTION_ABORTED';
  constructor(options: DbErrorOptions = {}) {
    super(TransactionAbortedError.code,
      'the transaction was rolled back at COMMIT because a statement in it had failed; ' +
      'do not swallow errors inside a transaction, and run it again',
      options);
  }
}

/** Any other error PostgreSQL raised for a statement (constraint, syntax, permission...). */
export class QueryError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_QUERY_FAILED';
  /** The PostgreSQL SQLSTATE, e.g. `23505` for a unique violation. */
  readonly sqlState: string | undefined;
  readonly constraint: string | undefined;
  readonly detail: string | undefined;
  constructor(message: string, fields: { sqlState?: string; constraint?: string; detail?: string }, options: DbErrorOptions = {}) {
    super(QueryError.code,
      `${message}${fields.sqlState ? ` (SQLSTATE ${fields.sqlState})` : ''}; fix the statement or its data`,
      options);
    this.sqlState = fields.sqlState;
    this.constraint = fields.constraint;
    this.detail = fields.detail;
  }
}

/** The database handle was closed. */
export class DatabaseClosedError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DB_CLOSED';
  constructor() {
    super(DatabaseClosedError.code, 'the database handle was closed; create a new one with createDatabase()');
  }
}

/** Every code of the database router: what it means and what to do. */
export const DB_ERRORS = defineErrorCatalogue('db', [
  { errorClass: DatabaseOptionsError,
    meaning: 'Invalid `createDatabase` options; the message names the option, the value and what is allowed.',
    action: 'Fix the named option. Options are checked once, when the database handle is created.' },
  { errorClass: DatabaseUnreachableError,
    meaning: 'No connection could be opened to a PostgreSQL node: refused, timed out, DNS, or authentication failed. Retriable.',
    action: 'Check that the node runs and accepts connections (address, `pg_hba.conf`, password), then retry.' },
  { errorClass: ConnectionLostError,
    meaning: 'The connection broke while a statement was running. For a write the outcome is unknown: it may have committed.',
    action: 'Retry only statements that are safe to repeat; for others, read back whether the write happened.' },
  { errorClass: SerializationFailureError,
    meaning: 'SQLSTATE 40001: the transaction lost a serialization conflict with a concurrent one (or a recovery conflict on a replica) and was rolled back.',
    action: 'Run the whole transaction again, from its first statement.' },
  { errorClass: DeadlockError,
    meaning: 'SQLSTATE 40P01: PostgreSQL broke a deadlock by aborting this transaction.',
    action: 'Run the transaction again, and take row locks in one consistent order so it does not recur.' },
  { errorClass: ReadOnlyNodeError,
    meaning: 'SQLSTATE 25006: a write reached a node that only reads, a replica or an old primary fenced after a failover. The router refreshes its view of the roles.',
    action: 'Retry; the next attempt goes to the current primary.' },
  { errorClass: FailoverInProgressError,
    meaning: 'The primary is unavailable and a failover is under way or about to start. A write that was in flight may or may not have committed.',
    action: 'Retry in a moment; idempotent writes can be retried as they are.' },
  { errorClass: NoPrimaryError,
    meaning: 'No reachable PostgreSQL node accepts writes, and no failover will make one.',
    action: 'Start or promote a primary, or enable failover so the router promotes a replica.' },
  { errorClass: TransactionAbortedError,
    meaning: 'COMMIT answered ROLLBACK because a statement inside the transaction had failed.',
    action: 'Do not swallow errors inside a transaction; fix the failing statement and run the transaction again.' },
  { errorClass: QueryError,
    meaning: 'PostgreSQL refused a statement for a reason of its own: a constraint, syntax, a permission. `sqlState`, `constraint` and `detail` say which.',
    action: 'Fix the statement or its data; retrying unchanged fails the same way.' },
  { errorClass: DatabaseClosedError,
    meaning: 'A query on a database handle after `close()`.',
    action: 'Create a new handle with `createDatabase()`, or close the handle only at shutdown.' },
]);

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
