import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PostgresJobTracker } from '../../src/jobs/index.js';
import { DATABASE_URL, dropSchemas, uniqueSchema } from './engines.js';

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
});
