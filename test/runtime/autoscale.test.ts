import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/runtime/index.js';
import type { RuntimeEvent, RuntimeStatus } from '../../src/runtime/index.js';
import { waitFor } from '../support/wait-for.js';
import { request } from '../support/http-client.js';
import { cleanEnv, copyApp, EXTERNAL_ENGINES, REPO_DIR, removeApp, startLoad, UpProcess } from './support/runtime-harness.js';

const appInstances = (s: RuntimeStatus): string[] => s.processes.filter((p) => p.role === 'app' && p.state === 'running').map((p) => p.id);
type AutoscaleEvent = Extract<RuntimeEvent, { kind: 'autoscale' }>;

// A real `scaleout up` of the hello fixture with autoscale on CPU: a load on an
// endpoint that burns CPU adds an instance, and once it stops the instance is drained
// and removed, while a light load runs the whole time and no request fails.
describe('scaleout up: autoscale on cpu', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;

  beforeAll(async () => {
    // A low target: on this shared 2-core machine a busy process may get a fifth of a
    // core or less, while the light load costs an instance about 1 %.
    dir = await copyApp('hello', {
      app: { instances: 1, autoscale: { min: 1, max: 2, target: { cpu: 5 }, cooldownMs: 2_000, intervalMs: 500 } },
    });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning(60_000);
  }, 70_000);

  afterAll(async () => {
    await up?.stop('SIGKILL');
    if (dir !== undefined) await removeApp(dir);
  });

  it('scales out under a CPU load and back in when it stops, with no failed request', async () => {
    expect(appInstances(status)).toEqual(['app-1']);
    const light = startLoad(status.appUrl!, { connections: 2, overallRate: 30 });
    const heavy = startLoad(status.appUrl!, { connections: 4, overallRate: 200, path: '/burn?ms=10' });
    const out = await waitFor('a second instance', async () => {
      const s = await up.status();
      return appInstances(s).length === 2 ? s : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    expect(appInstances(out)).toEqual(['app-1', 'app-2']);
    // Held at max while the load goes on, then the load stops.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const heavyResult = await heavy.stop();
    await waitFor('back to one instance', async () => {
      const s = await up.status();
      return appInstances(s).length === 1 && s.processes.filter((p) => p.role === 'app').length === 1 ? s : undefined;
    }, { timeoutMs: 25_000, intervalMs: 200 });
    const lightResult = await light.stop();

    for (const result of [heavyResult, lightResult]) {
      expect(result.requests).toBeGreaterThan(50);
      expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, resets: result.resets }).toEqual({ errors: 0, timeouts: 0, non2xx: 0, resets: 0 });
    }

    const { events } = await ControlClient.connect(dir).events();
    const decisions = events.filter((e): e is AutoscaleEvent => e.kind === 'autoscale');
    const out1 = decisions.find((e) => e.decision === 'scale-out');
    expect(out1).toMatchObject({ source: 'app', role: 'app', from: 1, to: 2, metric: 'cpu', target: 5 });
    expect(out1!.value).toBeGreaterThan(5);
    expect(out1!.reason).toMatch(/above target 5 /);
    const in1 = decisions.find((e) => e.decision === 'scale-in');
    expect(in1).toMatchObject({ from: 2, to: 1, metric: 'cpu' });
    expect(in1!.at - out1!.at).toBeGreaterThanOrEqual(2_000);
    // Scale-in drained the newest instance first; nothing flapped.
    expect(decisions.filter((e) => e.decision === 'scale-out' || e.decision === 'scale-in').map((e) => e.decision)).toEqual(['scale-out', 'scale-in']);
    expect(events.some((e) => e.kind === 'instance-stopped' && e.source === 'app-2')).toBe(true);
    expect(up.stderr).not.toMatch(/autoscale app: failed/);
    // For the report: what was decided when, on this machine.
    console.log(decisions.map((e) => `+${e.at - decisions[0]!.at} ms ${e.decision} ${e.from}→${e.to}: cpu ${e.value} (${e.reason})`).join('\n'));
    console.log(`requests: burn ${heavyResult.requests}, light ${lightResult.requests}, failed 0`);
  }, 60_000);
});

// The same on the balancer's latency: requests that take 150 ms put the app pool's p99
// above a 60 ms target, an instance is added (held at max: a slow endpoint stays slow),
// and once the load stops and the 10 s window empties the instance is drained away.
describe('scaleout up: autoscale on p99 through the balancer', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;

  beforeAll(async () => {
    dir = await copyApp('hello', {
      app: { instances: 1, autoscale: { min: 1, max: 2, target: { p99Ms: 60 }, cooldownMs: 2_000, intervalMs: 500 } },
    });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning(60_000);
  }, 70_000);

  afterAll(async () => {
    await up?.stop('SIGKILL');
    if (dir !== undefined) await removeApp(dir);
  });

  it('scales out while p99 is above the target and back in once it falls, with no failed request', async () => {
    const slow = startLoad(status.appUrl!, { connections: 4, overallRate: 20, path: '/slow?ms=150' });
    await waitFor('a second instance', async () => {
      const s = await up.status();
      return appInstances(s).length === 2 ? s : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    const slowResult = await slow.stop();
    await waitFor('back to one instance', async () => {
      const s = await up.status();
      return appInstances(s).length === 1 && s.processes.filter((p) => p.role === 'app').length === 1 ? s : undefined;
    }, { timeoutMs: 40_000, intervalMs: 250 });
    expect(slowResult.requests).toBeGreaterThan(20);
    expect({ errors: slowResult.errors, timeouts: slowResult.timeouts, non2xx: slowResult.non2xx, resets: slowResult.resets }).toEqual({ errors: 0, timeouts: 0, non2xx: 0, resets: 0 });

    const { events } = await ControlClient.connect(dir).events();
    const decisions = events.filter((e): e is AutoscaleEvent => e.kind === 'autoscale');
    const out1 = decisions.find((e) => e.decision === 'scale-out');
    expect(out1).toMatchObject({ role: 'app', from: 1, to: 2, metric: 'p99Ms', target: 60 });
    expect(out1!.value).toBeGreaterThanOrEqual(150);
    expect(decisions.find((e) => e.decision === 'scale-in')).toMatchObject({ from: 2, to: 1, metric: 'p99Ms' });
  }, 90_000);
});

// The workers fixture on the machine's Redis: a burst of jobs makes the queue deep, the
// workers are scaled out on its depth (read through BullMQ, as the app's queue is), and
// back in once it is empty; every job runs exactly once.
describe('scaleout up: autoscale workers on queue depth', () => {
  const prefix = `as-${process.pid}-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(EXTERNAL_ENGINES.REDIS_URL);
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;
  const workers = (s: RuntimeStatus): string[] => s.processes.filter((p) => p.role === 'worker:exports' && p.state === 'running').map((p) => p.id);

  beforeAll(async () => {
    dir = await copyApp('workers', {
      app: { env: { SCALEOUT_JOBS_MODULE: join(REPO_DIR, 'src/jobs/index.ts'), JOBS_PREFIX: prefix } },
      workers: { exports: { instances: 1, autoscale: { min: 1, max: 3, target: { queueDepth: 2 }, cooldownMs: 1_000, intervalMs: 500, backendPrefix: prefix } } },
    });
    up = UpProcess.start(dir, cleanEnv({ REDIS_URL: EXTERNAL_ENGINES.REDIS_URL }));
    status = await up.waitRunning(60_000);
  }, 70_000);

  afterAll(async () => {
    await up?.stop('SIGKILL');
    if (dir !== undefined) await removeApp(dir);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('adds workers while jobs wait and removes them once the queue is empty', async () => {
    expect(workers(status)).toEqual(['worker-exports-1']);
    const answer = await request('POST', new URL('/enqueue?n=30&from=0&ms=300', status.appUrl!).href);
    expect(answer.status, answer.text).toBe(200);
    await waitFor('three workers', async () => workers(await up.status()).length === 3, { timeoutMs: 20_000, intervalMs: 200 });
    await waitFor('30 jobs done', async () => (await redis.scard(`${prefix}:done`)) === 30, { timeoutMs: 30_000 });
    await waitFor('back to one worker', async () => {
      const s = await up.status();
      return s.processes.filter((p) => p.role === 'worker:exports').length === 1;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    const effects = Object.values(await redis.hgetall(`${prefix}:effects`));
    expect(effects).toHaveLength(30);
    expect(effects.every((n) => n === '1')).toBe(true);

    const { events } = await ControlClient.connect(dir).events();
    const decisions = events.filter((e): e is AutoscaleEvent => e.kind === 'autoscale');
    expect(decisions.find((e) => e.decision === 'scale-out')).toMatchObject({ source: 'worker:exports', from: 1, to: 3, metric: 'queueDepth', target: 2 });
    expect(decisions.filter((e) => e.decision === 'scale-in').map((e) => [e.from, e.to])).toEqual([[3, 2], [2, 1]]);
    console.log(decisions.map((e) => `+${e.at - decisions[0]!.at} ms ${e.decision} ${e.from}→${e.to}: ${e.value} waiting per worker (${e.reason})`).join('\n'));
  }, 60_000);
});
