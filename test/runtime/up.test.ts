import { existsSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessStatus, RuntimeStatus } from '../../src/runtime/index.js';
import { INSTANCE_ENV, instanceEnv, readSupervisorFile } from '../../src/runtime/index.js';
import {
  cleanEnv, copyApp, EXTERNAL_ENGINES, isAlive, removeApp, runCli, UpProcess,
} from './support/runtime-harness.js';
import { get } from '../support/http-client.js';
import { waitFor } from '../support/wait-for.js';

// One `scaleout up` against the machine's PostgreSQL and Redis, three instances.
describe('scaleout up', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;
  const everPids = new Set<number>();

  const apps = (s: RuntimeStatus): ProcessStatus[] => s.processes.filter((p) => p.role === 'app');
  const remember = (s: RuntimeStatus): void => {
    for (const p of s.processes) if (p.pid !== null) everPids.add(p.pid);
  };
  const poolServers = async (): Promise<Array<{ id: string; address: string; state: string }>> => {
    const file = readSupervisorFile(dir)!;
    const res = await fetch(new URL('/servers', file.adminUrl!), { headers: { authorization: `Bearer ${file.adminToken!}` } });
    const body = await res.json() as { pools: Record<string, { servers: Array<{ id: string; address: string; state: string }> }> };
    return Object.values(body.pools).flatMap((p) => p.servers);
  };

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 3 }, engines: { postgres: {}, redis: {} } });
    up = UpProcess.start(dir, cleanEnv(EXTERNAL_ENGINES));
    status = await up.waitRunning();
    remember(status);
  });

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('starts every instance from the unpacked image, healthy and in the pool', async () => {
    expect(apps(status)).toHaveLength(3);
    for (const app of apps(status)) {
      expect(app).toMatchObject({ state: 'running', buildId: status.buildId, pool: 'app' });
      // Instances run the immutable image, not the working tree.
      expect(readlinkSync(`/proc/${app.pid}/cwd`)).toBe(join(dir, '.scaleout', 'run', status.buildId!));
    }
    expect(existsSync(join(dir, '.scaleout', 'images', `${status.buildId}.tgz`))).toBe(true);
    expect((await poolServers()).map((s) => s.id).sort()).toEqual(['app-1', 'app-2', 'app-3']);
  });

  it('balances requests over every instance and hands them the engines', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const res = await get(status.appUrl!);
      expect(res.status).toBe(200);
      seen.add(res.instance!);
      expect(res.body.env).toMatchObject({ redis: EXTERNAL_ENGINES.REDIS_URL, database: EXTERNAL_ENGINES.DATABASE_URL, profile: 'redis', sessionKeys: true });
    }
    expect([...seen].sort()).toEqual(['app-1', 'app-2', 'app-3']);
  });

  it('gives every instance an environment that instanceEnv() reads without a problem', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 30 && seen.size < 3; i++) {
      const res = await get(new URL(`/env?names=${Object.values(INSTANCE_ENV).join(',')}`, status.appUrl!).href);
      expect(res.status).toBe(200);
      const body = res.body as unknown as { instance: string; env: Record<string, string | undefined> };
      const env = instanceEnv(body.env, { need: ['databaseUrl', 'redisUrl', 'sessionKeys'] });
      const app = apps(status).find((p) => p.id === body.instance)!;
      expect(env).toMatchObject({
        instanceId: body.instance, buildId: status.buildId, host: '127.0.0.1', port: Number(app.address!.split(':').pop()),
        databaseUrl: EXTERNAL_ENGINES.DATABASE_URL, redisUrl: EXTERNAL_ENGINES.REDIS_URL, profile: 'redis',
      });
      expect(env.sessionKeys!.length).toBeGreaterThan(0);
      seen.add(body.instance);
    }
    expect([...seen].sort()).toEqual(['app-1', 'app-2', 'app-3']);
  });

  it('status --json lists every process with role, id, pid, address, buildId and state', async () => {
    const result = await runCli(['status', '--json', dir]);
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as RuntimeStatus;
    expect(printed.state).toBe('running');
    expect(printed.profile).toBe('redis');
    const byRole = (role: string): ProcessStatus[] => printed.processes.filter((p) => p.role === role);
    expect(byRole('supervisor')).toHaveLength(1);
    expect(byRole('balancer')[0]).toMatchObject({ id: 'balancer', state: 'running' });
    expect(byRole('app')).toHaveLength(3);
    expect(byRole('postgres')[0]).toMatchObject({ pid: null, address: '127.0.0.1:5432', state: 'external' });
    expect(byRole('redis')[0]).toMatchObject({ pid: null, address: '127.0.0.1:6379', state: 'external' });
    for (const p of printed.processes) {
      expect(Object.keys(p)).toEqual(expect.arrayContaining(['role', 'id', 'pid', 'address', 'buildId', 'state']));
      if (p.state !== 'external') expect(isAlive(p.pid!)).toBe(true);
    }
    expect(printed.db).not.toBeNull();
    // The supervisor file holds tokens: only its owner may read it.
    expect(statSync(join(dir, '.scaleout', 'supervisor.json')).mode & 0o777).toBe(0o600);
  });

  it('refuses a second supervisor for the same folder', async () => {
    const second = await runCli(['up', dir], cleanEnv(EXTERNAL_ENGINES));
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`scaleout: a scaleout supervisor (pid ${status.processes[0]!.pid}) already runs ${dir}`);
    expect((await up.status()).state).toBe('running');
  });

  it('takes a crashed instance out of the pool, restarts it and puts it back', async () => {
    const victim = apps(status).find((p) => p.id === 'app-2')!;
    process.kill(victim.pid!, 'SIGKILL');
    // The fixture's first restart waits 1.5 s: time enough to see it out of the pool.
    await waitFor('app-2 to leave the pool', async () => !(await poolServers()).some((s) => s.id === 'app-2'), { timeoutMs: 10_000, intervalMs: 50 });
    const back = await waitFor('app-2 to be restarted', async () => {
      const s = await up.status();
      const app = apps(s).find((p) => p.id === 'app-2');
      return app?.state === 'running' && app.pid !== victim.pid ? app : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    expect(back.restarts).toBe(1);
    expect(back.detail).toContain('SIGKILL');
    const servers = await poolServers();
    expect(servers.find((s) => s.id === 'app-2')).toMatchObject({ address: back.address, state: 'up' });
    remember(await up.status());
    const res = await get(status.appUrl!);
    expect(res.status).toBe(200);
  });

  it('stops everything on SIGTERM and leaves no process behind', async () => {
    const result = await up.stop('SIGTERM');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('stopped');
    expect(everPids.size).toBeGreaterThanOrEqual(6);
    for (const pid of everPids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(join(dir, '.scaleout', 'supervisor.json'))).toBe(false);
  });
});
