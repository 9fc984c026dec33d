import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/runtime/index.js';
import type { ProcessStatus, RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, removeApp, UpProcess } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

// Loaded into every process of this `scaleout up`; only the balancer child acts on it:
// SIGUSR2 makes it throw an uncaught error, a crash with a stack.
const CRASH_ON_SIGUSR2 = `--import=data:text/javascript,${encodeURIComponent(
  "if (process.argv[1]?.includes('balancer-child')) process.on('SIGUSR2', () => setImmediate(() => { throw new Error('balancer crash asked for by the test'); }));",
)}`;

interface Outcome {
  ok: number;
  errors: Map<string, number>;
  /** Longest time a request took, from connecting to the last byte. */
  maxMs: number;
}

/** New connection per request (agent: false), so every request tests the listening socket. */
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

function clientLoop(url: string, clients: number): { stop(): Promise<Outcome> } {
  const outcome: Outcome = { ok: 0, errors: new Map(), maxMs: 0 };
  let running = true;
  const loop = async (): Promise<void> => {
    // Bounded: at most this many requests per client.
    for (let i = 0; running && i < 20_000; i++) {
      const started = performance.now();
      try {
        const status = await requestOnce(url);
        if (status === 200) outcome.ok++;
        else outcome.errors.set(`status ${status}`, (outcome.errors.get(`status ${status}`) ?? 0) + 1);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        outcome.errors.set(code, (outcome.errors.get(code) ?? 0) + 1);
      }
      outcome.maxMs = Math.max(outcome.maxMs, performance.now() - started);
    }
  };
  const loops = Array.from({ length: clients }, () => loop());
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return outcome;
    },
  };
}

describe('scaleout up when the balancer crashes', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;

  const balancerOf = (s: RuntimeStatus): ProcessStatus => s.processes.find((p) => p.role === 'balancer')!;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 2 } });
    // The built command, as users run it: the balancer child starts as fast as it does for them.
    up = UpProcess.startBuilt(dir, cleanEnv({ NODE_OPTIONS: CRASH_ON_SIGUSR2 }));
    status = await up.waitRunning();
  }, 120_000);

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('restarts it at once on the same socket: clients are never refused, each outage is short, each crash is logged', async () => {
    const url = status.appUrl!;
    const load = clientLoop(url, 3);
    const outagesMs: number[] = [];
    let pid = balancerOf(status).pid!;
    for (let crash = 1; crash <= 3; crash++) {
      // The supervisor keeps a balancer child loaded for the next restart.
      await waitFor('a spare balancer', async () => balancerOf(await up.status()).detail?.includes('spare loaded'), { timeoutMs: 15_000, intervalMs: 20 });
      await waitFor('requests before the crash', async () => (await requestOnce(url)) === 200, { timeoutMs: 10_000 });
      const killedAt = performance.now();
      process.kill(pid, 'SIGKILL');
      // The first request on a new connection after the kill: it waits in the kernel's queue until the new balancer takes it.
      const answered = await requestOnce(url);
      outagesMs.push(performance.now() - killedAt);
      expect(answered).toBe(200);
      const next = await waitFor('the new balancer in the status', async () => {
        const b = balancerOf(await up.status());
        return b.state === 'running' && b.pid !== pid ? b : undefined;
      }, { timeoutMs: 15_000, intervalMs: 20 });
      expect(next.restarts).toBe(crash);
      expect(next.address).toBe(balancerOf(status).address);
      pid = next.pid!;
    }
    const outcome = await load.stop();
    console.log(`balancer crash outages: ${outagesMs.map((ms) => ms.toFixed(0)).join(', ')} ms; longest request ${outcome.maxMs.toFixed(0)} ms; ` +
      `${outcome.ok} ok, errors ${JSON.stringify([...outcome.errors])}`);
    expect(outcome.errors.get('ECONNREFUSED') ?? 0).toBe(0);
    expect(outcome.ok).toBeGreaterThan(10);
    // Requests on connections the killed balancer had accepted fail (at most one per client
    // and crash: the three of the loop and this test's own); nothing else does.
    const failed = [...outcome.errors.values()].reduce((a, b) => a + b, 0);
    expect(failed).toBeLessThanOrEqual((3 + 1) * 3);
    // No backoff for the first crashes, and no process start either (about 0.1 s here; generous for a busy 2-core machine).
    for (const ms of outagesMs) expect(ms).toBeLessThan(3_000);
    expect(up.stderr).toMatch(/the balancer killed by SIGKILL; restarting it now on the same addresses/);
  }, 120_000);

  it('shows the stack of an uncaught error where the operator looks', async () => {
    const before = balancerOf(await up.status());
    process.kill(before.pid!, 'SIGUSR2');
    await waitFor('the crash report', () => /after an uncaught error:\n.*Error: balancer crash asked for by the test\n\s+at /.test(up.stderr), { timeoutMs: 15_000 });
    const after = await waitFor('the balancer back', async () => {
      const b = balancerOf(await up.status());
      return b.state === 'running' && b.pid !== before.pid ? b : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    expect(after.address).toBe(before.address);
    expect(await requestOnce(status.appUrl!)).toBe(200);
    // And in the event stream, typed: the dashboard and `scaleout logs` see the stack too.
    const { events } = await ControlClient.connect(dir).events();
    const exited = events.filter((e) => e.kind === 'process-exited' && e.source === 'balancer').at(-1);
    expect(exited).toMatchObject({ name: 'the balancer', exit: 'exited with code 70', restartInMs: expect.any(Number) });
    expect(exited?.kind === 'process-exited' ? exited.crashReport : null).toMatch(/^Error: balancer crash asked for by the test\n\s+at /);
    expect(events.filter((e) => e.kind === 'process-restarted' && e.source === 'balancer').at(-1)).toMatchObject({ pid: after.pid });
  }, 60_000);
});
