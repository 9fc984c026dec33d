import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, readSupervisorFile } from '../../src/runtime/index.js';
import type { ChaosFault, RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, removeApp, runCli, UpProcess } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

function get(url: string, timeoutMs = 5_000): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

const nftTables = (): string => execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
const loQdiscs = (): string => execFileSync('tc', ['qdisc', 'show', 'dev', 'lo'], { encoding: 'utf8' });

describe('scaleout chaos', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;
  let qdiscsBefore: string;

  const serverState = async (id: string): Promise<string | undefined> => {
    const file = readSupervisorFile(dir)!;
    const res = await fetch(new URL('/servers', file.adminUrl!), { headers: { authorization: `Bearer ${file.adminToken!}` } });
    const body = await res.json() as { pools: Record<string, { servers: Array<{ id: string; state: string }> }> };
    return Object.values(body.pools).flatMap((p) => p.servers).find((s) => s.id === id)?.state;
  };
  const instance = async (id: string) => (await up.status()).processes.find((p) => p.id === id)!;
  const chaos = (...args: string[]) => runCli(['chaos', ...args, '--dir', dir]);
  const faults = async (): Promise<ChaosFault[]> => ControlClient.connect(dir).chaosFaults();
  // The control API straight (what the CLI calls): the CLI's own start-up is seconds on a busy machine.
  const inject = (fault: ChaosFault['fault'], target: string, ms?: number) => ControlClient.connect(dir).chaos({ fault, target, ...(ms === undefined ? {} : { ms }) });
  const heal = () => ControlClient.connect(dir).chaosHeal();

  beforeAll(async () => {
    qdiscsBefore = loQdiscs();
    dir = await copyApp('hello', { app: { instances: 2, restart: { initialMs: 100, maxMs: 1000 } } });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning();
  }, 120_000);

  afterAll(async () => {
    await up?.stop('SIGKILL');
    // A failed test may leave faults in force: their tables are in the ledger.
    const ledger = join(dir, '.scaleout', 'chaos.json');
    if (existsSync(ledger)) {
      for (const fault of JSON.parse(readFileSync(ledger, 'utf8')) as ChaosFault[]) {
        if (fault.table !== null) {
          try { execFileSync('nft', ['delete', 'table', 'inet', fault.table]); } catch { /* gone */ }
        }
        if (fault.fault === 'stop' && fault.pid !== null) {
          try { process.kill(fault.pid, 'SIGCONT'); } catch { /* gone */ }
        }
      }
    }
    await removeApp(dir);
  });

  it('partitions an instance: the balancer ejects it, clients are served by the other; heal brings it back and removes the table', async () => {
    expect(await serverState('app-1')).toBe('up');
    const result = await chaos('partition', 'app-1');
    expect(result.code, result.stderr).toBe(0);
    const [fault] = await faults();
    expect(fault).toMatchObject({ fault: 'partition', target: 'app-1', role: 'app', ports: [Number((await instance('app-1')).address!.split(':')[1])] });
    expect(nftTables()).toContain(`table inet ${fault!.table}`);
    const cutAt = performance.now();
    await waitFor('app-1 out of the pool', async () => (await serverState('app-1')) !== 'up', { timeoutMs: 15_000, intervalMs: 50 });
    const ejectedMs = performance.now() - cutAt;
    for (let i = 0; i < 5; i++) expect((await get(status.appUrl!)).status).toBe(200);

    const healed = await chaos('heal');
    expect(healed.code, healed.stderr).toBe(0);
    expect(healed.stdout).toContain('healed 1 fault(s)');
    const healedAt = performance.now();
    await waitFor('app-1 back in the pool', async () => (await serverState('app-1')) === 'up', { timeoutMs: 15_000, intervalMs: 50 });
    console.log(`chaos partition: app-1 out of the pool ${ejectedMs.toFixed(0)} ms after the fault was in force; back ${(performance.now() - healedAt).toFixed(0)} ms after heal returned`);
    expect(nftTables()).not.toContain('scaleout_chaos_');
    expect(loQdiscs()).toBe(qdiscsBefore);
    expect(await faults()).toEqual([]);
    const { events } = await ControlClient.connect(dir).events();
    expect(events.filter((e) => e.source === 'app-1' && (e.kind === 'chaos-fault' || e.kind === 'chaos-healed')).map((e) => e.kind)).toEqual(['chaos-fault', 'chaos-healed']);
  }, 60_000);

  it('slows an instance: everything it sends arrives late until healed', async () => {
    const target = await instance('app-2');
    const direct = `http://${target.address!}/`;
    expect((await get(direct)).ms).toBeLessThan(300);
    await inject('slow', 'app-2', 400);
    const slowed = await get(direct);
    expect(slowed.status).toBe(200);
    expect(slowed.ms).toBeGreaterThanOrEqual(400);
    expect(await heal()).toHaveLength(1);
    expect(nftTables()).not.toContain('scaleout_chaos_');
    // Not a hard bound on a busy machine: well under the delay is enough.
    expect((await get(direct)).ms).toBeLessThan(300);
  }, 60_000);

  it('stop hangs a process until healed; kill is restarted by supervision', async () => {
    await inject('stop', 'app-2');
    await waitFor('app-2 out of the pool', async () => (await serverState('app-2')) !== 'up', { timeoutMs: 15_000, intervalMs: 50 });
    expect(await heal()).toMatchObject([{ fault: 'stop', target: 'app-2' }]);
    await waitFor('app-2 back in the pool', async () => (await serverState('app-2')) === 'up', { timeoutMs: 15_000, intervalMs: 50 });

    const before = await instance('balancer');
    await inject('kill', 'balancer');
    const after = await waitFor('the balancer restarted', async () => {
      const b = await instance('balancer');
      return b.state === 'running' && b.pid !== before.pid ? b : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    expect(after.restarts).toBe((before.restarts ?? 0) + 1);
    // A role names its first running process.
    const instanceBefore = await instance('app-1');
    expect(await inject('kill', 'instance')).toMatchObject({ target: 'app-1', role: 'app' });
    await waitFor('app-1 restarted', async () => {
      const p = await instance('app-1');
      return p.state === 'running' && p.pid !== instanceBefore.pid;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    expect((await get(status.appUrl!)).status).toBe(200);
  }, 60_000);

  it('refuses bad requests with a code, on the CLI and on the control API', async () => {
    const noMs = await chaos('slow', 'app-1');
    expect(noMs.code).toBe(2);
    const unknown = await chaos('partition', 'nosuch');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no process or role "nosuch".*\[SCALEOUT_RUNTIME_CHAOS_INVALID\]/);
    const file = readSupervisorFile(dir)!;
    for (const body of [{ fault: 'explode', target: 'app-1' }, { fault: 'slow', target: 'app-1', ms: -1 }, { fault: 'kill', target: 'app 1; rm' }, { fault: 'kill', target: 'app-1', extra: 1 }]) {
      const res = await fetch(`http://${file.control}/chaos`, { method: 'POST', headers: { authorization: `Bearer ${file.token}` }, body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('SCALEOUT_RUNTIME_CHAOS_INVALID');
    }
    const list = await fetch(`http://${file.control}/chaos`, { headers: { authorization: `Bearer ${file.token}` } });
    expect(await list.json()).toEqual({ faults: [] });
  }, 30_000);

  it('heals at the next start what a SIGKILLed supervisor left in force, and at a graceful stop', async () => {
    const fault = await inject('partition', 'app-1');
    expect(nftTables()).toContain(`table inet ${fault.table}`);
    await up.stop('SIGKILL');
    // Nothing ran on the way out: the table is still there.
    expect(nftTables()).toContain(`table inet ${fault.table}`);
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning();
    expect(nftTables()).not.toContain(`table inet ${fault.table}`);
    const { events } = await ControlClient.connect(dir).events();
    expect(events.find((e) => e.kind === 'chaos-healed')).toMatchObject({ source: 'app-1', fault: 'partition' });

    // And a graceful stop heals before it stops anything.
    const second = await inject('partition', 'app-2');
    expect(nftTables()).toContain(`table inet ${second.table}`);
    expect((await up.stop('SIGTERM')).code).toBe(0);
    expect(nftTables()).not.toContain(`table inet ${second.table}`);
    expect(existsSync(join(dir, '.scaleout', 'chaos.json'))).toBe(false);
  }, 120_000);
});
