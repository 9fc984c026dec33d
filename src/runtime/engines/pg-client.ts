import pg from 'pg';
import { POSTGRES_SUPERUSER } from './postgres-config.js';

/** Where to reach one server as the superuser. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

/** How long to wait for a TCP connection before giving up. @defaultValue `5000` */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * Runs `fn` with a connected superuser client and always closes it. The client's
 * `error` event is handled, so a server dying mid-call rejects instead of crashing
 * the process.
 */
export async function withClient<T>(
  address: ServerAddress,
  fn: (client: pg.Client) => Promise<T>,
  options: { database?: string; connectTimeoutMs?: number } = {},
): Promise<T> {
  const client = new pg.Client({
    host: address.host,
    port: address.port,
    user: POSTGRES_SUPERUSER,
    database: options.database ?? 'postgres',
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs one statement and returns its rows. */
export function queryRows<R extends pg.QueryResultRow>(
  address: ServerAddress,
  sql: string,
  params: unknown[] = [],
  options: { database?: string; connectTimeoutMs?: number } = {},
): Promise<R[]> {
  return withClient(address, async (client) => (await client.query<R>(sql, params)).rows, options);
}

/** SQLSTATE of a pg error, if it has one. */
export function sqlState(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
