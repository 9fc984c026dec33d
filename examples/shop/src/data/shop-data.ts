import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createDatabase, createShardedDatabase, primaryShard, replicatedShard } from 'scaleout/db';
import type { Database, DatabaseLogger, ShardedDatabase } from 'scaleout/db';
import { hashPassword } from '../passwords.js';
import { CATALOGUE_MIGRATIONS, migrate, SHARD_MIGRATIONS } from './migrations.js';
import { seedDemoOrders } from './demo-orders.js';
import { SEED_PRODUCTS, SEED_USERS } from './seed-data.js';

/** Users and orders are spread over this many shard databases. @defaultValue 2 */
export const SHARD_COUNT = 2;
/** Connections per database node and instance. @defaultValue 4 */
export const DEFAULT_POOL_MAX = 4;
/** How long a start waits to reach PostgreSQL. @defaultValue 10000 */
export const SETUP_CONNECT_TIMEOUT_MS = 10_000;
// One lock for the whole set-up: instances started together take turns, and the
// first one creates the shard databases, migrates and seeds; the others find it done.
const SETUP_LOCK_SQL = "SELECT pg_advisory_lock(hashtext('scaleout-shop.setup'))";

/** The shard tables and their shard keys: a user, the user's orders and document share a shard. */
export const SHARDED_TABLES = {
  users: { shardKey: 'id' }, orders: { shardKey: 'user_id' }, user_documents: { shardKey: 'user_id' },
} as const;

export interface ShopDataOptions {
  /** The catalogue primary; the shard databases are created on the same server. */
  databaseUrl: string;
  /** The catalogue's streaming replicas; shard reads use the same servers. @defaultValue [] */
  replicaUrls?: readonly string[];
  /** Shard databases are named `<shardPrefix>_0` and `<shardPrefix>_1`. */
  shardPrefix: string;
  /** @defaultValue {@link DEFAULT_POOL_MAX} */
  poolMax?: number;
  /** Orders of demo customers seeded on a fresh start (see `seedDemoOrders`). @defaultValue 0 */
  demoOrders?: number;
  logger?: DatabaseLogger;
}

/** Everything the shop stores, opened and migrated. */
export interface ShopData {
  /** Products: written at start, read through the replicas. */
  readonly catalogue: Database;
  /** Users and orders, routed by user id. */
  readonly shards: ShardedDatabase;
  close(): Promise<void>;
}

/** `url` with its database name replaced. */
export function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** The names of the shard databases for a prefix. */
export function shardNames(prefix: string): string[] {
  return Array.from({ length: SHARD_COUNT }, (_, i) => `${prefix}_${i}`);
}

/**
 * Opens the shop's data: creates the shard databases if missing (in production each
 * shard is its own server; here they share the catalogue's, which keeps one replica set
 * to run), applies migrations, seeds the catalogue and the users, and connects the
 * replica routers and the shard router. Safe when several instances start at once.
 */
export async function openShopData(options: ShopDataOptions): Promise<ShopData> {
  const replicaUrls = options.replicaUrls ?? [];
  const names = shardNames(options.shardPrefix);
  const poolMax = options.poolMax ?? DEFAULT_POOL_MAX;
  const open: Database[] = [];
  const connect = (primary: string): Database => {
    const db = createDatabase({
      primary,
      replicas: replicaUrls.map((url) => databaseUrl(url, new URL(primary).pathname.slice(1))),
      pool: { max: poolMax },
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    open.push(db);
    return db;
  };

  const lock = new pg.Client({ connectionString: options.databaseUrl, connectionTimeoutMillis: SETUP_CONNECT_TIMEOUT_MS });
  lock.on('error', () => undefined);
  try {
    await lock.connect();
    await lock.query(SETUP_LOCK_SQL);
    await migrate(lock, CATALOGUE_MIGRATIONS);
    await seedProducts(lock);
    // Shards added by `scaleout reshard` are in the directory: open them too.
    for (const name of await directoryShards(lock)) if (!names.includes(name)) names.push(name);
    for (const name of names) await createDatabaseIfMissing(lock, name);
    const shardClients = await Promise.all(names.map(async (name) => {
      const client = new pg.Client({ connectionString: databaseUrl(options.databaseUrl, name), connectionTimeoutMillis: SETUP_CONNECT_TIMEOUT_MS });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    }));
    try {
      for (const client of shardClients) await migrate(client, SHARD_MIGRATIONS);
      const catalogue = connect(options.databaseUrl);
      const backends = Object.fromEntries(names.map((name) => [name, replicatedShard(name, connect(databaseUrl(options.databaseUrl, name)))]));
      const shards = await createShardedDatabase({
        shards: backends,
        directory: primaryShard(catalogue),
        tables: SHARDED_TABLES,
        closeBackends: false,
        onRefreshError: (err) => options.logger?.warn({ err: (err as Error).message }, 'shard directory refresh failed'),
      });
      await seedUsers(shards, shardClients);
      await seedDemoOrders(shards, options.demoOrders ?? 0, Date.now());
      return {
        catalogue,
        shards,
        async close() {
          await shards.close();
          await Promise.all(open.map((db) => db.close()));
        },
      };
    } finally {
      await Promise.all(shardClients.map((c) => c.end().catch(() => undefined)));
    }
  } catch (err) {
    await Promise.all(open.map((db) => db.close().catch(() => undefined)));
    throw err;
  } finally {
    // Ending the session releases the advisory lock.
    await lock.end().catch(() => undefined);
  }
}

/** Shard names the bucket directory already uses (none before the first start). */
async function directoryShards(client: pg.Client): Promise<string[]> {
  const table = await client.query("SELECT to_regclass('scaleout_shard_directory') IS NOT NULL AS present");
  if (table.rows[0]?.present !== true) return [];
  const found = await client.query<{ shard: string }>('SELECT DISTINCT shard FROM scaleout_shard_directory ORDER BY shard');
  return found.rows.map((row) => row.shard);
}

async function createDatabaseIfMissing(client: pg.Client, name: string): Promise<void> {
  const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (found.rows.length > 0) return;
  await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
}

async function seedProducts(client: pg.Client): Promise<void> {
  for (const p of SEED_PRODUCTS) {
    await client.query(
      'INSERT INTO products (id, name, description, price, icon) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING',
      [p.id, p.name, p.description, p.price, p.icon]);
  }
}

/** Adds the seed users that no shard has yet; looked up on the shard primaries, so nothing is seeded twice. */
async function seedUsers(shards: ShardedDatabase, shardClients: readonly pg.Client[]): Promise<void> {
  for (const user of SEED_USERS) {
    const found = await Promise.all(shardClients.map((c) => c.query('SELECT 1 FROM users WHERE username = $1', [user.username])));
    if (found.some((r) => r.rows.length > 0)) continue;
    const id = randomUUID();
    await shards.forKey(id).query(
      'INSERT INTO users (id, username, name, password_hash) VALUES ($1, $2, $3, $4)',
      [id, user.username, user.name, await hashPassword(user.password)]);
  }
}
