import { isScaleoutError } from '../internal/errors.js';
import {
  ConnectionLostError, DatabaseUnreachableError, DeadlockError, FailoverInProgressError, QueryError,
  ReadOnlyNodeError, SerializationFailureError,
} from './errors.js';

/** What kind of failure an error from pg is, for routing decisions. */
export type FailureKind = 'connect' | 'connection' | 'read-only' | 'conflict' | 'statement' | 'other';

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ETIMEDOUT']);
const CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
// 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up, in recovery)
const SHUTDOWN_STATES = new Set(['57P01', '57P02', '57P03']);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isPgError(err: unknown): err is Error & { code: string; severity?: string; constraint?: string; detail?: string } {
  const code = codeOf(err);
  return err instanceof Error && code !== undefined && /^[0-9A-Z]{5}$/.test(code) && 'severity' in err;
}

/** Classifies an error thrown by pg (or by the socket under it). */
export function failureKind(err: unknown): FailureKind {
  if (isScaleoutError(err)) return 'other';
  const code = codeOf(err);
  if (isPgError(err)) {
    if (code === '25006') return 'read-only';
    if (code === '40001' || code === '40P01') return 'conflict';
    if (code !== undefined && (code.startsWith('08') || SHUTDOWN_STATES.has(code))) return 'connection';
    return 'statement';
  }
  if (code !== undefined && CONNECT_CODES.has(code)) return 'connect';
  if (code !== undefined && CONNECTION_CODES.has(code)) return 'connection';
  const message = err instanceof Error ? err.message : '';
  if (/timeout exceeded when trying to connect|connection timeout/i.test(message)) return 'connect';
  if (/Connection terminated|not queryable|Client was closed|socket hang up/i.test(message)) return 'connection';
  return 'other';
}

/**
 * Turns a pg error into the matching ScaleoutError, keeping the pg error as `cause`.
 * Errors that are not from pg (a throw in the caller's own transaction code) pass
 * through untouched.
 */
export function toDbError(err: unknown, node: string, context: { failoverPending: boolean }): unknown {
  const kind = failureKind(err);
  switch (kind) {
    case 'connect':
      return context.failoverPending ? new FailoverInProgressError({ cause: err }) : new DatabaseUnreachableError(node, { cause: err });
    case 'connection':
      return context.failoverPending ? new FailoverInProgressError({ cause: err }) : new ConnectionLostError(node, { cause: err });
    case 'read-only':
      return new ReadOnlyNodeError(node, { cause: err });
    case 'conflict':
      return codeOf(err) === '40P01' ? new DeadlockError({ cause: err }) : new SerializationFailureError({ cause: err });
    case 'statement': {
      const pgErr = err as Error & { code: string; constraint?: string; detail?: string };
      return new QueryError(pgErr.message, { sqlState: pgErr.code, constraint: pgErr.constraint, detail: pgErr.detail }, { cause: err });
    }
    default:
      return err;
  }
}
