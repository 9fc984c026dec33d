import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer, BalancerOptionsInput } from '../../src/balancer/index.js';
import { startBackends } from '../support/backend.js';
import { startFastifyInstance } from '../support/fastify-instance.js';
import { waitFor } from '../support/wait-for.js';

// A hung server (SIGSTOP: the kernel still accepts its connections, nothing answers)
// must stop getting new requests within 2 s, while a steady load keeps succeeding.

interface Proc { id: string; address: string; process: { pid?: number; kill(signal: NodeJS.Signals): boolean }; kill(signal?: NodeJS.Signals): Promise<void> }

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

// What `scaleout up` configures: checks every second, 2 s probe timeout, fall 3.
const RUNTIME_LIKE_HEALTH = { path: '/healthz', intervalMs: 1000, timeoutMs: 2000 };

async function balance(servers: Proc[], pool: Partial<BalancerOptionsInput['pools'][string]> = {}, extra: Partial<BalancerOptionsInput> = {}): Promise<{ balancer: Balancer; base: string; agent: Agent }> {
  const balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: { web: { servers: servers.map((s) => ({ id: s.id, address: s.address })), health: RUNTIME_LIKE_HEALTH, ...pool } },
    ...extra,
  });
  const agent = new Agent({ connections: 16 });
  cleanups.push(async () => {
    await agent.close();
    await balancer.close();
    // A stopped process must be continued to exit on SIGTERM; SIGKILL works either way.
    await Promise.all(servers.map((s) => s.kill('SIGKILL')));
  });
  return { balancer, base: `http://${balancer.addresses[0]}`, agent };
}

/** `workers` request loops until `until` resolves; counts every outcome. */
async function steadyLoad(base: string, agent: Agent, workers: number, until: Promise<void>): Promise<{ ok: number; failed: Array<string | number> }> {
  let done = false;
  void until.then(() => { done = true; });
  const result = { ok: 0, failed: [] as Array<string | number> };
  await Promise.all(Array.from({ length: workers }, async () => {
    while (!done) {
      try {
        const res = await request(`${base}/`, { dispatcher: agent });
        await res.body.text();
        if (res.statusCode === 200) result.ok++;
        else result.failed.push(res.statusCode);
      } catch (err) {
        result.failed.push((err as Error).message);
      }
    }
  }));
  return result;
}

/** SIGSTOPs `victim` under load; returns how long until it took no new requests, and the load's outcome. */
async function stopUnderLoad(balancer: Balancer, base: string, agent: Agent, victim: Proc): Promise<{ detectMs: number; lateRequests: number; load: { ok: number; failed: Array<string | number> } }> {
  let stopLoad!: () => void;
  const stopped = new Promise<void>((resolve) => { stopLoad = resolve; });
  const run = steadyLoad(base, agent, 6, stopped);
  const server = balancer.pool('web').server(victim.id)!;
  await waitFor('traffic to the victim', () => server.counters.requests > 50, { timeoutMs: 30_000 });
  victim.process.kill('SIGSTOP');
  const stoppedAt = performance.now();
  await waitFor('the victim to leave rotation', () => !server.isEligible(Date.now()), { timeoutMs: 30_000, intervalMs: 10 });
  const detectMs = performance.now() - stoppedAt;
  const requestsAtDetection = server.counters.requests;
  // Keep the load on for a while: nothing more may go to the victim, and all must succeed.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const lateRequests = server.counters.requests - requestsAtDetection;
  stopLoad();
  return { detectMs, lateRequests, load: await run };
}

describe('a hung server', () => {
  it('takes no new requests within 2 s, and every idempotent request of a steady load succeeds', async () => {
    const backends = await startBackends(['a', 'b', 'c']);
    const { balancer, base, agent } = await balance(backends);
    const { detectMs, lateRequests, load } = await stopUnderLoad(balancer, base, agent, backends[1]!);
    console.log(`SIGSTOP: out of rotation after ${Math.round(detectMs)} ms; load: ${load.ok} ok, ${load.failed.length} failed`);
    expect(detectMs).toBeLessThan(2000);
    expect(lateRequests).toBe(0);
    expect(load.failed).toEqual([]);
    expect(load.ok).toBeGreaterThan(100);
    const b = balancer.pool('web').server('b')!;
    expect(b.state(Date.now())).toBe('down');
    expect(b.counters.retries).toBeGreaterThan(0); // its in-flight requests moved
  }, 60_000);

  it('is found as fast among Fastify instances, and comes back once continued', async () => {
    const instances = await Promise.all(['f1', 'f2', 'f3'].map((id) => startFastifyInstance(id)));
    const { balancer, base, agent } = await balance(instances);
    const { detectMs, lateRequests, load } = await stopUnderLoad(balancer, base, agent, instances[0]!);
    console.log(`SIGSTOP (Fastify): out of rotation after ${Math.round(detectMs)} ms; load: ${load.ok} ok, ${load.failed.length} failed`);
    expect(detectMs).toBeLessThan(2000);
    expect(lateRequests).toBe(0);
    expect(load.failed).toEqual([]);
    instances[0]!.process.kill('SIGCONT');
    await waitFor('f1 to come back', () => balancer.pool('web').server('f1')!.state(Date.now()) === 'up', { timeoutMs: 15_000 });
  }, 90_000);

  it('without active checks, is ejected as fast, as the other servers are not silent', async () => {
    const backends = await startBackends(['a', 'b', 'c']);
    const { balancer, base, agent } = await balance(backends, { health: undefined });
    const { detectMs, lateRequests, load } = await stopUnderLoad(balancer, base, agent, backends[2]!);
    expect(detectMs).toBeLessThan(2000);
    expect(lateRequests).toBe(0);
    expect(load.failed).toEqual([]);
    expect(balancer.pool('web').server('c')!.state(Date.now())).toBe('ejected');
  }, 60_000);

  it('lets a non-idempotent request in flight wait: it is not sent twice, and ends in 504', async () => {
    const backends = await startBackends(['a', 'b']);
    const { balancer, base, agent } = await balance(backends, {}, { timeouts: { serverMs: 2500 } });
    // Round-robin over two servers: after an answer from a, the next request goes to b.
    await waitFor('the rotation to point at b', async () => {
      const res = await request(`${base}/`, { dispatcher: agent });
      await res.body.text();
      return res.headers['x-backend'] === 'a';
    });
    backends[1]!.process.kill('SIGSTOP');
    const post = request(`${base}/order`, { dispatcher: agent, method: 'POST', body: 'item=1' });
    const b = balancer.pool('web').server('b')!;
    await waitFor('the order to reach b', () => b.inFlight === 1);
    // Other traffic goes on, so b's silence is noticed.
    const load = steadyLoad(base, agent, 2, waitFor('b to leave rotation', () => !b.isEligible(Date.now()), { timeoutMs: 10_000 }).then(() => {}));
    expect((await load).failed).toEqual([]);
    expect(b.state(Date.now())).toBe('down');
    // Sent to a instead, the order would have been answered 200 at once.
    const res = await post;
    expect(res.statusCode).toBe(504);
    expect(await res.body.text()).toContain('SCALEOUT_BALANCER_UPSTREAM_TIMEOUT');
  }, 60_000);
});
