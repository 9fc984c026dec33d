import { ScaleoutError } from '../internal/errors.js';

/** Options every database error accepts: the underlying pg error, if any. */
export interface DbErrorOptions {
  cause?: unknown;
}

/** Invalid `createDatabase` options. Raised once, at construction. */
export class DatabaseOptionsError extends ScaleoutError {
  constructor(field: string, value: unknown, allowed: string) {
    super('SCALEOUT_DB_INVALID_OPTIONS',
      `option "${field}" is ${describe(value)}; it must be ${allowed}`);
  }
}

/** No connection could be opened to a node (refused, timed out, DNS, authentication). */
export class DatabaseUnreachableError extends ScaleoutError {
  readonly node: string;
  constructor(node: string, options: DbErrorOptions = {}) {
    super('SCALEOUT_DB_UNREACHABLE',
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
  readonly node: string;
  constructor(node: string, options: DbErrorOptions = {}) {
    super('SCALEOUT_DB_CONNECTION_LOST',
      `the connection to ${node} was lost mid-statement; a write may or may not have committed, ` +
      'so retry it only if it is idempotent',
      { ...options, retriable: true });
    this.node = node;
  }
}

/** 40001: the transaction lost a serialization conflict (or a recovery conflict on a replica). */
export class SerializationFailureError extends ScaleoutError {
  constructor(options: DbErrorOptions = {}) {
    super('SCALEOUT_DB_SERIALIZATION_FAILURE',
      'the transaction conflicted with a concurrent one and was rolled back; run the whole transaction again',
      { ...options, retriable: true });
  }
}

/** 40P01: PostgreSQL broke a deadlock by aborting this transaction. */
export class DeadlockError extends ScaleoutError {
  constructor(options: DbErrorOptions = {}) {
    super('SCALEOUT_DB_DEADLOCK',
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
  readonly node: string;
  constructor(node: string, options: DbErrorOptions = {}) {
    super('SCALEOUT_DB_READ_ONLY',
      `${node} refused a write because it is read-only (a replica or a fenced old primary); ` +
      'retry once the router has found the current primary',
      { ...options, retriable: true });
    this.node = node;
  }
}

/** The primary is down and a failover is under way (or about to start). */
export class FailoverInProgressError extends ScaleoutError {
  constructor(options: DbErrorOptions = {}) {
    super('SCALEOUT_DB_FAILOVER_IN_PROGRESS',
      'the primary is unavailable and a failover is in progress; retry in a moment ' +
      '(a write that was in flight may or may not have committed)',
      { ...options, retriable: true });
  }
}

/** No node currently acts as a writable primary, and no failover will make one. */
export class NoPrimaryError extends ScaleoutError {
  constructor(options: DbErrorOptions = {}) {
    super('SCALEOUT_DB_NO_PRIMARY',
      'no reachable PostgreSQL node accepts writes; start or promote a primary, ' +
      'or enable failover so the router promotes a replica',
      { ...options, retriable: true });
  }
}

/** COMMIT answered ROLLBACK: a statement in the transaction had failed. */
export class TransactionAbortedError extends ScaleoutError {
  constructor(options: DbErrorOptions = {}) {
    super('SCALEOUT_DB_TRANSACTION_ABORTED',
      'the transaction was rolled back at COMMIT because a statement in it had failed; ' +
      'do not swallow errors inside a transaction, and run it again',
      options);
  }
}

/** Any other error PostgreSQL raised for a statement (constraint, syntax, permission...). */
export class QueryError extends ScaleoutError {
  /** The PostgreSQL SQLSTATE, e.g. `23505` for a unique violation. */
  readonly sqlState: string | undefined;
  readonly constraint: string | undefined;
  readonly detail: string | undefined;
  constructor(message: string, fields: { sqlState?: string; constraint?: string; detail?: string }, options: DbErrorOptions = {}) {
    super('SCALEOUT_DB_QUERY_FAILED',
      `${message}${fields.sqlState ? ` (SQLSTATE ${fields.sqlState})` : ''}; fix the statement or its data`,
      options);
    this.sqlState = fields.sqlState;
    this.constraint = fields.constraint;
    this.detail = fields.detail;
  }
}

/** The database handle was closed. */
export class DatabaseClosedError extends ScaleoutError {
  constructor() {
    super('SCALEOUT_DB_CLOSED', 'the database handle was closed; create a new one with createDatabase()');
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
