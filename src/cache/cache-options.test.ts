import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkEntryOptions, resolveBusOptions, resolveCacheOptions, validEntryOptions, resolveMemcachedL2StoreOptions, resolvePostgresL2StoreOptions, resolveRedisL2StoreOptions,
} from './cache-options.js';
import { CacheOptionsError } from './errors.js';

const docs = readFileSync(new URL('../../docs/caching.md', import.meta.url), 'utf8');

describe('cache options', () => {
  it('resolve to the defaults docs/caching.md gives, engine locations from the environment', () => {
    const cache = resolveCacheOptions({});
    expect(docs).toContain(`\`l2TimeoutMs\` (default **${cache.l2TimeoutMs} ms**)`);
    const postgres = resolvePostgresL2StoreOptions({}, {});
    expect(docs).toContain(`every \`cleanupIntervalMs\` (${postgres.cleanupIntervalMs / 1_000} s)`);
    expect(postgres).toMatchObject({ table: 'scaleout_cache', connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    expect(resolveRedisL2StoreOptions({}, { REDIS_URL: 'redis://r:1' })).toEqual({ keyPrefix: 'scaleout:cache:', connectTimeoutMs: 1_000, commandTimeoutMs: 1_000, url: 'redis://r:1' });
    expect(resolveMemcachedL2StoreOptions({}, {})).toEqual({ keyPrefix: 'scaleout:cache:', timeoutMs: 500, servers: '127.0.0.1:11211' });
    expect(resolveMemcachedL2StoreOptions({ servers: 'm:1' }, { MEMCACHED_URL: 'n:2' }).servers).toBe('m:1');
    expect(resolveBusOptions({})).toEqual({ connectionName: 'scaleout-cache-bus', commandTimeoutMs: 1_000, timeoutMs: 1_000 });
  });

  it('refuse bad store and bus options with the cache options code, naming the field', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => resolveRedisL2StoreOptions({ keyPrefix: 'x'.repeat(200) }), /keyPrefix: use a string of at most 128 characters/],
      [() => resolveRedisL2StoreOptions({ commandTimeoutMs: 0 }), /commandTimeoutMs/],
      [() => resolveMemcachedL2StoreOptions({ keyPrefix: 'has space' }), /keyPrefix: use at most 64 printable ASCII/],
      [() => resolvePostgresL2StoreOptions({ table: 'a.b.c' }), /table: use \[schema\.\]name/],
      [() => resolvePostgresL2StoreOptions({ cleanupIntervalMs: -5 }), /cleanupIntervalMs/],
      [() => resolveBusOptions({ timeoutMs: 1.5 }), /timeoutMs/],
    ];
    for (const [resolve, message] of cases) {
      let thrown: unknown;
      try {
        resolve();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(CacheOptionsError);
      expect((thrown as CacheOptionsError).code).toBe('SCALEOUT_CACHE_INVALID_OPTIONS');
      expect((thrown as Error).message).toMatch(message);
    }
  });

  it('check entry options by hand only where the schema agrees', () => {
    const good = [{}, { ttlMs: 1 }, { ttlMs: 60_000, graceMs: 0, tags: ['a'] }, { tags: [] }, { ttlMs: undefined }];
    const bad = [
      { ttlMs: 0 }, { ttlMs: 1.5 }, { ttlMs: '5' }, { graceMs: -1 }, { tags: [''] }, { tags: ['x'.repeat(257)] },
      { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, { tags: 'a' }, { ttl: 5 }, null,
    ];
    for (const o of good) {
      expect(validEntryOptions(o)).toBe(true);
      expect(() => checkEntryOptions(o)).not.toThrow();
    }
    for (const o of bad) {
      expect(validEntryOptions(o as never)).toBe(false);
      expect(() => checkEntryOptions(o as never)).toThrow(CacheOptionsError);
    }
  });
});
