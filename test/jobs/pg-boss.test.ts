import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PgBossBackend, Queue, Worker } from '../../src/jobs/index.js';
import { waitFor } from '../support/wait-for.js';
import { DATABASE_URL, dropSchemas, uniqueSchema } from './engines.js';
import { describeQueueContract } from './queue-contract.js';

const schema = uniqueSchema();

describeQueueContract('pg-boss', async () => {
  const options = { connectionString: DATABASE_URL, schema, visibilityTimeoutMs: 2_000, pollIntervalMs: 50 };
  const a = new PgBossBackend(options);
  const b = new PgBossBackend(options);
  return {
    a, b,
    async cleanup() {
      await a.close();
      await b.close();
      await dropSchemas(schema, `${schema}_t`);
    },
  };
});

describe('PgBossBackend', () => {
  it('enqueues in the caller\'s transaction: a rollback leaves no job, a commit runs it', async () => {
    const own = uniqueSchema();
    const backend = new PgBossBackend({ connectionString: DATABASE_URL, schema: own, pollIntervalMs: 50 });
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    const ran: string[] = [];
    const q = new Queue<string>(backend, 'orders');
    await q.ready();
    const worker = new Worker(q, async (ctx) => { ran.push(ctx.data); });
    try {
      await client.query('BEGIN');
      const rolledBack = await q.add('confirm', 'rolled-back', { db: client });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      const committed = await q.add('confirm', 'committed', { db: client });
      await client.query('COMMIT');
      await waitFor('committed job ran', async () => (await q.getJob(committed.id))?.state === 'completed');
      expect(ran).toEqual(['committed']);
      expect(await q.getJob(rolledBack.id)).toBeUndefined();
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${own}.job WHERE data->>'id' = $1`, [rolledBack.id]);
      expect(rows[0]).toEqual({ n: 0 });
    } finally {
      await worker.close({ graceMs: 0 });
      await client.end();
      await backend.close();
      await dropSchemas(own, `${own}_t`);
    }
  });
});
