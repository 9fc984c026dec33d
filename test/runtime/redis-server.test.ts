import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answersPing, findRedisServer, startRedisServer } from '../../src/runtime/engines/redis-server.js';
import { RedisStartError } from '../../src/runtime/index.js';
import { isAlive } from './support/runtime-harness.js';

describe.skipIf(findRedisServer() === undefined)('startRedisServer', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleout-redis-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts on a free loopback port, answers PING, and stops without leaving a process', async () => {
    const redis = await startRedisServer({ dataDir: dir, appendonly: false });
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await answersPing(redis.host, redis.port)).toBe(true);
    await redis.stop();
    expect(redis.isRunning()).toBe(false);
    expect(isAlive(redis.pid!)).toBe(false);
    expect(await answersPing(redis.host, redis.port)).toBe(false);
  });

  it('says why it cannot start', async () => {
    await expect(startRedisServer({ dataDir: dir, binary: join(dir, 'no-such-redis-server') })).rejects.toThrow(RedisStartError);
    const first = await startRedisServer({ dataDir: dir, appendonly: false });
    try {
      // A fixed port that is taken is not replaced by another.
      await expect(startRedisServer({ dataDir: join(dir, 'second'), port: first.port, appendonly: false })).rejects.toThrow(/exited during startup/);
    } finally {
      await first.stop();
    }
  });
});
