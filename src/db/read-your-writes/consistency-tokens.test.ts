import { describe, expect, it } from 'vitest';
import { ConsistencyToken } from '../consistency-token.js';
import { ConsistencyTokens, MAX_TOKEN_DATABASES } from './consistency-tokens.js';

describe('ConsistencyTokens', () => {
  it('keeps well-formed entries of what the session held and drops the rest', () => {
    const tokens = new ConsistencyTokens({ shard_0: 't1.3000148', shard_1: 42, shard_2: 'x'.repeat(100) });
    expect(tokens.toJSON()).toEqual({ shard_0: 't1.3000148' });
    expect(tokens.changed).toBe(false);
    for (const garbage of [undefined, null, 'text', [1, 2], 7]) expect(new ConsistencyTokens(garbage).toJSON()).toEqual({});
  });

  it('keeps at most MAX_TOKEN_DATABASES databases', () => {
    const stored = Object.fromEntries(Array.from({ length: MAX_TOKEN_DATABASES + 5 }, (_, i) => [`db${i}`, 't1.1']));
    expect(Object.keys(new ConsistencyTokens(stored).toJSON())).toHaveLength(MAX_TOKEN_DATABASES);
  });

  it('gives each database its own store, and notes when a write moved a token', () => {
    const tokens = new ConsistencyTokens({ a: 't1.100' });
    expect(tokens.store('a').get()).toBe('t1.100');
    expect(tokens.store('b').get()).toBeUndefined();
    const token = ConsistencyToken.from('t1.200')!;
    tokens.store('b').set(token);
    expect(tokens.changed).toBe(true);
    expect(tokens.toJSON()).toEqual({ a: 't1.100', b: token.toString() });
  });
});
