import type pg from 'pg';
import { USER_DOCUMENTS_SQL } from './user-documents.js';

/** One schema change, applied once per database and recorded by name. */
export interface Migration {
  name: string;
  sql: string;
}

/** The catalogue database (the primary named by `DATABASE_URL`, read through its replicas). */
export const CATALOGUE_MIGRATIONS: readonly Migration[] = [
  {
    name: '001-products',
    sql: `CREATE TABLE products (
      id int PRIMARY KEY,
      name text NOT NULL,
      description text NOT NULL DEFAULT '',
      price int NOT NULL CHECK (price >= 0),
      icon text NOT NULL DEFAULT '',
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
  },
  {
    // Units in stock: an order takes its quantities off (never below 0), after it is stored.
    name: '002-product-stock',
    sql: 'ALTER TABLE products ADD COLUMN stock int NOT NULL DEFAULT 100 CHECK (stock >= 0)',
  },
  {
    // Order exports under the postgres profile (with Redis they live in Redis): who
    // started each one, and its CSV once done; rows past expires_at are gone.
    name: '003-order-exports',
    sql: `CREATE TABLE order_exports (
      id text PRIMARY KEY,
      owner text NOT NULL,
      csv text,
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX order_exports_expires_idx ON order_exports (expires_at)`,
  },
];

/**
 * Every shard: users and their orders, both sharded by user id, so a user's orders
 * live next to the user and one shard answers everything about one user.
 */
export const SHARD_MIGRATIONS: readonly Migration[] = [
  {
    name: '001-users',
    sql: `CREATE TABLE users (
      id text PRIMARY KEY,
      username text NOT NULL UNIQUE,
      name text NOT NULL,
      password_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
  },
  {
    name: '002-orders',
    // doc: the order as placed (items with the names and prices of that moment), so
    // later catalogue changes never rewrite history. total and item_count are copied
    // out of it for lists that do not need the whole document.
    sql: `CREATE TABLE orders (
      id uuid PRIMARY KEY,
      user_id text NOT NULL REFERENCES users (id),
      total bigint NOT NULL,
      item_count int NOT NULL,
      created_at timestamptz NOT NULL,
      doc jsonb NOT NULL
    );
    CREATE INDEX orders_user_newest_idx ON orders (user_id, id DESC)`,
  },
  { name: '003-user-documents', sql: USER_DOCUMENTS_SQL },
  {
    // "Bought together" on a product page looks up the orders holding a product:
    // `doc->'items' @> '[{"productId": 3}]'` uses this index instead of reading every order.
    name: '004-order-items-index',
    sql: "CREATE INDEX IF NOT EXISTS orders_items_idx ON orders USING gin ((doc->'items') jsonb_path_ops)",
  },
];

/**
 * Applies the migrations `client`'s database has not seen yet, in order, each in its
 * own transaction with its record. The caller serialises concurrent starts (see
 * `prepareDatabases`).
 */
export async function migrate(client: pg.Client, migrations: readonly Migration[]): Promise<string[]> {
  await client.query(`CREATE TABLE IF NOT EXISTS shop_migrations (
    name text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const done = new Set((await client.query<{ name: string }>('SELECT name FROM shop_migrations')).rows.map((r) => r.name));
  const applied: string[] = [];
  for (const migration of migrations) {
    if (done.has(migration.name)) continue;
    await client.query('BEGIN');
    try {
      await client.query(migration.sql);
      await client.query('INSERT INTO shop_migrations (name) VALUES ($1)', [migration.name]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    applied.push(migration.name);
  }
  return applied;
}
