import pg from 'pg';
import { fromPool } from './backend.js';
import { ShardConfigError } from './errors.js';
import type { ReshardOptions, ReshardProgress, ReshardResult } from './reshard.js';
import { createShardedDatabase } from './sharded-database.js';
import { resolveReshardPoolSize } from './sharding-options.js';
import type { ShardedTable } from './shard-schema.js';

// Defined with the router's other defaults; still exported from here.
export { DEFAULT_RESHARD_POOL_SIZE } from './sharding-options.js';

/** What `scaleout reshard` passes: connection strings instead of backends. */
export interface RunReshardOptions extends ReshardOptions {
  /** PostgreSQL URL of the database holding the shard directory. */
  directoryUrl: string;
  /** PostgreSQL URL of every shard, by name (all of them, not only source and target). */
  shardUrls: Readonly<Record<string, string>>;
  tables: Readonly<Record<string, ShardedTable>>;
  /** Must match the directory's when given. @defaultValue the stored count */
  buckets?: number;
  /** @defaultValue {@link DEFAULT_RESHARD_POOL_SIZE} */
  poolSize?: number;
}

/**
 * Opens the directory and the shards, runs one reshard (or only recovery), and closes
 * everything, whatever happens. Prints nothing: every step goes to `progress`.
 *
 * @example
 * await runReshard({ directoryUrl, shardUrls: { s1, s2, s3 }, tables: { orders: { shardKey: 'user_id' } },
 *   targetShard: 's3' }, (e) => console.log(e.message));
 */
export async function runReshard(options: RunReshardOptions, progress?: ReshardProgress): Promise<ReshardResult> {
  if (typeof options.directoryUrl !== 'string' || options.directoryUrl.length === 0) {
    throw new ShardConfigError('directoryUrl is required (the PostgreSQL URL of the shard directory)');
  }
  const urls = Object.entries(options.shardUrls ?? {});
  if (urls.length === 0) throw new ShardConfigError('shardUrls is empty; give every shard as name=url');
  const max = resolveReshardPoolSize(options.poolSize);
  const opened: pg.Pool[] = [];
  const open = (connectionString: string) => {
    const connections = new pg.Pool({ connectionString, max, application_name: 'scaleout-reshard' });
    opened.push(connections);
    return fromPool(connections);
  };
  try {
    const directory = open(options.directoryUrl);
    const shards = Object.fromEntries(urls.map(([name, url]) => [name, open(url)]));
    const db = await createShardedDatabase({
      shards, directory, tables: options.tables, refreshIntervalMs: 0, closeBackends: false,
      ...(options.buckets === undefined ? {} : { buckets: options.buckets }),
    });
    try {
      return await db.reshard(options, progress);
    } finally {
      await db.close();
    }
  } finally {
    await Promise.all(opened.map((connections) => connections.end().catch(() => undefined)));
  }
}
