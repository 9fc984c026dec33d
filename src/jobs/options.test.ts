import { describe, expect, it } from 'vitest';
import { JobsOptionsError } from './errors.js';
import { addOptionsSchema, parseOptions, validateQueueName, workerOptionsSchema } from './options.js';

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
});
