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
  it('removeWaiting cancels a job in pg-boss only while no worker holds it', async () => {
    const own = uniqueSchema();
    const backend = new PgBossBackend({ connectionString: DATABASE_URL, schema: own, pollIntervalMs: 50 });
    const q = new Queue<string>(backend, 'exports');
    try {
      await q.ready();
      const delayed = await q.add('csv', 'later', { delayMs: 60_000 });
      expect(await backend.removeWaiting(q.name, delayed.id)).toBe('removed');
      // Gone from the waiting jobs: a second look finds nothing to take out.
      expect(await backend.removeWaiting(q.name, delayed.id)).toBe('unknown');
      const taken = await q.add('csv', 'now');
      expect((await backend.take(q.name, 1)).map((j) => (j.envelope as { id: string }).id)).toEqual([taken.id]);
      expect(await backend.removeWaiting(q.name, taken.id)).toBe('running');
      expect(await backend.removeWaiting(q.name, 'not-a-job-id')).toBe('unknown');
      expect(await backend.removeWaiting('another-queue', taken.id)).toBe('unknown');
    } finally {
      await backend.close();
      await dropSchemas(own, `${own}_t`);
    }
  });

  it('a first delivery handed again after its worker died asks the tracker first: a cancel meanwhile keeps it from running', async () => {
    const own = uniqueSchema();
    const backend = new PgBossBackend({ connectionString: DATABASE_URL, schema: own, pollIntervalMs: 50, visibilityTimeoutMs: 1_000 });
    const q = new Queue<string>(backend, 'exports');
    const ran: string[] = [];
    let worker: Worker<string> | undefined;
    try {
      await q.ready();
      const { id } = await q.add('csv', 'once');
      // A worker takes the job and dies without acknowledging it.
      expect(await backend.take(q.name, 1)).toHaveLength(1);
      expect(await q.cancel(id)).toBe(true);
      worker = new Worker(q, async (ctx) => { ran.push(ctx.data); });
      await waitFor('cancelled', async () => (await q.getJob(id))?.state === 'cancelled', { timeoutMs: 20_000 });
      const { rows } = await pgQuery(`SELECT retry_count FROM ${own}.job WHERE id = $1`, [id]);
      expect((rows[0] as { retry_count: number }).retry_count).toBeGreaterThan(0);
      expect(ran).toEqual([]);
    } finally {
      await worker?.close({ graceMs: 0 });
      await backend.close();
      await dropSchemas(own, `${own}_t`);
    }
  }, 30_000);

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

async function pgQuery(text: string, values: unknown[]): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}
