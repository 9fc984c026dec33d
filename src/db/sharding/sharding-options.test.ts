import { describe, expect, it } from 'vitest';
import { systemClock } from '../../internal/clock.js';
import type { ShardBackend } from './backend.js';
import { ShardConfigError, ShardUnknownError } from './errors.js';
import type { ShardedDatabaseOptions } from './sharded-database.js';
import {
  DEFAULT_MOVED_RETRY_TIMEOUT_MS, DEFAULT_REFRESH_INTERVAL_MS, DEFAULT_RESHARD_POOL_SIZE, resolveReshardPoolSize, resolveShardedDatabaseOptions,
} from './sharding-options.js';

// Never queried: resolving options touches no backend.
const backend = {} as ShardBackend;
const base: ShardedDatabaseOptions = { shards: { s1: backend, s2: backend }, directory: backend, tables: { orders: { shardKey: 'user_id' } } };

describe('sharded database options', () => {
  it('fills every default once', () => {
    const r = resolveShardedDatabaseOptions(base);
    expect(r).toMatchObject({
      names: ['s1', 's2'], initialShards: ['s1', 's2'], prepareShards: true, closeBackends: true,
      refreshIntervalMs: DEFAULT_REFRESH_INTERVAL_MS, movedRetryTimeoutMs: DEFAULT_MOVED_RETRY_TIMEOUT_MS,
    });
    expect(r.clock).toBe(systemClock);
  });

  it('keeps what is given, 0 included', () => {
    const r = resolveShardedDatabaseOptions({ ...base, initialShards: ['s1'], refreshIntervalMs: 0, movedRetryTimeoutMs: 50, closeBackends: false });
    expect(r).toMatchObject({ initialShards: ['s1'], refreshIntervalMs: 0, movedRetryTimeoutMs: 50, closeBackends: false });
  });

  it.each<[string, Partial<ShardedDatabaseOptions>, RegExp]>([
    ['no shards', { shards: {} }, /shards is empty/],
    ['no tables', { tables: {} }, /tables is empty/],
    ['a bad shard key', { tables: { orders: { shardKey: 'x y' } } }, /tables\.orders\.shardKey/],
    ['empty initialShards', { initialShards: [] }, /initialShards is empty/],
    ['too many buckets', { buckets: 70_000 }, /buckets is 70000/],
    ['a negative poll period', { refreshIntervalMs: -1 }, /refreshIntervalMs/],
    ['a NaN retry timeout', { movedRetryTimeoutMs: Number.NaN }, /movedRetryTimeoutMs/],
  ])('rejects %s, naming the field', (_, bad, message) => {
    expect(() => resolveShardedDatabaseOptions({ ...base, ...bad })).toThrow(ShardConfigError);
    expect(() => resolveShardedDatabaseOptions({ ...base, ...bad })).toThrow(message);
  });

  it('rejects an unknown initial shard', () => {
    expect(() => resolveShardedDatabaseOptions({ ...base, initialShards: ['s9'] })).toThrow(ShardUnknownError);
  });

  it('resolves the reshard pool size', () => {
    expect(resolveReshardPoolSize(undefined)).toBe(DEFAULT_RESHARD_POOL_SIZE);
    expect(resolveReshardPoolSize(2)).toBe(2);
    expect(() => resolveReshardPoolSize(0)).toThrow(/poolSize is 0/);
  });
});
