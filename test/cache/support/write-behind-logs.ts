import { PostgresTableLog, RedisStreamLog } from '../../../src/cache/index.js';
import type { WriteBehindLog } from '../../../src/cache/index.js';

/** The two kinds of write-behind log the same tests run against. */
export type LogKind = 'redis' | 'postgres';

/**
 * A log of `kind` named `name` (a stream, or a table): on the Redis at `redisUrl` (its
 * offsets in `offsetsTable`), or in the database at `databaseUrl`.
 */
export function openLog(kind: LogKind, name: string, urls: { redisUrl: string; databaseUrl: string }, offsetsTable?: string): WriteBehindLog {
  return kind === 'redis'
    ? new RedisStreamLog({ stream: name, url: urls.redisUrl, ...(offsetsTable === undefined ? {} : { offsetsTable }) })
    : new PostgresTableLog({ table: name, connectionString: urls.databaseUrl, pollMs: 20 });
}
