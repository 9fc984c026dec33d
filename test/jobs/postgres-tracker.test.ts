import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresJobTracker } from '../../src/jobs/index.js';
import { waitFor } from '../support/wait-for.js';
import { DATABASE_URL, dropSchemas, uniqueSchema } from './engines.js';

/** A connection listening on the tracker's channel, and the job ids it was told of. */
async function listen(tracker: PostgresJobTracker): Promise<{ ids: Set<string>; end(): Promise<void> }> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  const ids = new Set<string>();
  client.on('notification', (n) => { if (n.payload !== undefined) ids.add(n.payload); });
  await client.connect();
  await client.query(`LISTEN ${tracker.channel}`);
  return { ids, end: () => client.end() };
}

describe('PostgresJobTracker', () => {
  it('prune deletes finished records, events and idempotency records past their TTL, and keeps running jobs', async () => {
    const schema = uniqueSchema();
    const tracker = new PostgresJobTracker({ connectionString: DATABASE_URL, schema, recordTtlMs: 200, pruneIntervalMs: 0 });
    try {
      await tracker.create({ id: 'done', queue: 'q', name: 'n' });
      await tracker.record('done', { state: 'completed' }, { type: 'completed' });
      await tracker.create({ id: 'running', queue: 'q', name: 'n' });
      await tracker.record('running', { state: 'active' });
      await tracker.once('k', async () => 1);
      // Waiting out a TTL is the behaviour under test; 200 ms keeps it short.
      await delay(400);
      expect(await tracker.prune()).toBe(3);
      expect(await tracker.get('done')).toBeUndefined();
      expect(await tracker.get('running')).toMatchObject({ state: 'active' });
      let ran = 0;
      await tracker.once('k', async () => { ran += 1; });
      expect(ran).toBe(1);
    } finally {
      await tracker.close();
      await dropSchemas(schema);
    }
  });

  it('announces every job of a burst of events, and at close what waits for its turn', async () => {
    const schema = uniqueSchema();
    const tracker = new PostgresJobTracker({ connectionString: DATABASE_URL, schema, pruneIntervalMs: 0 });
    await tracker.ready();
    const listener = await listen(tracker);
    try {
      const jobs = Array.from({ length: 300 }, (_, i) => `job-${i}`);
      await Promise.all(jobs.map((id) => tracker.record(id, { state: 'active' }, { type: 'progress', data: 1 })));
      await waitFor('every job announced', () => listener.ids.size === jobs.length || undefined, { timeoutMs: 5_000 });
      expect([...listener.ids].sort()).toEqual([...jobs].sort());
      // Just after a NOTIFY: this one waits for the gap, and close sends it.
      await tracker.record('last', { state: 'completed' }, { type: 'completed' });
      await tracker.close();
      await waitFor('the last job announced', () => listener.ids.has('last') || undefined, { timeoutMs: 5_000 });
    } finally {
      await listener.end();
      await tracker.close();
      await dropSchemas(schema);
    }
  });
});
