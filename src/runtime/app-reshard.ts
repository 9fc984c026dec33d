import pg from 'pg';
import { runReshard } from '../db/index.js';
import type { ShardsConfig } from './config.js';
import { DbRequestError } from './errors.js';
import type { SupervisorEvent } from './instance.js';
import { databaseNameOf, resolveShardUrls, withDatabase } from './shard-urls.js';
import { copyTableDefinitions } from './table-schema-copy.js';

/** Connections of the reshard's preparation steps give up after this. @defaultValue 10000 */
export const RESHARD_CONNECT_TIMEOUT_MS = 10_000;

export interface AppReshardRequest {
  /** The shard (database name) the buckets move to. */
  to: string;
  /** Buckets to move. */
  buckets?: number;
  /** Share of all buckets to move (0 < fraction <= 1). */
  fraction?: number;
}

/** What `scaleout reshard` did. */
export interface AppReshardResult {
  target: string;
  /** The target database did not exist and was created. */
  createdDatabase: boolean;
  /** Tables created on the target from another shard's definitions. */
  createdTables: string[];
  moved: number;
  /** Buckets moved away from each source shard. */
  from: Record<string, number>;
  /** Buckets of an earlier, interrupted reshard that were finished or undone first. */
  recovered: number;
}

/**
 * `count` buckets for `target`, taken one at a time from whichever other shard owns
 * the most, its highest bucket first: the same rule as the fair-share plan of
 * `scaleout/db`, for a given count. Deterministic.
 */
export function pickBuckets(owned: ReadonlyMap<string, readonly number[]>, target: string, count: number): number[] {
  const donors = [...owned].filter(([shard]) => shard !== target).map(([, buckets]) => [...buckets].sort((a, b) => a - b));
  const available = donors.reduce((n, buckets) => n + buckets.length, 0);
  if (count > available) {
    throw new DbRequestError('INVALID', `${count} buckets asked for, but the other shards own ${available}; ask for at most ${available}`);
  }
  const picked: number[] = [];
  for (let i = 0; i < count; i++) {
    let donor = donors[0]!;
    for (const buckets of donors) if (buckets.length > donor.length) donor = buckets;
    picked.push(donor.pop()!);
  }
  return picked.sort((a, b) => a - b);
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: RESHARD_CONNECT_TIMEOUT_MS, application_name: 'scaleout-reshard' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(url);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates `name` on the server of `url` unless it exists; true when created. */
async function ensureDatabase(url: string, name: string): Promise<boolean> {
  return withClient(withDatabase(url, 'postgres'), async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rows.length > 0) return false;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    return true;
  });
}

/**
 * Moves shard buckets to `request.to` with `runReshard` of `scaleout/db`, from the
 * app's `db.shards` config. A target that is not a shard yet is made one first: its
 * database is created on the primary's server when missing, and the sharded tables
 * are created there as the first configured shard defines them. Each reshard step
 * is reported as one line.
 */
export async function reshardApp(config: ShardsConfig | undefined, primaryUrl: string | undefined, request: AppReshardRequest,
  report: (event: SupervisorEvent) => void): Promise<AppReshardResult> {
  if (config === undefined) {
    throw new DbRequestError('NO_SHARDS', 'scaleout.config has no db.shards section; add db: { shards: { databases: [...], tables: { <table>: { shardKey: "<column>" } } } }');
  }
  const tables = Object.keys(config.tables);
  if (tables.length === 0) {
    throw new DbRequestError('NO_SHARDS', 'db.shards.tables is empty; name every sharded table and its shard key, e.g. tables: { orders: { shardKey: "user_id" } }');
  }
  if (primaryUrl === undefined) throw new DbRequestError('NOT_EMBEDDED', 'there is no PostgreSQL in this deployment (engines.postgres is false and no DATABASE_URL)');
  const { directoryUrl, directoryName } = resolveShardUrls(config, primaryUrl);
  const owned = await readOwnedBuckets(directoryUrl, directoryName);
  // Shards the directory names but the config does not (an earlier --to) are databases on the primary's server.
  const urls = resolveShardUrls(config, primaryUrl, [...owned.keys(), request.to]);
  const targetUrl = urls.shards.get(request.to)!;
  const isNew = !config.databases.some((ref) => databaseNameOf(ref) === request.to);

  const total = [...owned.values()].reduce((n, b) => n + b.length, 0);
  const count = request.buckets ?? (request.fraction === undefined ? undefined : Math.max(1, Math.round(request.fraction * total)));
  const bucketsToMove = count === undefined ? undefined : pickBuckets(owned, request.to, count);

  const createdDatabase = await ensureDatabase(targetUrl, request.to);
  if (createdDatabase) report({ level: 'step', message: `created database ${request.to}` });
  const sourceName = [...urls.shards.keys()].find((n) => n !== request.to);
  let createdTables: string[] = [];
  if (sourceName !== undefined) {
    createdTables = await withClient(urls.shards.get(sourceName)!, (source) =>
      withClient(targetUrl, (target) => copyTableDefinitions(source, target, tables)));
    if (createdTables.length > 0) report({ level: 'step', message: `created tables ${createdTables.join(', ')} on ${request.to} as ${sourceName} defines them` });
  }
  if (isNew) {
    report({ level: 'warn', message: `${request.to} is not in db.shards.databases: add it there and to the app's shard router, or the app cannot reach the buckets moved to it` });
  }

  const result = await runReshard({
    directoryUrl,
    shardUrls: Object.fromEntries(urls.shards),
    tables: config.tables,
    targetShard: request.to,
    ...(bucketsToMove === undefined ? {} : { bucketsToMove }),
  }, (event) => {
    report({ level: 'step', message: event.message });
  });
  const from: Record<string, number> = {};
  for (const m of result.moved) from[m.from] = (from[m.from] ?? 0) + 1;
  return { target: request.to, createdDatabase, createdTables, moved: result.moved.length, from, recovered: result.recovered.length };
}

async function readOwnedBuckets(directoryUrl: string, directoryName: string): Promise<Map<string, number[]>> {
  return withClient(directoryUrl, async (client) => {
    const exists = await client.query<{ present: boolean }>("SELECT to_regclass('scaleout_shard_directory') IS NOT NULL AS present");
    if (exists.rows[0]?.present !== true) {
      throw new DbRequestError('NO_SHARDS', `there is no shard directory in database ${directoryName} yet; start the app once (its shard router creates it), or set db.shards.directory`);
    }
    const rows = await client.query<{ shard: string; buckets: number[] }>(
      'SELECT shard, array_agg(bucket ORDER BY bucket) AS buckets FROM scaleout_shard_directory GROUP BY shard');
    return new Map(rows.rows.map((r) => [r.shard, r.buckets]));
  });
}
