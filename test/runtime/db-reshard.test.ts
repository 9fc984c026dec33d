import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShardedDatabase, fromPool } from '../../src/db/index.js';
import type { RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, EXTERNAL_ENGINES, removeApp, runCli, UpProcess } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

const SERVER = EXTERNAL_ENGINES.DATABASE_URL.replace(/\/[^/]*$/, '');
const TABLES = { users: { shardKey: 'id' }, orders: { shardKey: 'user_id' } };
const USERS = 200;

// `scaleout status` and `scaleout reshard` against the machine's PostgreSQL: the
// shards and their directory are databases of this test's own.
describe('scaleout up: shards in status, scaleout reshard', () => {
  const prefix = `rt_${randomBytes(4).toString('hex')}`;
  const [dirDb, s0, s1, s2] = [`${prefix}_dir`, `${prefix}_0`, `${prefix}_1`, `${prefix}_2`];
  let dir: string;
  let up: UpProcess;
  let admin: pg.Client;
  const pools: pg.Pool[] = [];
  const pool = (database: string): pg.Pool => {
    const p = new pg.Pool({ connectionString: `${SERVER}/${database}`, max: 2 });
    pools.push(p);
    return p;
  };
  const count = async (database: string, table: string): Promise<number> =>
    Number((await pool(database).query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: `${SERVER}/postgres` });
    await admin.connect();
    for (const name of [dirDb, s0, s1]) await admin.query(`CREATE DATABASE ${name}`);
    for (const name of [s0, s1]) {
      await pool(name).query(`CREATE TABLE users (id text PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE orders (id uuid PRIMARY KEY, user_id text NOT NULL REFERENCES users (id), total bigint NOT NULL CHECK (total >= 0));
        CREATE INDEX orders_user_newest_idx ON orders (user_id, id DESC)`);
    }
    const db = await createShardedDatabase({ shards: { [s0]: fromPool(pool(s0)), [s1]: fromPool(pool(s1)) }, directory: fromPool(pool(dirDb)), tables: TABLES, closeBackends: false });
    for (let i = 0; i < USERS; i++) {
      await db.forKey(`u${i}`).transaction(async (tx) => {
        await tx.query('INSERT INTO users (id, name) VALUES ($1, $2)', [`u${i}`, `user ${i}`]);
        await tx.query('INSERT INTO orders (id, user_id, total) VALUES (gen_random_uuid(), $1, $2)', [`u${i}`, i]);
      });
    }
    await db.close();

    dir = await copyApp('hello', { app: { instances: 1 }, engines: { postgres: {}, redis: false }, db: { shards: { directory: dirDb, databases: [s0, s1], tables: TABLES } } });
    up = UpProcess.start(dir, cleanEnv({ DATABASE_URL: EXTERNAL_ENGINES.DATABASE_URL }));
    await up.waitRunning();
  }, 120_000);

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    for (const name of [dirDb, s0, s1, s2]) await admin?.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin?.end();
  });

  const shardsOf = (s: RuntimeStatus): Record<string, number | null> =>
    Object.fromEntries((s.db?.shards?.shards ?? []).map((x) => [x.name, x.buckets]));

  it('shows the buckets of every shard and the directory version', async () => {
    const s = await waitFor('the shard directory in status', async () => {
      const st = await up.status();
      return st.db?.shards?.version !== null && st.db?.shards?.version !== undefined ? st : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    expect(s.db!.shards).toMatchObject({ directory: dirDb, version: '1', buckets: 4096, error: null });
    expect(shardsOf(s)).toEqual({ [s0]: 2048, [s1]: 2048 });
    const text = await runCli(['status', dir]);
    expect(text.stdout).toContain(`shards: directory ${dirDb}, version 1, 4096 buckets`);
    expect(text.stdout).toMatch(new RegExp(`${s0}\\s+2048 buckets`));
  });

  it('makes a new database a shard and moves buckets to it, one line per step', async () => {
    const result = await runCli(['reshard', dir, '--to', s2, '--buckets', '40']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`created database ${s2}`);
    expect(result.stdout).toContain(`created tables users, orders on ${s2} as ${s0} defines them`);
    expect(result.stdout).toMatch(/plan: 40 buckets to move/);
    expect(result.stdout).toMatch(new RegExp(`reshard: 40 bucket\\(s\\) moved to ${s2} \\(20 from ${s0}, 20 from ${s1}\\)`));
    expect(result.stderr).toContain(`${s2} is not in db.shards.databases`);

    // Nothing lost, nothing doubled, and the new shard has the same schema.
    let users = 0;
    let orders = 0;
    for (const name of [s0, s1, s2]) {
      users += await count(name, 'users');
      orders += await count(name, 'orders');
    }
    expect({ users, orders }).toEqual({ users: USERS, orders: USERS });
    const schema = await pool(s2).query<{ name: string }>(
      "SELECT conname AS name FROM pg_constraint WHERE conrelid = 'orders'::regclass UNION ALL SELECT indexname FROM pg_indexes WHERE tablename = 'orders' ORDER BY 1");
    expect(schema.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['orders_pkey', 'orders_user_id_fkey', 'orders_total_check', 'orders_user_newest_idx']));

    const s = await waitFor('the move in status', async () => {
      const st = await up.status();
      return shardsOf(st)[s2] === 40 ? st : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    expect(shardsOf(s)).toEqual({ [s0]: 2028, [s1]: 2028, [s2]: 40 });
    expect(Number(s.db!.shards!.version)).toBeGreaterThan(1);
  });

  it('moves a share of the buckets between existing shards, and fails in one line', async () => {
    const moved = await runCli(['reshard', dir, '--to', s0, '--fraction', '0.01']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toMatch(new RegExp(`reshard: 41 bucket\\(s\\) moved to ${s0}`));
    expect(moved.stdout).not.toContain('created');

    const tooMany = await runCli(['reshard', dir, '--to', s1, '--buckets', '5000']);
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^scaleout: reshard failed: 5000 buckets asked for, .* \[SCALEOUT_RUNTIME_DB_INVALID\]$/)]);
    const usage = await runCli(['reshard', dir, '--to', s1, '--buckets', '3', '--fraction', '0.5']);
    expect(usage.code).toBe(2);
  });

  it('leaves nodes given by DATABASE_URL alone', async () => {
    const refused = await runCli(['db', 'failover', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/DATABASE_URL.*\[SCALEOUT_RUNTIME_DB_NOT_EMBEDDED\]/);
    expect((await up.status()).db?.failover).toBe(false);
  });
});
