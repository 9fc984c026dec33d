import { describe, expect, it } from 'vitest';
import { databaseNameOf, resolveShardUrls } from './shard-urls.js';

const PRIMARY = 'postgres://postgres@127.0.0.1:41234/app';

describe('resolveShardUrls', () => {
  it('puts shard names on the primary and keeps the primary database as the directory', () => {
    const urls = resolveShardUrls({ databases: ['shop_shard_0', 'shop_shard_1'], tables: {} }, PRIMARY);
    expect(urls.directoryName).toBe('app');
    expect(urls.directoryUrl).toBe(PRIMARY);
    expect([...urls.shards]).toEqual([
      ['shop_shard_0', 'postgres://postgres@127.0.0.1:41234/shop_shard_0'],
      ['shop_shard_1', 'postgres://postgres@127.0.0.1:41234/shop_shard_1'],
    ]);
  });

  it('keeps URLs as given, names them by their database, and adds a new target once', () => {
    const urls = resolveShardUrls({
      directory: 'catalogue', databases: ['postgres://u:secret@db2:5433/s1', 's2'], tables: {},
    }, PRIMARY, ['s3', 's2']);
    expect(urls.directoryName).toBe('catalogue');
    expect(urls.directoryUrl).toBe('postgres://postgres@127.0.0.1:41234/catalogue');
    expect([...urls.shards.keys()]).toEqual(['s1', 's2', 's3']);
    expect(urls.shards.get('s1')).toBe('postgres://u:secret@db2:5433/s1');
  });

  it('names a URL without a database after the default one', () => {
    expect(databaseNameOf('postgres://h:5432')).toBe('postgres');
    expect(databaseNameOf('plain')).toBe('plain');
  });
});
