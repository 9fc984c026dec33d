import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, EXTERNAL_ENGINES, isAlive, REPO_DIR, removeApp, runCli, UpProcess } from './support/runtime-harness.js';
import { request } from '../support/http-client.js';
import { waitFor } from '../support/wait-for.js';

const workers = (s: RuntimeStatus) => s.processes.filter((p) => p.role === 'worker:exports');

describe('workers under scaleout up', () => {
  const prefix = `wk-${process.pid}-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(EXTERNAL_ENGINES.REDIS_URL);
  let dir: string;
  let up: UpProcess;
  let stoppedPid: number | undefined;

  const enqueue = async (appUrl: string, n: number, from: number, ms: number): Promise<string[]> => {
    const answer = await request('POST', new URL(`/enqueue?n=${n}&from=${from}&ms=${ms}`, appUrl).href);
    expect(answer.status, answer.text).toBe(200);
    return (JSON.parse(answer.text) as { ids: string[] }).ids;
  };
  const done = async (): Promise<number> => redis.scard(`${prefix}:done`);

  beforeAll(async () => {
    dir = await copyApp('workers', { app: { env: { SCALEOUT_JOBS_MODULE: join(REPO_DIR, 'src/jobs/index.ts'), JOBS_PREFIX: prefix } } });
    up = UpProcess.start(dir, cleanEnv({ REDIS_URL: EXTERNAL_ENGINES.REDIS_URL }));
    await up.waitRunning();
  });

  afterAll(async () => {
    if (stoppedPid !== undefined) {
      try { process.kill(stoppedPid, 'SIGCONT'); } catch { /* already gone */ }
    }
    await up?.stop('SIGKILL');
    await removeApp(dir);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('starts the workers as their own role, restarts a killed one, scales and runs the app\'s jobs', async () => {
    const status = await up.status();
    const started = workers(status);
    expect(started.map((w) => w.id)).toEqual(['worker-exports-1', 'worker-exports-2']);
    expect(started.every((w) => w.state === 'running' && w.buildId === status.buildId && w.pid !== null)).toBe(true);
    // The instance environment: the worker found the deployment's Redis.
    await waitFor('both workers registered', async () => (await redis.scard(`${prefix}:workers`)) === 2, { timeoutMs: 20_000 });

    await enqueue(status.appUrl!, 6, 0, 0);
    await waitFor('6 jobs done', async () => (await done()) === 6, { timeoutMs: 20_000 });
    const by = await redis.hgetall(`${prefix}:by`);
    expect(Object.values(by).every((who) => who.startsWith('worker-exports-'))).toBe(true);

    const victim = started[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    const back = await waitFor('worker-exports-1 restarted', async () => {
      const w = workers(await up.status()).find((p) => p.id === victim.id);
      return w !== undefined && w.state === 'running' && w.pid !== victim.pid && w.restarts === 1 ? w : undefined;
    }, { timeoutMs: 20_000 });
    expect(back.detail).toContain('killed by SIGKILL');
    const logs = await runCli(['logs', dir]);
    expect(logs.stdout).toMatch(/worker-exports-1 \(worker:exports\) killed by SIGKILL; restarting it/);
    expect(logs.stdout).toMatch(/worker-exports-1 \(worker:exports\) restarted \(pid \d+\)/);

    const text = await runCli(['status', dir]);
    expect(text.stdout).toMatch(/worker:exports\s+worker-exports-1\s+\d+/);
    const three = await runCli(['scale', 'worker:exports=3', dir]);
    expect(three.code, three.stderr).toBe(0);
    expect(workers(await up.status()).map((w) => w.id)).toEqual(['worker-exports-1', 'worker-exports-2', 'worker-exports-3']);
    const tooMany = await runCli(['scale', 'worker:exports=65', dir]);
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toContain('worker:exports=65: give a whole number from 0 to 64');
    const one = await runCli(['scale', 'worker:exports=1', dir]);
    expect(one.code, one.stderr).toBe(0);
    const after = await up.status();
    expect(workers(after).map((w) => w.id)).toEqual(['worker-exports-1']);
    const gone = workers(status).find((w) => w.id === 'worker-exports-2')!;
    expect(isAlive(gone.pid!)).toBe(false);
  });

  it('a deploy replaces the workers with the new build and loses no job in flight', async () => {
    const before = await up.status();
    const scaled = await runCli(['scale', 'worker:exports=2', dir]);
    expect(scaled.code, scaled.stderr).toBe(0);
    const oldWorkers = workers(await up.status());
    await redis.del(`${prefix}:done`, `${prefix}:effects`);
    // 80 jobs of 300 ms on 2 workers × 2 slots: about 6 s of work, in flight during the deploy.
    await enqueue(before.appUrl!, 80, 100, 300);
    await waitFor('some jobs done', async () => (await done()) >= 2, { timeoutMs: 20_000 });

    await writeFile(join(dir, 'jobs.ts'), (await readFile(join(dir, 'jobs.ts'), 'utf8')).replace("VERSION = 'v1'", "VERSION = 'v2'"));
    const deployed = await runCli(['deploy', dir]);
    expect(deployed.code, deployed.stderr).toBe(0);
    // On a loaded machine the old workers may finish the batch before the deploy ends.
    const doneByDeployEnd = await done();

    const after = await up.status();
    expect(after.buildId).not.toBe(before.buildId);
    const fresh = workers(after);
    expect(fresh).toHaveLength(2);
    expect(fresh.every((w) => w.buildId === after.buildId)).toBe(true);
    for (const old of oldWorkers) expect(isAlive(old.pid!)).toBe(false);

    await waitFor('all 80 jobs done', async () => (await done()) === 80, { timeoutMs: 40_000 });
    const effects = Object.values(await redis.hgetall(`${prefix}:effects`)).map(Number);
    expect(effects).toHaveLength(80);
    // The batch straddled the deploy: both builds ran some of it (when some was left).
    const batchBy = await redis.hmget(`${prefix}:by`, ...Array.from({ length: 80 }, (_, i) => String(100 + i)));
    expect(new Set(batchBy.map((who) => who?.split(':')[1]))).toEqual(new Set(doneByDeployEnd < 80 ? ['v1', 'v2'] : ['v1']));
    expect(effects.every((n) => n === 1)).toBe(true);
    // Jobs enqueued now are run by the new build's workers.
    await enqueue(after.appUrl!, 4, 200, 0);
    await waitFor('4 more jobs done', async () => (await done()) === 84, { timeoutMs: 20_000 });
    const by = await redis.hgetall(`${prefix}:by`);
    expect([200, 201, 202, 203].map((i) => by[String(i)]?.split(':')[1])).toEqual(['v2', 'v2', 'v2', 'v2']);
  });

  it('a hung worker (SIGSTOP) is killed and restarted; the job it held runs on, its effect once', async () => {
    const scaled = await runCli(['scale', 'worker:exports=2', dir]);
    expect(scaled.code, scaled.stderr).toBe(0);
    await redis.del(`${prefix}:done`, `${prefix}:effects`);
    const status = await up.status();
    // One long job: it is running when its worker stops.
    await enqueue(status.appUrl!, 1, 300, 3000);
    const holder = await waitFor('the job started', async () => (await redis.hget(`${prefix}:started`, '300')) ?? undefined, { timeoutMs: 20_000 });
    const victim = workers(status).find((w) => w.id === holder)!;
    expect(victim.pid).not.toBeNull();
    stoppedPid = victim.pid!;
    process.kill(stoppedPid, 'SIGSTOP');
    const stoppedAt = performance.now();

    const back = await waitFor(`${victim.id} restarted`, async () => {
      const w = workers(await up.status()).find((p) => p.id === victim.id);
      return w !== undefined && w.state === 'running' && w.pid !== victim.pid ? w : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    const restartedMs = performance.now() - stoppedAt;
    expect(isAlive(stoppedPid)).toBe(false);
    expect(back.detail).toContain('killed by SIGKILL');
    const logs = await runCli(['logs', dir]);
    expect(logs.stdout).toMatch(new RegExp(`${victim.id} \\(worker:exports\\) sent no heartbeat for \\d+ ms; killing it`));

    await waitFor('the held job done', async () => (await redis.sismember(`${prefix}:done`, '300')) === 1, { timeoutMs: 30_000 });
    console.log(`scaleout up, worker SIGSTOP: restarted after ${Math.round(restartedMs)} ms`);
    expect(await redis.hget(`${prefix}:effects`, '300')).toBe('1');
    // The hang timeout is 3 s; generous bound for a loaded machine.
    expect(restartedMs).toBeLessThan(20_000);
  });
});
