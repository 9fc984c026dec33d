import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BALANCER_HEALTH_INTERVAL_MS, readSupervisorFile } from '../../src/runtime/index.js';
import type { RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, removeApp, startLoad, UpProcess } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

// `scaleout up` with its default balancer settings: an instance that hangs (SIGSTOP)
// leaves the pool within 2 s while a steady load goes on without a failed request.
describe('scaleout up with a hung instance', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;
  let stoppedPid: number | undefined;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 3 }, balancer: { healthIntervalMs: DEFAULT_BALANCER_HEALTH_INTERVAL_MS } });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning();
  });

  afterAll(async () => {
    if (stoppedPid !== undefined) {
      try { process.kill(stoppedPid, 'SIGCONT'); } catch { /* already gone */ }
    }
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  const serverState = async (id: string): Promise<string | undefined> => {
    const file = readSupervisorFile(dir)!;
    const res = await fetch(new URL('/servers', file.adminUrl!), { headers: { authorization: `Bearer ${file.adminToken!}` } });
    const body = await res.json() as { pools: Record<string, { servers: Array<{ id: string; state: string }> }> };
    return Object.values(body.pools).flatMap((p) => p.servers).find((s) => s.id === id)?.state;
  };

  it('takes it out of the pool within 2 s; every request of the load succeeds', async () => {
    const victim = status.processes.find((p) => p.role === 'app' && p.id === 'app-2')!;
    expect(await serverState('app-2')).toBe('up');
    const load = startLoad(status.appUrl!, { connections: 6, overallRate: 300 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    stoppedPid = victim.pid!;
    process.kill(stoppedPid, 'SIGSTOP');
    const stoppedAt = performance.now();
    await waitFor('app-2 to leave the pool', async () => (await serverState('app-2')) !== 'up', { timeoutMs: 30_000, intervalMs: 20 });
    const detectMs = performance.now() - stoppedAt;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const result = await load.stop();
    console.log(`scaleout up, SIGSTOP: out of the pool after ${Math.round(detectMs)} ms; load: ${JSON.stringify(result)}`);
    expect(detectMs).toBeLessThan(2000);
    expect(result.requests).toBeGreaterThan(200);
    expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx }).toEqual({ errors: 0, timeouts: 0, non2xx: 0 });
  }, 120_000);
});
