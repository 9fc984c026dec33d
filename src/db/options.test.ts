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
});
