import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeStatus } from '../../src/runtime/index.js';
import { readSupervisorFile } from '../../src/runtime/index.js';
import { copyApp, isAlive, removeApp, runCli, startLoad, UpProcess } from './support/runtime-harness.js';
import { get } from '../support/http-client.js';
import { waitFor } from '../support/wait-for.js';

const appIds = (s: RuntimeStatus): string[] => s.processes.filter((p) => p.role === 'app').map((p) => p.id);

describe('scaleout scale', () => {
  let dir: string;
  let up: UpProcess;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 2 } });
    up = UpProcess.start(dir);
    await up.waitRunning();
  });

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('scales to 4 and back to 2 live without failing a request', async () => {
    const before = await up.status();
    const load = startLoad(before.appUrl!);

    const out = await runCli(['scale', 'app=4', dir]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('app: 2 → 4 instance(s); started app-3, app-4');
    const four = await up.status();
    expect(appIds(four)).toEqual(['app-1', 'app-2', 'app-3', 'app-4']);
    const file = readSupervisorFile(dir)!;
    const pool = await (await fetch(new URL('/servers', file.adminUrl!), { headers: { authorization: `Bearer ${file.adminToken!}` } })).json() as {
      pools: Record<string, { servers: Array<{ id: string }> }>;
    };
    expect(pool.pools.app!.servers.map((s) => s.id).sort()).toEqual(['app-1', 'app-2', 'app-3', 'app-4']);
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) seen.add((await get(four.appUrl!)).instance!);
    expect(seen.size).toBe(4);

    const down = await runCli(['scale', 'app=2', dir]);
    expect(down.code, down.stderr).toBe(0);
    const result = await load.stop();
    expect(result.requests).toBeGreaterThan(50);
    expect(result).toMatchObject({ errors: 0, timeouts: 0, non2xx: 0 });

    const two = await up.status();
    // The newest instances are the ones stopped.
    expect(appIds(two)).toEqual(['app-1', 'app-2']);
    for (const gone of four.processes.filter((p) => p.id === 'app-3' || p.id === 'app-4')) expect(isAlive(gone.pid!)).toBe(false);
    expect(two.processes.find((p) => p.role === 'supervisor')?.detail).toContain('desired app instances: 2');

    // The running supervisor builds too; the folder did not change, so neither does the image.
    const build = await runCli(['build', dir]);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stdout).toContain(`build ${two.buildId!}`);
    expect(build.stdout).toContain('(already built, 2 files)');
  });

  it('refuses what it cannot do with one clear line', async () => {
    const [zero, workers, balancer, garbled] = await Promise.all([
      runCli(['scale', 'app=0', dir]),
      runCli(['scale', 'mailer=2', dir]),
      runCli(['scale', 'balancer=2', dir]),
      runCli(['scale', 'app=many', dir]),
    ]);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/^scaleout: app=0: give a whole number from 1 to 64.*\[SCALEOUT_RUNTIME_SCALE_INVALID\]\n$/);
    expect(workers.code).toBe(1);
    expect(workers.stderr).toMatch(/^scaleout: "mailer" is not a role of this deployment; scalable roles: app.*\[SCALEOUT_RUNTIME_SCALE_INVALID\]\n$/);
    expect(balancer.code).toBe(1);
    expect(balancer.stderr).toMatch(/^scaleout: "balancer" cannot be scaled; scalable roles: app.*\[SCALEOUT_RUNTIME_SCALE_INVALID\]\n$/);
    expect(garbled.code).toBe(2);
    expect(garbled.stderr).toContain('"app=many" must look like app=4');
  });

  it('a second Ctrl-C kills every process at once', async () => {
    const status = await up.status();
    const pids = status.processes.flatMap((p) => (p.pid === null ? [] : [p.pid]));
    expect(pids.length).toBeGreaterThanOrEqual(4);
    // A slow request in flight keeps the graceful stop draining while the second Ctrl-C comes.
    const slow = fetch(new URL('/slow?ms=20000', status.appUrl!)).catch(() => undefined);
    await waitFor('the slow request to be in flight', async () => {
      const file = readSupervisorFile(dir)!;
      const res = await fetch(new URL('/servers', file.adminUrl!), { headers: { authorization: `Bearer ${file.adminToken!}` } });
      const body = await res.json() as { pools: Record<string, { servers: Array<{ inFlight: number }> }> };
      return Object.values(body.pools).some((p) => p.servers.some((srv) => srv.inFlight > 0));
    }, { timeoutMs: 10_000, intervalMs: 50 });
    up.child.kill('SIGINT');
    await waitFor('the first SIGINT to be handled', () => up.stderr.includes('SIGINT: draining and stopping everything'), { timeoutMs: 10_000, intervalMs: 50 });
    up.child.kill('SIGINT');
    const result = await up.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SIGINT again: killing every process now');
    for (const pid of pids) await waitFor(`pid ${pid} to be gone`, () => !isAlive(pid), { timeoutMs: 10_000, intervalMs: 50 });
    await slow;
  });
});
