import { describe, expect, it } from 'vitest';
import { runtimeConfigSchema } from './config.js';
import type { RuntimeConfigInput } from './config.js';
import { resolveProfile, startEngines } from './engine-set.js';
import { RuntimeConfigError } from './errors.js';

const config = (input: Partial<RuntimeConfigInput> = {}): ReturnType<typeof runtimeConfigSchema.parse> =>
  runtimeConfigSchema.parse({ app: { entry: 'server.js' }, ...input });
const noRedis = { PATH: '' };
const withRedisUrl = { PATH: '', REDIS_URL: 'redis://127.0.0.1:6379' };

describe('resolveProfile', () => {
  it('is redis when a Redis can be had, else postgres, unless the config says', () => {
    expect(resolveProfile(config(), withRedisUrl)).toBe('redis');
    expect(resolveProfile(config(), noRedis)).toBe('postgres');
    expect(resolveProfile(config({ engines: { redis: false } }), withRedisUrl)).toBe('postgres');
    expect(resolveProfile(config({ engines: { redis: false, postgres: false } }), noRedis)).toBeNull();
    expect(resolveProfile(config({ profile: 'postgres' }), withRedisUrl)).toBe('postgres');
    expect(resolveProfile(config({ profile: 'redis' }), noRedis)).toBe('redis');
  });

  it('refuses an unknown profile in the config', () => {
    expect(runtimeConfigSchema.safeParse({ app: { entry: 'server.js' }, profile: 'memcached' }).success).toBe(false);
  });
});

describe('startEngines', () => {
  it('refuses a profile whose engine is missing before it starts anything', async () => {
    const steps: string[] = [];
    const start = (input: Partial<RuntimeConfigInput>, env: NodeJS.ProcessEnv): Promise<unknown> =>
      startEngines({ dir: '/nonexistent', config: config(input), env, onStep: (m) => steps.push(m) });
    await expect(start({ profile: 'redis' }, noRedis)).rejects.toThrow(RuntimeConfigError);
    await expect(start({ profile: 'redis' }, noRedis)).rejects.toThrow(/set REDIS_URL, put redis-server on the PATH, or use profile "postgres"/);
    await expect(start({ profile: 'redis', engines: { redis: false } }, withRedisUrl)).rejects.toThrow(/engines\.redis is false/);
    await expect(start({ profile: 'postgres', engines: { postgres: false } }, withRedisUrl)).rejects.toThrow(/engines\.postgres is false/);
    expect(steps).toEqual([]);
  });

  it('starts only the engines of the profile and names only those', async () => {
    const steps: string[] = [];
    const engines = await startEngines({
      dir: '/nonexistent', config: config({ profile: 'postgres' }), onStep: (m) => steps.push(m),
      env: { ...withRedisUrl, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' },
    });
    try {
      expect(engines.profile).toBe('postgres');
      expect(engines.groups().map((g) => g.role)).toEqual(['postgres']);
      expect(engines.env()).toEqual({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test', DATABASE_REPLICA_URLS: '', SCALEOUT_PROFILE: 'postgres' });
      expect(steps.some((s) => s.startsWith('redis'))).toBe(false);
    } finally {
      await engines.stop();
    }
  });
});
