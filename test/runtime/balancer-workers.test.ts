import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessStatus, RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, isAlive, removeApp, UpProcess } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

/** New connection per request (agent: false), so every request goes through the listening socket. */
function requestOnce(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 20_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

/** A client that retries an idempotent request once when its connection fails. */
function retryingClients(url: string, clients: number): { ok: () => number; stop(): Promise<{ ok: number; failed: string[] }> } {
  let ok = 0;
  const failed: string[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    for (let i = 0; running && i < 20_000; i++) {
      let status: number;
      try {
        status = await requestOnce(url).catch(() => requestOnce(url));
      } catch (err) {
        failed.push((err as NodeJS.ErrnoException).code ?? (err as Error).message);
        continue;
      }
      if (status === 200) ok++;
      else failed.push(`status ${status}`);
    }
  });
  return {
    ok: () => ok,
    async stop() {
      running = false;
      await Promise.all(loops);
      return { ok, failed };
    },
  };
}

/** The live balancer workers under `pid` (not zombies waiting to be reaped). */
function childrenOf(pid: number): number[] {
  let out: string;
  try {
    out = execFileSync('ps', ['-o', 'pid=,stat=,args=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    // ps exits 1 when there is none.
    return [];
  }
  return out.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length > 2 && !f[1]!.startsWith('Z') && f.slice(2).join(' ').includes('worker-main'))
    .map((f) => Number(f[0]));
}

describe('scaleout up with balancer workers', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;
  const balancerOf = (s: RuntimeStatus): ProcessStatus => s.processes.find((p) => p.role === 'balancer')!;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 2 }, balancer: { workers: 2 } });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning(120_000);
  }, 150_000);

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('runs two workers on the socket the supervisor holds; a killed worker is replaced and a retrying client sees no error', async () => {
    const balancer = balancerOf(status);
    expect(balancer.detail).toContain('2 workers');
    const workers = await waitFor('two workers under the balancer', () => {
      const pids = childrenOf(balancer.pid!);
      return pids.length === 2 ? pids : undefined;
    }, { timeoutMs: 30_000 });
    const load = retryingClients(status.appUrl!, 3);
    await waitFor('requests before the kill', () => load.ok() > 20, { timeoutMs: 20_000 });
    process.kill(workers[0]!, 'SIGKILL');
    await waitFor('a new worker', () => {
      const pids = childrenOf(balancer.pid!);
      return pids.length === 2 && !pids.includes(workers[0]!) ? pids : undefined;
    }, { timeoutMs: 30_000 });
    const okAtRestart = load.ok();
    await waitFor('requests after the restart', () => load.ok() > okAtRestart + 20, { timeoutMs: 20_000 });
    const outcome = await load.stop();
    expect(outcome.failed).toEqual([]);
    // The balancer process itself (the workers' primary) did not restart.
    expect(balancerOf(await up.status())).toMatchObject({ pid: balancer.pid, restarts: 0 });
  }, 90_000);

  it('when the primary dies, the spare takes over with new workers and the old ones go', async () => {
    const before = balancerOf(await up.status());
    const oldWorkers = await waitFor('two workers under the balancer', () => {
      const pids = childrenOf(before.pid!);
      return pids.length === 2 ? pids : undefined;
    }, { timeoutMs: 30_000 });
    process.kill(before.pid!, 'SIGKILL');
    const after = await waitFor('the new balancer', async () => {
      const b = balancerOf(await up.status());
      return b.state === 'running' && b.pid !== before.pid ? b : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    expect(after.address).toBe(before.address);
    expect(await requestOnce(status.appUrl!)).toBe(200);
    await waitFor('two new workers', () => childrenOf(after.pid!).length === 2, { timeoutMs: 30_000 });
    // The old workers saw their primary go and stopped: nothing is left behind.
    await waitFor('the old workers gone', () => oldWorkers.every((pid) => !isAlive(pid)), { timeoutMs: 20_000 });
  }, 90_000);
});
