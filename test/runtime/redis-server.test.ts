import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/runtime/engines/free-port.js';
import { answersPing, findRedisServer, startRedisServer } from '../../src/runtime/engines/redis-server.js';
import { RedisStartError } from '../../src/runtime/index.js';
import { isAlive } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

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

  it('stops a redis-server an earlier run left in its folder before it starts, and no other', async () => {
    const data = join(dir, 'leftover');
    const other = join(dir, 'other');
    await mkdir(data, { recursive: true });
    await mkdir(other, { recursive: true });
    const spawnLeftover = async (cwd: string): Promise<number> => {
      const port = await freePort('127.0.0.1');
      const child = spawn(findRedisServer()!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { cwd, stdio: 'ignore', detached: true });
      child.unref();
      return child.pid!;
    };
    const leftover = await spawnLeftover(data);
    const bystander = await spawnLeftover(other);
    try {
      const runsRedis = (pid: number): boolean => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'redis-server';
        } catch {
          return false;
        }
      };
      await waitFor('the leftovers to run', () => runsRedis(leftover) && runsRedis(bystander));
      const stopped: number[] = [];
      const redis = await startRedisServer({ dataDir: data, appendonly: false, onLeftover: (pid) => stopped.push(pid) });
      try {
        expect(stopped).toEqual([leftover]);
        expect(isAlive(leftover)).toBe(false);
        expect(isAlive(bystander)).toBe(true);
        expect(await answersPing(redis.host, redis.port)).toBe(true);
      } finally {
        await redis.stop();
      }
    } finally {
      for (const pid of [leftover, bystander]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
    }
  });
});
