import { describe, expect, it } from 'vitest';
import { EngineOptionsError } from './errors.js';
import {
  DEFAULT_REPLICATION_TIMEOUT_MS, DEFAULT_START_TIMEOUT_MS, DEFAULT_STOP_TIMEOUT_MS, validateReplicaSetOptions, type PostgresReplicaSetOptions,
} from './postgres-replica-set-options.js';

describe('replica set options', () => {
  it('applies defaults', () => {
    const s = validateReplicaSetOptions({ baseDir: 'rel/pg', replicas: 2 });
    expect(s.baseDir.endsWith('/rel/pg')).toBe(true);
    expect(s).toMatchObject({ host: '127.0.0.1', database: 'app', synchronous: false, fast: false });
    expect(s).toMatchObject({
      startTimeoutMs: DEFAULT_START_TIMEOUT_MS, stopTimeoutMs: DEFAULT_STOP_TIMEOUT_MS, replicationTimeoutMs: DEFAULT_REPLICATION_TIMEOUT_MS,
    });
  });

  it('keeps given timeouts', () => {
    const s = validateReplicaSetOptions({ baseDir: '/tmp/x', replicas: 1, startTimeoutMs: 5_000, replicationTimeoutMs: 7_000 });
    expect(s).toMatchObject({ startTimeoutMs: 5_000, replicationTimeoutMs: 7_000 });
  });

  it.each<[string, Partial<PostgresReplicaSetOptions>]>([
    ['no baseDir', { baseDir: '' }],
    ['negative replicas', { replicas: -1 }],
    ['fractional replicas', { replicas: 1.5 }],
    ['too many replicas', { replicas: 99 }],
    ['synchronous without a replica', { replicas: 0, synchronous: true }],
    ['too few ports', { replicas: 2, ports: [5000, 5001] }],
    ['duplicate ports', { replicas: 1, ports: [5000, 5000] }],
    ['port out of range', { replicas: 0, ports: [70000] }],
    ['odd database name', { database: 'app; DROP' }],
    ['quote in host', { host: "127.0.0.1'" }],
    ['zero start timeout', { startTimeoutMs: 0 }],
    ['fractional replication timeout', { replicationTimeoutMs: 1.5 }],
  ])('rejects %s with a message that says what to do', (_, bad) => {
    const options = { baseDir: '/tmp/x', replicas: 1, ...bad } as PostgresReplicaSetOptions;
    expect(() => validateReplicaSetOptions(options)).toThrow(EngineOptionsError);
    try {
      validateReplicaSetOptions(options);
    } catch (err) {
      expect((err as EngineOptionsError).code).toBe('SCALEOUT_RUNTIME_ENGINE_OPTIONS');
    }
  });
});
