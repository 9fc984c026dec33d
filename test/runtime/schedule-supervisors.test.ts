import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, copyApp, EXTERNAL_ENGINES, REPO_DIR, removeApp, UpProcess } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

// Two `scaleout up` supervisors of one app on one Redis, each with a worker process that
// also runs a scheduler of a one-second cron (the workers fixture, SCHEDULE_TICKS=1).
// Each supervisor is stopped and started again in turn; every tick runs exactly once.
describe('a schedule across two supervisors\' restarts', () => {
  const prefix = `sched-up-${process.pid}-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(EXTERNAL_ENGINES.REDIS_URL);
  const dirs: string[] = [];
  const ups = new Set<UpProcess>();

  const start = async (dir: string): Promise<UpProcess> => {
    const up = UpProcess.start(dir, cleanEnv({ REDIS_URL: EXTERNAL_ENGINES.REDIS_URL }));
    ups.add(up);
    await up.waitRunning();
    return up;
  };
  const stop = async (up: UpProcess): Promise<void> => {
    const result = await up.stop('SIGTERM');
    ups.delete(up);
    expect(result.code, result.stderr).toBe(0);
  };
  const ticks = async (): Promise<Record<string, string>> => redis.hgetall(`${prefix}:ticks`);
  const waitTicks = (n: number): Promise<unknown> => waitFor(`${n} ticks`, async () => Object.keys(await ticks()).length >= n, { timeoutMs: 60_000 });

  afterAll(async () => {
    for (const up of ups) await up.stop('SIGKILL');
    for (const dir of dirs) await removeApp(dir);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('runs every tick once while each supervisor is stopped and started again', async () => {
    for (let i = 0; i < 2; i++) {
      dirs.push(await copyApp('workers', {
        app: { env: { SCALEOUT_JOBS_MODULE: join(REPO_DIR, 'src/jobs/index.ts'), JOBS_PREFIX: prefix, SCHEDULE_TICKS: '1' } },
        workers: { exports: { instances: 1 } },
      }));
    }
    const [dirA, dirB] = dirs as [string, string];
    const [a, b] = await Promise.all([start(dirA), start(dirB)]);
    await waitTicks(2);
    await stop(a);
    const a2 = await start(dirA);
    await waitTicks(Object.keys(await ticks()).length + 2);
    await stop(b);
    const b2 = await start(dirB);
    await waitTicks(Object.keys(await ticks()).length + 2);
    await Promise.all([stop(a2), stop(b2)]);

    const counts = await ticks();
    const times = Object.keys(counts).map((k) => Date.parse(k.replace(/^schedule:tick:/, ''))).sort((x, y) => x - y);
    expect(times.length).toBeGreaterThanOrEqual(6);
    expect(times.every(Number.isFinite)).toBe(true);
    // No tick missing between the first and the last, none run twice.
    for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBe(1_000);
    expect(Object.values(counts).every((n) => n === '1')).toBe(true);
  }, 240_000);
});
