import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessStatus, RuntimeStatus } from '../../src/runtime/index.js';
import { bumpVersion, copyApp, removeApp, runCli, startLoad, UpProcess } from './support/runtime-harness.js';
import { get } from '../support/http-client.js';

const apps = (s: RuntimeStatus): ProcessStatus[] => s.processes.filter((p) => p.role === 'app');

/** The build each instance reports on its own health endpoint, asked directly (not through the balancer). */
async function reportedBuilds(s: RuntimeStatus): Promise<string[]> {
  return Promise.all(apps(s).map(async (p) => {
    const res = await fetch(`http://${p.address}/healthz`);
    return ((await res.json()) as { buildId: string }).buildId;
  }));
}

// One `scaleout up` (no engines: the fixture needs none), deployed to several times in a row.
describe('deploys', () => {
  let dir: string;
  let up: UpProcess;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 2, healthTimeoutMs: 4000 } });
    up = UpProcess.start(dir);
    await up.waitRunning();
  });

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('rolls a new build onto every instance under steady load without failing a request', async () => {
    const before = await up.status();
    await bumpVersion(dir, 'v2');
    const load = startLoad(before.appUrl!);
    const deploy = await runCli(['deploy', dir]);
    const result = await load.stop();
    expect(deploy.code, deploy.stderr).toBe(0);
    expect(deploy.stdout).toMatch(/deployed build \w+ over \w+ \(rolling\)/);
    expect(result.requests).toBeGreaterThan(50);
    expect(result).toMatchObject({ errors: 0, timeouts: 0, non2xx: 0 });

    const after = await up.status();
    expect(after.buildId).not.toBe(before.buildId);
    expect(apps(after)).toHaveLength(2);
    expect(apps(after).map((p) => p.id).some((id) => apps(before).some((b) => b.id === id))).toBe(false);
    expect(await reportedBuilds(after)).toEqual([after.buildId, after.buildId]);
    expect((await get(after.appUrl!)).body.version).toBe('v2');
  });

  it('rolls back a build that never becomes healthy, without failing a request', async () => {
    const before = await up.status();
    await writeFile(join(dir, 'unhealthy'), 'this build fails its health check\n');
    const load = startLoad(before.appUrl!);
    const deploy = await runCli(['deploy', dir]);
    const result = await load.stop();
    await rm(join(dir, 'unhealthy'));

    expect(deploy.code).toBe(1);
    const lines = deploy.stderr.trim().split('\n').filter((l) => l.startsWith('scaleout:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/deploy of build \w+ failed and was rolled back \(build \w+ keeps serving\)/);
    expect(lines[0]).toContain('SCALEOUT_RUNTIME_DEPLOY_FAILED');
    expect(result).toMatchObject({ errors: 0, timeouts: 0, non2xx: 0 });

    const after = await up.status();
    expect(after.buildId).toBe(before.buildId);
    expect(apps(after).map((p) => p.id)).toEqual(apps(before).map((p) => p.id));
    expect(await reportedBuilds(after)).toEqual([before.buildId, before.buildId]);
  });

  it('blue-green: once the new build answered, the old one never answers again', async () => {
    const before = await up.status();
    await bumpVersion(dir, 'v3');
    const seen: Array<{ sentAt: number; receivedAt: number; version: string | undefined; status: number }> = [];
    let running = true;
    const client = async (): Promise<void> => {
      while (running) {
        const sentAt = performance.now();
        const res = await get(before.appUrl!);
        seen.push({ sentAt, receivedAt: performance.now(), version: res.body.version, status: res.status });
      }
    };
    const clients = Array.from({ length: 3 }, () => client());
    const deploy = await runCli(['deploy', dir, '--strategy', 'blue-green']);
    running = false;
    await Promise.all(clients);
    expect(deploy.code, deploy.stderr).toBe(0);
    expect(deploy.stdout).toContain('routes switched to pool app-');

    expect(seen.every((r) => r.status === 200)).toBe(true);
    expect(seen.some((r) => r.version === 'v2')).toBe(true);
    const firstNew = Math.min(...seen.filter((r) => r.version === 'v3').map((r) => r.receivedAt));
    expect(firstNew).toBeLessThan(Infinity);
    const lateOld = seen.filter((r) => r.version !== 'v3' && r.sentAt > firstNew);
    expect(lateOld).toEqual([]);

    const after = await up.status();
    expect(apps(after).every((p) => p.pool === `app-${after.buildId}`)).toBe(true);
    expect(await reportedBuilds(after)).toEqual([after.buildId, after.buildId]);
    for (let i = 0; i < 10; i++) expect((await get(after.appUrl!)).body.version).toBe('v3');
  });

  it('puts an instance of the old build back when a rolling deploy fails half way', async () => {
    const before = await up.status();
    const next = Math.max(...apps(before).map((p) => Number(p.id.slice(4)))) + 1;
    // The first new instance comes up; the second never does.
    await writeFile(join(dir, 'unhealthy'), `app-${next + 1}\n`);
    const load = startLoad(before.appUrl!);
    const deploy = await runCli(['deploy', dir]);
    const result = await load.stop();
    await rm(join(dir, 'unhealthy'));
    expect(deploy.code).toBe(1);
    expect(deploy.stdout).toContain(`app-${next} (build `);
    expect(deploy.stdout).toMatch(new RegExp(`app-${next + 2} \\(build ${before.buildId}\\) replaces ${apps(before)[0]!.id}`));
    expect(result).toMatchObject({ errors: 0, timeouts: 0, non2xx: 0 });

    const after = await up.status();
    expect(after.buildId).toBe(before.buildId);
    expect(apps(after).map((p) => p.id)).toEqual([apps(before)[1]!.id, `app-${next + 2}`]);
    expect(await reportedBuilds(after)).toEqual([before.buildId, before.buildId]);
  });

  it('says so when the build already runs everywhere', async () => {
    const deploy = await runCli(['deploy', dir, '--strategy', 'blue-green']);
    expect(deploy.code).toBe(0);
    expect(deploy.stdout).toContain('nothing to deploy');
  });
});
