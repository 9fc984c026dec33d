/** Small helpers over pg clients shared by the router's read and write paths. */
import type pg from 'pg';
import type { QueryResult, QueryResultRow } from 'pg';
import type { DbResult, TransactionOptions } from './database.js';
import { failureKind } from './error-mapping.js';
import { DatabaseOptionsError } from './errors.js';

/** Sends several queries on one client in one write, so they share a round trip. */
export function pipelined<T extends readonly Promise<unknown>[]>(client: pg.PoolClient, send: () => T): T {
  const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
  stream?.cork?.();
  let queries: T;
  try {
    queries = send();
  } finally {
    stream?.uncork?.();
  }
  // Whichever is not awaited must not become an unhandled rejection.
  for (const query of queries) query.catch(() => {});
  return queries;
}

/** A multi-statement text answers with one result per statement: keep the last. */
export function last<R extends QueryResultRow>(result: QueryResult<R> | QueryResult<R>[]): DbResult<R> {
  return (Array.isArray(result) ? result[result.length - 1] : result) as DbResult<R>;
}

const BROKEN_CODES = new Set(['SCALEOUT_DB_CONNECTION_LOST', 'SCALEOUT_DB_UNREACHABLE', 'SCALEOUT_DB_FAILOVER_IN_PROGRESS']);

/** The connection is unusable after this error (also when already mapped to a ScaleoutError). */
export function isBroken(err: unknown): boolean {
  const kind = failureKind(err);
  return kind === 'connect' || kind === 'connection' || BROKEN_CODES.has((err as { code?: string } | null)?.code ?? '');
}

/** A statement like `BEGIN` left the connection inside a transaction: it must not go back to the pool. */
export function openTransaction(client: pg.PoolClient): boolean {
  const status = (client as unknown as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
  return status === 'T' || status === 'E';
}

export function beginStatement(options: TransactionOptions): string {
  let sql = 'BEGIN';
  if (options.isolation !== undefined) {
    const isolation = { 'read committed': 'READ COMMITTED', 'repeatable read': 'REPEATABLE READ', serializable: 'SERIALIZABLE' }[options.isolation];
    if (!isolation) throw new DatabaseOptionsError('isolation', options.isolation, "'read committed', 'repeatable read' or 'serializable'");
    sql += ` ISOLATION LEVEL ${isolation}`;
  }
  if (options.readOnly) sql += ' READ ONLY';
  return sql;
}
