import { describe, expect, it } from 'vitest';
import { JobsOptionsError } from './errors.js';
import {
  addOptionsSchema, parseOptions, queueOptionsSchema, resolveBullMQBackendOptions, resolvePgBossBackendOptions, resolvePostgresTrackerOptions,
  resolveRedisTrackerOptions, schedulerOptionsSchema, validateQueueName, workerOptionsSchema,
} from './options.js';

describe('jobs options', () => {
  it('refuses queue names an engine would refuse, with a code and the name of the field', () => {
    for (const bad of ['a:b', '', ' x', 'x'.repeat(201), 42]) {
      expect(() => validateQueueName(bad)).toThrow(JobsOptionsError);
    }
    expect(validateQueueName('emails.v2-eu_1')).toBe('emails.v2-eu_1');
  });

  it('refuses out-of-range priorities, attempts and jitter, and unknown fields', () => {
    for (const bad of [{ priority: 11 }, { priority: -1 }, { attempts: 0 }, { jitter: 2 }, { delayMs: 1.5 }, { prority: 1 }, { db: {} }]) {
      expect(() => parseOptions(addOptionsSchema, bad, 'job options')).toThrow(JobsOptionsError);
    }
    expect(() => parseOptions(addOptionsSchema, { prority: 1 }, 'job options')).toThrow(/prority/);
  });

  it('fills worker defaults and refuses a worker that knows no version', () => {
    expect(parseOptions(workerOptionsSchema, {}, 'worker options')).toMatchObject({ concurrency: 1, versions: [1] });
    expect(() => parseOptions(workerOptionsSchema, { versions: [] }, 'worker options')).toThrow(JobsOptionsError);
  });

  it('resolve queues, schedulers, backends and trackers to their defaults, locations from the environment', () => {
    expect(parseOptions(queueOptionsSchema, {}, 'queue options')).toEqual({ attempts: 3, backoffMs: 1_000, backoffMaxMs: 60_000, jitter: 0.5 });
    expect(parseOptions(schedulerOptionsSchema, {}, 'scheduler options')).toEqual({ group: 'default', leaseMs: 5_000, intervalMs: 200, maxCatchUp: 100 });
    expect(resolveBullMQBackendOptions({}, {})).toEqual({ prefix: 'scaleout-jobs', visibilityTimeoutMs: 30_000, maxRedeliveries: 10, eventsMaxLen: 10_000, recordTtlMs: 86_400_000, url: 'redis://127.0.0.1:6379' });
    expect(resolveBullMQBackendOptions({}, { REDIS_URL: 'redis://r:1' }).url).toBe('redis://r:1');
    expect(resolvePgBossBackendOptions({}, { DATABASE_URL: 'postgres://d/x' })).toEqual({
      schema: 'scaleout_pgboss', visibilityTimeoutMs: 30_000, maxRedeliveries: 10, pollIntervalMs: 500, preparedStatements: true, connectionString: 'postgres://d/x',
    });
    // docs/async.md: "the last `eventsKept`, 100 by default, for a day"
    expect(resolveRedisTrackerOptions({}, {})).toMatchObject({ keyPrefix: 'scaleout:jobs:', eventsKept: 100, recordTtlMs: 86_400_000 });
    expect(resolvePostgresTrackerOptions({}, {})).toMatchObject({ schema: 'scaleout_jobs', poolSize: 10, pruneIntervalMs: 60_000 });
  });

  it('refuses bad backend, tracker and scheduler options with the jobs options code, naming the field', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => resolveBullMQBackendOptions({ visibilityTimeoutMs: 100 }), /visibilityTimeoutMs: use an integer of at least 500/],
      [() => resolvePgBossBackendOptions({ schema: 'Bad-Schema' }), /schema: use a lower-case SQL name/],
      [() => resolveRedisTrackerOptions({ eventsKept: 0 }), /eventsKept/],
      [() => resolvePostgresTrackerOptions({ recordTtlMs: 0 }), /recordTtlMs/],
      [() => resolveRedisTrackerOptions({ recordTtlMs: 10 }), /recordTtlMs: use an integer of at least 1000/],
      [() => parseOptions(schedulerOptionsSchema, { leaseMs: 1_000, intervalMs: 600 }, 'scheduler options'), /intervalMs: must be at most half of leaseMs/],
    ];
    for (const [resolve, message] of cases) {
      expect(resolve).toThrow(JobsOptionsError);
      expect(resolve).toThrow(message);
      try {
        resolve();
      } catch (err) {
        expect((err as JobsOptionsError).code).toBe('SCALEOUT_JOBS_INVALID_OPTIONS');
      }
    }
  });
});
