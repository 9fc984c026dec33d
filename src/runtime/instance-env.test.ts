import { describe, expect, it } from 'vitest';
import { formatInstanceEnv, formatSessionKeys, parseSessionKeys } from '../internal/instance-env.js';
import { InstanceEnvError } from './errors.js';
import { INSTANCE_ENV, instanceEnv } from './instance-env.js';

const KEY = { id: 's-1a2b3c', secret: '0123456789abcdef0123456789' };

describe('instanceEnv', () => {
  it('reads back what the runtime writes', () => {
    const written = formatInstanceEnv({
      port: 4100, host: '127.0.0.1', instanceId: 'app-3', buildId: 'b0c1', sessionKeys: [KEY, { id: 'old', secret: 'x'.repeat(16) }],
      databaseUrl: 'postgres://u@127.0.0.1:5432/app', replicaUrls: ['postgres://u@127.0.0.1:5433/app'], redisUrl: 'redis://127.0.0.1:6379', profile: 'redis',
      cacheRedisUrl: 'redis://127.0.0.1:6380', memcachedUrl: '127.0.0.1:11211',
    });
    expect(instanceEnv(written)).toEqual({
      port: 4100, host: '127.0.0.1', instanceId: 'app-3', buildId: 'b0c1', sessionKeys: [KEY, { id: 'old', secret: 'x'.repeat(16) }],
      databaseUrl: 'postgres://u@127.0.0.1:5432/app', replicaUrls: ['postgres://u@127.0.0.1:5433/app'], redisUrl: 'redis://127.0.0.1:6379', profile: 'redis',
      cacheRedisUrl: 'redis://127.0.0.1:6380', memcachedUrl: '127.0.0.1:11211',
    });
  });

  it('gives the cache its own Redis and Memcached, and refuses what is not an address', () => {
    const env = instanceEnv({ PORT: '1', REDIS_URL: 'redis://h:1', CACHE_REDIS_URL: 'redis://h:2', MEMCACHED_URL: '127.0.0.1:11211' });
    expect(env).toMatchObject({ redisUrl: 'redis://h:1', cacheRedisUrl: 'redis://h:2', memcachedUrl: '127.0.0.1:11211' });
    expect(instanceEnv({ PORT: '1', CACHE_REDIS_URL: 'redis://h:2', SCALEOUT_PROFILE: 'postgres' }).cacheRedisUrl).toBeUndefined();
    expect(() => instanceEnv({ PORT: '1', MEMCACHED_URL: 'memcached' })).toThrow(/MEMCACHED_URL: expected host:port/);
    expect(() => instanceEnv({ PORT: '1', CACHE_REDIS_URL: 'http://x' })).toThrow(/CACHE_REDIS_URL: expected a redis:\/\/ URL/);
  });

  it('chooses the profile as the runtime does when SCALEOUT_PROFILE is not set', () => {
    expect(instanceEnv({ PORT: '1', REDIS_URL: 'redis://h:1' }).profile).toBe('redis');
    expect(instanceEnv({ PORT: '1', REDIS_URL: '' }).profile).toBe('postgres');
    const pg = instanceEnv({ PORT: '1', REDIS_URL: 'redis://h:1', SCALEOUT_PROFILE: 'postgres' });
    expect(pg.profile).toBe('postgres');
    expect(pg.redisUrl).toBeUndefined();
  });

  it('defaults what may be left out', () => {
    expect(instanceEnv({ PORT: '0' })).toEqual({
      port: 0, host: '127.0.0.1', instanceId: undefined, buildId: undefined, sessionKeys: undefined,
      databaseUrl: undefined, replicaUrls: [], redisUrl: undefined, cacheRedisUrl: undefined, memcachedUrl: undefined, profile: 'postgres',
    });
  });

  it('lists every missing or invalid variable in one SCALEOUT_RUNTIME_INSTANCE_ENV_INVALID error', () => {
    let error: unknown;
    try {
      instanceEnv({ DATABASE_REPLICA_URLS: 'mysql://x', SCALEOUT_PROFILE: 'memcached', INSTANCE_ID: 'has space' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InstanceEnvError);
    const { code, problems, message } = error as InstanceEnvError;
    expect(code).toBe('SCALEOUT_RUNTIME_INSTANCE_ENV_INVALID');
    expect(problems).toEqual([
      expect.stringMatching(/^PORT is not set/),
      expect.stringMatching(/^INSTANCE_ID: use 1-128 visible ASCII/),
      expect.stringMatching(/^DATABASE_REPLICA_URLS.*postgres:\/\//),
      expect.stringMatching(/^SCALEOUT_PROFILE: /),
    ]);
    expect(message).toMatch(/scaleout up/);
  });

  it('names what the app needs and did not get', () => {
    expect(() => instanceEnv({ PORT: '1' }, { need: ['databaseUrl', 'sessionKeys'] }))
      .toThrow(/DATABASE_URL is not set; the app needs it.*SCALEOUT_SESSION_KEYS is not set/);
    expect(() => instanceEnv({ PORT: '1', SCALEOUT_PROFILE: 'redis' })).toThrow(/SCALEOUT_PROFILE is "redis" but REDIS_URL is not set/);
    expect(() => instanceEnv({ PORT: '70000' })).toThrow(/PORT: expected a port from 0 to 65535/);
  });

  it('refuses malformed session keys', () => {
    expect(() => instanceEnv({ PORT: '1', SCALEOUT_SESSION_KEYS: 'x:short' })).toThrow(/SCALEOUT_SESSION_KEYS: the secret of key "x" is shorter/);
    for (const bad of ['', 'nocolon', 'a:short', ':0123456789abcdef', 'a:0123456789abcdef,a:0123456789abcdef', 'bad id:0123456789abcdef']) {
      expect(typeof parseSessionKeys(bad), bad).toBe('string');
    }
    expect(parseSessionKeys('a:0123456789abcdef:with:colons')).toEqual([{ id: 'a', secret: '0123456789abcdef:with:colons' }]);
    expect(parseSessionKeys(formatSessionKeys([KEY]))).toEqual([KEY]);
  });

  it('writes only the parts it is given, so engines and the supervisor each write their own', () => {
    expect(formatInstanceEnv({ redisUrl: 'redis://r' })).toEqual({ [INSTANCE_ENV.redisUrl]: 'redis://r' });
    expect(formatInstanceEnv({ databaseUrl: 'postgres://d', replicaUrls: ['postgres://r1', 'postgres://r2'] }))
      .toEqual({ DATABASE_URL: 'postgres://d', DATABASE_REPLICA_URLS: 'postgres://r1,postgres://r2' });
    expect(formatInstanceEnv({ sessionKeys: [KEY] })).toEqual({ SCALEOUT_SESSION_KEYS: formatSessionKeys([KEY]) });
    expect(formatInstanceEnv({})).toEqual({});
  });

  it('takes every name from one table', () => {
    expect(Object.keys(formatInstanceEnv({
      port: 1, host: 'h', instanceId: 'i', buildId: 'b', sessionKeys: [KEY], databaseUrl: 'postgres://d', replicaUrls: [], redisUrl: 'redis://r', profile: 'redis',
      cacheRedisUrl: 'redis://c', memcachedUrl: 'm:1', staticDir: '/s',
    })).sort()).toEqual(Object.values(INSTANCE_ENV).sort());
  });
});
