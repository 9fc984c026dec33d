import { describe, expect, it } from 'vitest';
import { compareCodePoints, compareDecimalText, mergeRows, parseOrderBy, sumMerge } from './merge-rows.js';
import { ShardConfigError } from './errors.js';

describe('parseOrderBy', () => {
  it('reads strings, lists and terms', () => {
    expect(parseOrderBy('a desc, b, c asc nulls first')).toEqual([
      { column: 'a', direction: 'desc' }, { column: 'b', direction: 'asc' },
      { column: 'c', direction: 'asc', nulls: 'first' },
    ]);
    expect(parseOrderBy({ column: 'x', direction: 'desc' })).toEqual([{ column: 'x', direction: 'desc' }]);
  });

  it('refuses what it cannot read', () => {
    expect(() => parseOrderBy('a; drop table x')).toThrow(ShardConfigError);
    expect(() => parseOrderBy('a sideways')).toThrow(ShardConfigError);
  });
});

describe('compareDecimalText', () => {
  it('orders like numeric', () => {
    const values = ['10', '9', '-1', '-10.5', '0.001', '0', 'NaN', 'Infinity', '-Infinity', '9.10', '9.09', '-0.5'];
    const sorted = [...values].sort(compareDecimalText);
    expect(sorted).toEqual(['-Infinity', '-10.5', '-1', '-0.5', '0', '0.001', '9', '9.09', '9.10', '10', 'Infinity', 'NaN']);
    expect(compareDecimalText('1.50', '1.5')).toBe(0);
    expect(compareDecimalText('-0', '0')).toBe(0);
  });
});

describe('compareCodePoints', () => {
  it('orders astral characters above the private use area, as UTF-8 bytes do', () => {
    const a = '\uE000';
    const b = '\u{1F600}';
    expect(compareCodePoints(a, b)).toBeLessThan(0);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBeLessThan(0);
    expect(compareCodePoints('ab', 'abc')).toBeLessThan(0);
  });
});

describe('mergeRows', () => {
  const shardA = { rows: [{ id: 1, n: '10', s: 'b', v: null }, { id: 2, n: '9', s: 'a', v: 3 }], rowCount: 2,
    fields: [{ name: 'id', dataTypeID: 23 }, { name: 'n', dataTypeID: 20 }, { name: 's', dataTypeID: 25 }, { name: 'v', dataTypeID: 23 }] };
  const shardB = { rows: [{ id: 3, n: '-2', s: 'a', v: 1 }, { id: 4, n: '100', s: 'c', v: null }], rowCount: 2 };

  it('orders int8 text as numbers, with nulls where PostgreSQL puts them', () => {
    expect(mergeRows([shardA, shardB], { orderBy: 'n' }).map((r) => r.id)).toEqual([3, 2, 1, 4]);
    expect(mergeRows([shardA, shardB], { orderBy: 'v' }).map((r) => r.id)).toEqual([3, 2, 1, 4]);
    expect(mergeRows([shardA, shardB], { orderBy: 'v desc' }).map((r) => r.id)).toEqual([1, 4, 2, 3]);
    expect(mergeRows([shardA, shardB], { orderBy: 'v desc nulls last' }).map((r) => r.id)).toEqual([2, 3, 1, 4]);
  });

  it('is stable across shards and applies offset and limit after ordering', () => {
    expect(mergeRows([shardA, shardB], { orderBy: 's' }).map((r) => r.id)).toEqual([2, 3, 1, 4]);
    expect(mergeRows([shardA, shardB], { orderBy: ['s', 'id desc'] }).map((r) => r.id)).toEqual([3, 2, 1, 4]);
    expect(mergeRows([shardA, shardB], { orderBy: 'id desc', offset: 1, limit: 2 }).map((r) => r.id)).toEqual([3, 2]);
    expect(mergeRows([shardA, shardB]).map((r) => r.id)).toEqual([1, 2, 3, 4]);
  });
});

describe('sumMerge', () => {
  it('adds counts exactly, sums decimals, and keeps all-null columns null', () => {
    const merged = sumMerge('n', 'total', 'none', 'huge')([
      { rows: [{ n: '3', total: '1.5', none: null, huge: '9007199254740993' }], rowCount: 1 },
      { rows: [{ n: '4', total: 2, none: null, huge: '1' }], rowCount: 1 },
      { rows: [], rowCount: 0 },
    ]);
    expect(merged).toEqual([{ n: 7, total: 3.5, none: null, huge: '9007199254740994' }]);
  });
});
