import { describe, expect, it } from 'vitest';
import { DocumentPatchError } from './errors.js';
import { compilePatch, type PatchOperation } from './patch-sql.js';

describe('compilePatch', () => {
  it('numbers parameters from the given start and grows linearly with the patch', () => {
    const small = compilePatch([{ op: 'set', path: 'a', value: 1 }], 't.doc', 3);
    expect(small.params).toEqual([['a'], '1']);
    expect(small.expression).toContain('$3::text[]');
    expect(small.expression).toContain('$4::jsonb');
    const ops: PatchOperation[] = Array.from({ length: 40 }, (_, i) => ({ op: 'increment', path: ['n', String(i)] }));
    const big = compilePatch(ops, 't.doc', 1);
    expect(big.expression.length).toBeLessThan(40 * 400);
  });

  it('reads dotted paths and integer indexes', () => {
    expect(compilePatch([{ op: 'remove', path: 'a.b.0' }], 'd', 1).params).toEqual([['a', 'b', '0']]);
    expect(compilePatch([{ op: 'remove', path: ['a.b', 2] }], 'd', 1).params).toEqual([['a.b', '2']]);
  });

  it('refuses what cannot be applied', () => {
    const bad: unknown[] = [
      [],
      [{ op: 'set', path: '', value: 1 }],
      [{ op: 'set', path: 'a..b', value: 1 }],
      [{ op: 'set', path: [], value: 1 }],
      [{ op: 'set', path: 'a', value: undefined }],
      [{ op: 'set', path: 'a', value: 10n }],
      [{ op: 'set', path: [1.5], value: 1 }],
      [{ op: 'set', path: Array.from({ length: 40 }, () => 'x'), value: 1 }],
      [{ op: 'increment', path: 'a', by: Number.NaN }],
      [{ op: 'merge', value: [1] }],
      [{ op: 'merge', value: null }],
      [{ op: 'explode', path: 'a' }],
      [null],
      'set',
    ];
    for (const ops of bad) expect(() => compilePatch(ops as PatchOperation[], 'd', 1)).toThrow(DocumentPatchError);
  });
});
