import { describe, expect, it } from 'vitest';
import { ConsistencyToken } from './consistency-token.js';
import { formatLsn, parseLsn, timelineOfWalFile } from './lsn.js';

describe('ConsistencyToken', () => {
  it('round-trips through its short string form', () => {
    const token = new ConsistencyToken(3, parseLsn('16/B374D848') as bigint);
    const text = token.toString();
    expect(text).toBe('t3.16b374d848');
    expect(text).toMatch(/^[a-z0-9.]+$/);
    const back = ConsistencyToken.parse(text);
    expect(back?.timeline).toBe(3);
    expect(back?.lsn).toBe(token.lsn);
    expect(JSON.stringify({ token })).toBe('{"token":"t3.16b374d848"}');
    expect(token.describe()).toBe('timeline 3 at 16/B374D848');
  });

  it('keeps the full 64-bit range', () => {
    const token = new ConsistencyToken(1, 0xffffffffffffffffn);
    expect(ConsistencyToken.parse(token.toString())?.lsn).toBe(0xffffffffffffffffn);
  });

  it.each([
    '', 't', 't1', 't1.', 't0.10', 't01.10', 'T1.10', 't1.10.', 't1.10 ', ' t1.10', 't1.1G', 't1.ABC',
    't1.00000000000000001', 't4294967296.10', 't99999999999.1', 'v1.1.10', '1.10', 't1_10', 't1.-1',
    't1.0x10', '%74%31.10', 'null', 'undefined', 'x'.repeat(10_000),
  ])('ignores garbage %j', (text) => {
    expect(ConsistencyToken.parse(text)).toBeUndefined();
  });

  it.each([null, undefined, 42, {}, [], 10n, { timeline: 1, lsn: 1n }])('ignores non-strings %#', (value) => {
    expect(ConsistencyToken.parse(value)).toBeUndefined();
    expect(ConsistencyToken.from(value as unknown as string)).toBeUndefined();
  });

  it('orders by timeline, then position', () => {
    const a = new ConsistencyToken(1, 100n);
    const b = new ConsistencyToken(1, 200n);
    const c = new ConsistencyToken(2, 50n);
    expect(ConsistencyToken.compare(a, b)).toBeLessThan(0);
    expect(ConsistencyToken.compare(b, c)).toBeLessThan(0);
    expect(ConsistencyToken.compare(b, b)).toBe(0);
    expect(ConsistencyToken.newest(a, b)).toBe(b);
    expect(ConsistencyToken.newest(c, b)).toBe(c);
    expect(ConsistencyToken.newest(undefined, a)).toBe(a);
    expect(ConsistencyToken.newest(a, undefined)).toBe(a);
  });
});

describe('LSN text', () => {
  it('parses and formats PostgreSQL notation', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('0/3000148')).toBe(0x3000148n);
    expect(parseLsn('16/b374d848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(formatLsn(parseLsn('16/B374D848') as bigint)).toBe('16/B374D848');
  });

  it.each([null, undefined, '', '0', '/', '0/', '/0', '123456789/0', '0/123456789', 'G/0', '0/0 '])('rejects %j', (text) => {
    expect(parseLsn(text)).toBeUndefined();
  });

  it('reads the timeline from a WAL file name', () => {
    expect(timelineOfWalFile('000000020000000000000003')).toBe(2);
    expect(timelineOfWalFile('0000000A0000000000000003')).toBe(10);
    expect(timelineOfWalFile('000000000000000000000003')).toBeUndefined();
    expect(timelineOfWalFile('nope')).toBeUndefined();
    expect(timelineOfWalFile(null)).toBeUndefined();
  });
});
