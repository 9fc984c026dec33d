import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgBossBackend, Queue, Worker } from '../../src/jobs/index.js';
import { PreparedSql } from '../../src/jobs/prepared-sql.js';
import { PgBouncer } from '../support/pgbouncer.js';
import { waitFor } from '../support/wait-for.js';
import { dropSchemas, uniqueSchema } from './engines.js';

// PgBouncer in transaction mode (1.18 here; named statements are only kept from 1.21,
// and only when configured): a statement prepared by a client on one server connection
// is unknown on the next, or already known to a server connection another client used.
describe('prepared statements behind PgBouncer in transaction mode', () => {
  let bouncer: PgBouncer;
  beforeAll(async () => {
    bouncer = await PgBouncer.start();
  });
  afterAll(async () => {
    await bouncer?.stop();
  });

  it('answers every statement, and stops naming them', async () => {
    const sql = new PreparedSql({ connectionString: bouncer.url, max: 10 });
    try {
      const results = await Promise.all(Array.from({ length: 400 }, (_, i) => sql.executeSql('SELECT $1::int * 2 AS n', [i])));
      expect(results.map((r) => (r.rows[0] as { n: number }).n)).toEqual(Array.from({ length: 400 }, (_, i) => i * 2));
      expect(sql.preparing).toBe(false);
    } finally {
      await sql.close();
    }
  });

  it('runs pg-boss jobs and their records through it', async () => {
    const schema = uniqueSchema();
    const backend = new PgBossBackend({ connectionString: bouncer.url, schema, pollIntervalMs: 50 });
    const q = new Queue<number>(backend, 'sums');
    const worker = new Worker(q, async (job) => job.data * 2, { concurrency: 8 });
    try {
      const added = await Promise.all(Array.from({ length: 200 }, (_, i) => q.add('sum', i)));
      await waitFor('every job completed', async () => (await Promise.all(added.map((a) => q.getJob(a.id)))).every((j) => j?.state === 'completed'), { timeoutMs: 30_000 });
      expect((await q.getJob(added[7]!.id))?.result).toBe(14);
    } finally {
      await worker.close({ graceMs: 0 });
      await backend.close();
      await dropSchemas(schema, `${schema}_t`);
    }
  });
});
