import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DatabaseOptionsError } from './errors.js';
import { type DatabaseOptions, DEFAULT_MAX_LAG_MS, resolveOptions } from './options.js';

describe('resolveOptions', () => {
  it('fills in defaults', () => {
    const o = resolveOptions({ primary: 'postgres://u@h:1/db' });
    expect(o.maxLagMs).toBe(DEFAULT_MAX_LAG_MS);
    expect(o.nodes).toEqual([{ connectionString: 'postgres://u@h:1/db' }]);
    expect(o.failover).toEqual({ enabled: false, failAfterChecks: 3, synchronous: false, promoteTimeoutS: 60 });
  });

  it.each([
    [{ primary: 42 }, 'primary'],
    [{ primary: 'mysql://x' }, 'primary'],
    [{ primary: 'postgres://h', replicas: 'postgres://r' }, 'replicas'],
    [{ primary: 'postgres://h', replicas: [null] }, 'replicas[0]'],
    [{ primary: 'postgres://h', maxLagMs: -1 }, 'maxLagMs'],
    [{ primary: 'postgres://h', maxLagMs: Number.NaN }, 'maxLagMs'],
    [{ primary: 'postgres://h', checkIntervalMs: 1 }, 'checkIntervalMs'],
    [{ primary: 'postgres://h', failover: { enabled: 'yes' } }, 'failover.enabled'],
    [{ primary: 'postgres://h', failover: { enabled: true, failAfterChecks: 0 } }, 'failover.failAfterChecks'],
    [{ primary: 'postgres://h', pool: { max: 0 } }, 'pool.max'],
  ])('rejects %j naming %s', (options, field) => {
    expect(() => resolveOptions(options as unknown as DatabaseOptions)).toThrow(DatabaseOptionsError);
    expect(() => resolveOptions(options as unknown as DatabaseOptions)).toThrow(`"${field}"`);
  });

  it('fills the defaults docs/replication.md gives, and refuses with the db options code', () => {
    const docs = readFileSync(new URL('../../docs/replication.md', import.meta.url), 'utf8');
    const o = resolveOptions({ primary: 'postgres://h' });
    expect(docs).toContain(`Every \`checkIntervalMs\` (${o.checkIntervalMs} ms)`);
    expect(docs).toContain(`within \`maxLagMs\` (${o.maxLagMs})`);
    expect(docs).toContain(`\`readYourWritesWaitMs\` (${o.readYourWritesWaitMs} ms)`);
    expect(docs).toContain(`\`failAfterChecks\` (${o.failover.failAfterChecks})`);
    let thrown: unknown;
    try {
      resolveOptions({ primary: 'postgres://h', replicas: ['postgres://r', 'mysql://x'] });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(DatabaseOptionsError);
    expect((thrown as DatabaseOptionsError).code).toBe('SCALEOUT_DB_INVALID_OPTIONS');
    expect((thrown as Error).message).toBe('option "replicas[1]" is "mysql://x"; it must be a postgres:// URL or a pg config object');
  });
});
