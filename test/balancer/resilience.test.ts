import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { BALANCER_RESPONSES, startBalancer } from '../../src/balancer/index.js';
import type { Balancer, BalancerOptionsInput } from '../../src/balancer/index.js';
import { startBackend, startBackends } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(ids: string[], pool: Partial<BalancerOptionsInput['pools'][string]> = {}, extra: Partial<BalancerOptionsInput> = {}): Promise<{ backends: Backend[]; balancer: Balancer; base: string; agent: Agent }> {
  const backends = await startBackends(ids);
  const balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: { web: { servers: backends.map((b) => ({ id: b.id, address: b.address })), ...pool } },
    ...extra,
  });
  const agent = new Agent({ connections: 16 });
  cleanups.push(async () => {
    await agent.close();
    await balancer.close();
    await Promise.all(backends.map((b) => b.kill()));
  });
  return { backends, balancer, base: `http://${balancer.addresses[0]}`, agent };
}

/** Run `workers` concurrent request loops until `stop()` resolves; collect statuses. */
async function load(base: string, agent: Agent, workers: number, until: Promise<void>, path = '/', method = 'GET'): Promise<{ ok: number; failed: Array<string | number>; byBackend: Record<string, number> }> {
  let done = false;
  void until.then(() => { done = true; });
  const result = { ok: 0, failed: [] as Array<string | number>, byBackend: {} as Record<string, number> };
  await Promise.all(Array.from({ length: workers }, async () => {
    while (!done) {
      try {
        const res = await request(`${base}${path}`, { dispatcher: agent, method: method as 'GET' });
        await res.body.text();
        if (res.statusCode === 200) result.ok++;
        else result.failed.push(res.statusCode);
        const id = res.headers['x-backend'] as string | undefined;
        if (id !== undefined) result.byBackend[id] = (result.byBackend[id] ?? 0) + 1;
      } catch (err) {
        result.failed.push((err as Error).message);
      }
    }
  }));
  return result;
}

const after = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('failures', () => {
  it('a server killed under load causes no client-visible error for idempotent requests', async () => {
    const { backends, base, agent, balancer } = await setup(['a', 'b', 'c']);
    let kill!: () => void;
    const killed = new Promise<void>((r) => { kill = r; });
    const run = load(base, agent, 8, killed.then(() => after(1000)));
    await waitFor('traffic to b', () => (balancer.pool('web').server('b')!.counters.requests > 100));
    await backends[1]!.kill('SIGKILL');
    kill();
    const result = await run;
    expect(result.failed).toEqual([]);
    expect(result.ok).toBeGreaterThan(200);
    const b = balancer.pool('web').server('b')!;
    expect(b.counters.failures).toBeGreaterThan(0);
    expect(b.state(Date.now())).toBe('ejected');
  });

  it('never retries a non-idempotent request that reached a server', async () => {
    const { base, agent, balancer } = await setup(['a', 'b']);
    const res = await request(`${base}/hang-then-crash?ms=50`, { dispatcher: agent, method: 'POST', body: 'order=1' });
    expect(res.statusCode).toBe(502);
    expect(await res.body.text()).toContain('SCALEOUT_BALANCER_BAD_UPSTREAM_RESPONSE');
    const counters = balancer.pool('web').servers().map((s) => s.counters);
    expect(counters.reduce((n, c) => n + c.requests, 0)).toBe(1);
    expect(counters.reduce((n, c) => n + c.retries, 0)).toBe(0);
  });

  it('retries a request that could not connect on another server, once', async () => {
    const dead = await startBackend('dead');
    await dead.kill();
    const live = await startBackend('live');
    const balancer = await startBalancer({
      listen: '127.0.0.1:0',
      pools: { web: { servers: [{ id: 'dead', address: dead.address }, { id: 'live', address: live.address }] } },
    });
    cleanups.push(async () => { await balancer.close(); await live.kill(); });
    for (let i = 0; i < 4; i++) {
      const res = await request(`http://${balancer.addresses[0]}/`, { method: 'POST', body: 'x' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-backend']).toBe('live');
      await res.body.text();
    }
  });

  it('ejects a server that keeps answering 5xx, then lets it back with slow start', async () => {
    const { balancer, base, agent } = await setup(['a', 'b'], { outlier: { consecutiveServerErrors: 3, baseEjectionMs: 1000 }, slowStartMs: 60_000 });
    // Only server a answers 500, while b answers fine: a stands out.
    for (let i = 0; i < 6; i++) await (await request(`${base}/status?code=500&only=a`, { dispatcher: agent })).body.text();
    const a = balancer.pool('web').server('a')!;
    expect(a.state(Date.now())).toBe('ejected');
    // The ejection ends by the clock; the pool takes the server back (into slow start)
    // when its release timer fires, which a loaded machine may run a little later.
    await waitFor('ejection to end', () => a.state(Date.now()) === 'up' && a.inSlowStart, { timeoutMs: 5000 });
    expect(a.weight).toBeLessThan(1);
  });

  it('answers 503 with Retry-After when every server is down', async () => {
    const { backends, base, agent, balancer } = await setup(['a', 'b'], { health: { path: '/healthz', intervalMs: 20, timeoutMs: 500 } });
    await Promise.all(backends.map((b) => request(`http://${b.address}/control?healthy=0`).then((r) => r.body.text())));
    await waitFor('all down', () => balancer.pool('web').servers().every((s) => s.state(Date.now()) === 'down'), { timeoutMs: 5000 });
    const res = await request(`${base}/`, { dispatcher: agent });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    // The catalogue's entry, with the pool named in front for people reading logs.
    expect(await res.body.json()).toEqual({
      error: { code: 'SCALEOUT_BALANCER_NO_HEALTHY_SERVER', message: `pool "web": ${BALANCER_RESPONSES.noHealthyServer.message}` },
    });
    await Promise.all(backends.map((b) => request(`http://${b.address}/control?healthy=1`).then((r) => r.body.text())));
    await waitFor('all up', () => balancer.pool('web').servers().every((s) => s.state(Date.now()) === 'up'), { timeoutMs: 5000 });
    expect((await request(`${base}/`, { dispatcher: agent })).statusCode).toBe(200);
  });

  it('answers 504 when a server does not answer in time', async () => {
    const { base, agent, balancer } = await setup(['a'], {}, { timeouts: { serverMs: 200 } });
    const res = await request(`${base}/slow?ms=2000`, { dispatcher: agent });
    expect(res.statusCode).toBe(504);
    expect(await res.body.text()).toContain('SCALEOUT_BALANCER_UPSTREAM_TIMEOUT');
    expect(balancer.pool('web').server('a')!.counters.timeouts).toBe(1);
  });
});

describe('drain', () => {
  it('drains under load without dropping a request, and reports drained', async () => {
    const { base, agent, balancer } = await setup(['a', 'b', 'c']);
    const pool = balancer.pool('web');
    let drainedAt = 0;
    const stop = (async () => {
      await waitFor('traffic to a', () => pool.server('a')!.counters.requests > 20);
      pool.drain('a');
      drainedAt = pool.server('a')!.counters.requests;
      await waitFor('a drained', () => pool.server('a')!.state(Date.now()) === 'drained');
      await after(300);
    })();
    const result = await load(base, agent, 8, stop, '/slow?ms=20');
    expect(result.failed).toEqual([]);
    // Nothing new reached a once it was draining.
    expect(pool.server('a')!.counters.requests).toBe(drainedAt);
    expect(pool.server('a')!.inFlight).toBe(0);
  });
});

describe('graceful shutdown', () => {
  it('finishes in-flight requests, then stops accepting', async () => {
    const { base, balancer } = await setup(['a']);
    const slow = request(`${base}/slow?ms=300`);
    await waitFor('request in flight', () => balancer.pool('web').server('a')!.inFlight === 1, { timeoutMs: 5000 });
    const closing = balancer.close();
    const res = await slow;
    expect(res.statusCode).toBe(200);
    await res.body.text();
    await closing;
    await expect(request(`${base}/`)).rejects.toThrow();
  });
});
