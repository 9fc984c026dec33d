import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgBossBackend, Queue, Worker } from '../../src/jobs/index.js';
import { MAX_PREPARED_STATEMENTS, PreparedSql } from '../../src/jobs/prepared-sql.js';
import { waitFor } from '../support/wait-for.js';
import { DATABASE_URL, dropSchemas, uniqueSchema } from './engines.js';

/** The names prepared on the connection of a one-connection executor. */
async function preparedNames(sql: PreparedSql): Promise<string[]> {
  const { rows } = await sql.pool.query('SELECT name FROM pg_prepared_statements ORDER BY name');
  return (rows as Array<{ name: string }>).map((r) => r.name);
}

describe('PreparedSql', () => {
  const schema = uniqueSchema();
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.t (id int PRIMARY KEY, a text)`);
    await admin.query(`INSERT INTO ${schema}.t VALUES (1, 'one'), (2, 'two')`);
  });
  afterAll(async () => {
    await admin.end();
    await dropSchemas(schema);
  });

  it('prepares a statement once per connection and keeps plans custom', async () => {
    const sql = new PreparedSql({ connectionString: DATABASE_URL, max: 1 });
    try {
      const text = `SELECT a FROM ${schema}.t WHERE id = $1`;
      expect((await sql.executeSql(text, [1])).rows).toEqual([{ a: 'one' }]);
      expect((await sql.executeSql(text, [2])).rows).toEqual([{ a: 'two' }]);
      const names = await preparedNames(sql);
      expect(names.filter((n) => n.startsWith('scaleout_'))).toHaveLength(1);
      const { rows } = await sql.pool.query('SHOW plan_cache_mode');
      expect(rows).toEqual([{ plan_cache_mode: 'force_custom_plan' }]);
    } finally {
      await sql.close();
    }
  });

  it('runs several commands in one text unnamed, and names nothing when told not to', async () => {
    const sql = new PreparedSql({ connectionString: DATABASE_URL, max: 1 });
    const unprepared = new PreparedSql({ connectionString: DATABASE_URL, max: 1, prepare: false });
    try {
      await sql.executeSql(`SELECT 1; SELECT a FROM ${schema}.t WHERE id = 1`);
      expect(await preparedNames(sql)).toEqual([]);
      expect((await unprepared.executeSql(`SELECT a FROM ${schema}.t WHERE id = $1`, [2])).rows).toEqual([{ a: 'two' }]);
      expect(await preparedNames(unprepared)).toEqual([]);
    } finally {
      await sql.close();
      await unprepared.close();
    }
  });

  it('names at most MAX_PREPARED_STATEMENTS texts; the rest run unnamed', async () => {
    const sql = new PreparedSql({ connectionString: DATABASE_URL, max: 1 });
    try {
      for (let i = 0; i < MAX_PREPARED_STATEMENTS + 5; i++) {
        expect((await sql.executeSql(`SELECT $1::int + ${i} AS n`, [1])).rows).toEqual([{ n: 1 + i }]);
      }
      expect(await preparedNames(sql)).toHaveLength(MAX_PREPARED_STATEMENTS);
    } finally {
      await sql.close();
    }
  });

  it('answers with the new shape after the table changed under a prepared statement', async () => {
    const sql = new PreparedSql({ connectionString: DATABASE_URL, max: 1 });
    try {
      const text = `SELECT * FROM ${schema}.t WHERE id = $1`;
      expect((await sql.executeSql(text, [1])).rows).toEqual([{ id: 1, a: 'one' }]);
      await admin.query(`ALTER TABLE ${schema}.t ADD COLUMN b int NOT NULL DEFAULT 7`);
      expect((await sql.executeSql(text, [1])).rows).toEqual([{ id: 1, a: 'one', b: 7 }]);
      expect((await sql.executeSql(text, [2])).rows).toEqual([{ id: 2, a: 'two', b: 7 }]);
      expect(sql.preparing).toBe(true);
    } finally {
      await sql.close();
    }
  });

  it('turns naming off when the server lost its statements (a pooler in transaction mode), without failing the call', async () => {
    const sql = new PreparedSql({ connectionString: DATABASE_URL, max: 1 });
    try {
      const text = `SELECT a FROM ${schema}.t WHERE id = $1`;
      await sql.executeSql(text, [1]);
      // What a pooler does: the next statement reaches a server connection without it.
      await sql.pool.query('DEALLOCATE ALL');
      expect((await sql.executeSql(text, [2])).rows).toEqual([{ a: 'two' }]);
      expect(sql.preparing).toBe(false);
      expect((await sql.executeSql(`SELECT a FROM ${schema}.t WHERE id = $1`, [1])).rows).toEqual([{ a: 'one' }]);
      expect(await preparedNames(sql)).toEqual([]);
    } finally {
      await sql.close();
    }
  });
});

describe('PgBossBackend on prepared statements', () => {
  it('runs pg-boss, its jobs and their records with and without preparedStatements', async () => {
    for (const preparedStatements of [true, false]) {
      const schema = uniqueSchema();
      const backend = new PgBossBackend({ connectionString: DATABASE_URL, schema, pollIntervalMs: 50, preparedStatements });
      const q = new Queue<number>(backend, 'sums');
      const seen: number[] = [];
      const worker = new Worker(q, async (job) => { seen.push(job.data); return job.data * 2; }, { concurrency: 4 });
      try {
        const added = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => q.add('sum', n)));
        await waitFor('every job done', async () => (await Promise.all(added.map((a) => q.getJob(a.id)))).every((j) => j?.state === 'completed'), { timeoutMs: 10_000 });
        expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6]);
        expect((await q.getJob(added[2]!.id))?.result).toBe(6);
      } finally {
        await worker.close({ graceMs: 0 });
        await backend.close();
        await dropSchemas(schema, `${schema}_t`);
      }
    }
  });
});
