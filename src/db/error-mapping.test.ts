import { describe, expect, it } from 'vitest';
import { isScaleoutError } from '../internal/errors.js';
import { failureKind, toDbError } from './error-mapping.js';

function pgError(code: string, message = 'boom'): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR' });
}
function socketError(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe('toDbError', () => {
  it.each([
    [pgError('40001'), 'SCALEOUT_DB_SERIALIZATION_FAILURE', true],
    [pgError('40P01'), 'SCALEOUT_DB_DEADLOCK', true],
    [pgError('25006'), 'SCALEOUT_DB_READ_ONLY', true],
    [pgError('57P01'), 'SCALEOUT_DB_CONNECTION_LOST', true],
    [pgError('08006'), 'SCALEOUT_DB_CONNECTION_LOST', true],
    [socketError('ECONNREFUSED'), 'SCALEOUT_DB_UNREACHABLE', true],
    [socketError('ECONNRESET'), 'SCALEOUT_DB_CONNECTION_LOST', true],
    [new Error('Connection terminated unexpectedly'), 'SCALEOUT_DB_CONNECTION_LOST', true],
    [new Error('timeout exceeded when trying to connect'), 'SCALEOUT_DB_UNREACHABLE', true],
    [pgError('23505'), 'SCALEOUT_DB_QUERY_FAILED', false],
    [pgError('42601'), 'SCALEOUT_DB_QUERY_FAILED', false],
  ])('maps %s', (err, code, retriable) => {
    const mapped = toDbError(err, 'h:1', { failoverPending: false });
    expect(isScaleoutError(mapped)).toBe(true);
    expect((mapped as { code: string }).code).toBe(code);
    expect((mapped as { retriable: boolean }).retriable).toBe(retriable);
    expect((mapped as Error).cause).toBe(err);
  });

  it('reports connection failures on the primary as a failover in progress when failover is on', () => {
    for (const err of [socketError('ECONNREFUSED'), new Error('Connection terminated unexpectedly')]) {
      const mapped = toDbError(err, 'h:1', { failoverPending: true }) as { code: string; retriable: boolean };
      expect(mapped.code).toBe('SCALEOUT_DB_FAILOVER_IN_PROGRESS');
      expect(mapped.retriable).toBe(true);
    }
  });

  it('keeps the SQLSTATE of statement errors and passes foreign errors through', () => {
    const mapped = toDbError(Object.assign(pgError('23505', 'duplicate key'), { constraint: 'pk' }), 'h:1', { failoverPending: false });
    expect(mapped).toMatchObject({ sqlState: '23505', constraint: 'pk' });
    const own = new TypeError('mine');
    expect(toDbError(own, 'h:1', { failoverPending: false })).toBe(own);
    expect(failureKind(own)).toBe('other');
  });
});
