import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { request } from 'undici';
import { startAdminApi, startBalancer } from '../../src/balancer/index.js';
import type { AdminApi, Balancer } from '../../src/balancer/index.js';
import { startBackends } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { waitFor } from '../support/wait-for.js';

const token = 'admin-token-0123456789';
let backends: Backend[];
let balancer: Balancer;
let admin: AdminApi;
let adminBase: string;

beforeAll(async () => {
  backends = await startBackends(['a', 'b', 'c']);
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: { web: { servers: backends.slice(0, 2).map((b) => ({ id: b.id, address: b.address })) } },
  });
  admin = await startAdminApi(balancer, { address: '127.0.0.1:0', token });
  adminBase = `http://${admin.address}`;
});
afterAll(async () => {
  await admin.close();
  await balancer.close();
  await Promise.all(backends.map((b) => b.kill()));
});

async function call(method: string, path: string, body?: unknown, auth = `Bearer ${token}`): Promise<{ status: number; json: unknown; text: string }> {
  const res = await request(`${adminBase}${path}`, {
    method: method as 'GET',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.statusCode, json, text };
}

describe('admin API', () => {
  it('refuses requests without the right bearer token', async () => {
    for (const auth of ['', 'Bearer wrong', `Basic ${token}`, `Bearer ${token}x`]) {
      const res = await call('GET', '/servers', undefined, auth);
      expect(res.status).toBe(401);
      expect(res.text).toContain('SCALEOUT_BALANCER_ADMIN_UNAUTHORIZED');
    }
    expect((await call('GET', '/metrics', undefined, '')).status).toBe(401);
  });

  it('lists servers with state, in-flight, load and counters', async () => {
    await (await request(`http://${balancer.addresses[0]}/`)).body.text();
    const res = await call('GET', '/servers');
    expect(res.status).toBe(200);
    const servers = (res.json as { pools: { web: { servers: Array<Record<string, unknown>> } } }).pools.web.servers;
    expect(servers.map((s) => s.id)).toEqual(['a', 'b']);
    expect(servers[0]).toMatchObject({ state: 'up', inFlight: 0, weight: 1 });
    expect(servers[0]!.counters).toMatchObject({ requests: expect.any(Number) });
  });

  it('adds, drains, undrains, reweighs and removes servers', async () => {
    expect((await call('POST', '/pools/web/servers', { id: 'c', address: backends[2]!.address, weight: 2 })).status).toBe(201);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const res = await request(`http://${balancer.addresses[0]}/`);
      seen.add(res.headers['x-backend'] as string);
      await res.body.text();
    }
    expect(seen.has('c')).toBe(true);
    expect((await call('POST', '/pools/web/servers/c/drain')).json).toMatchObject({ state: 'drained' });
    expect((await call('POST', '/pools/web/servers/c/undrain')).json).toMatchObject({ state: 'up' });
    expect((await call('PUT', '/pools/web/servers/c/weight', { weight: 5 })).status).toBe(200);
    expect(balancer.pool('web').server('c')!.configuredWeight).toBe(5);
    expect((await call('DELETE', '/pools/web/servers/c')).status).toBe(200);
    expect(balancer.pool('web').server('c')).toBeUndefined();
  });

  it('answers bad admin requests with a status and a code, never crashing', async () => {
    expect((await call('POST', '/pools/web/servers', { id: 'a', address: backends[0]!.address })).status).toBe(409);
    expect((await call('POST', '/pools/web/servers', { id: 'x' })).status).toBe(400);
    expect((await call('POST', '/pools/nope/servers', { id: 'x', address: '127.0.0.1:1' })).status).toBe(404);
    expect((await call('PUT', '/pools/web/servers/a/weight', { weight: -1 })).status).toBe(400);
    expect((await call('POST', '/pools/web/servers/zzz/drain')).status).toBe(404);
    expect((await call('PUT', '/routes', [{ pool: 'missing' }])).status).toBe(400);
    expect((await call('GET', '/nothing')).status).toBe(404);
    const garbage = await request(`${adminBase}/pools/web/servers`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{not json' });
    expect(garbage.statusCode).toBe(400);
    expect(await garbage.body.text()).toContain('SCALEOUT_BALANCER_ADMIN_REQUEST');
    expect((await call('GET', '/servers')).status).toBe(200);
  });

  it('manages pools and routes', async () => {
    expect((await call('POST', '/pools', { name: 'api', servers: [{ id: 'c', address: backends[2]!.address }] })).status).toBe(201);
    expect((await call('PUT', '/routes', [{ pool: 'web' }, { pathPrefix: '/api', pool: 'api' }])).status).toBe(200);
    const res = await request(`http://${balancer.addresses[0]}/api/x`);
    expect(res.headers['x-backend']).toBe('c');
    await res.body.text();
    expect((await call('DELETE', '/pools/api')).status).toBe(409);
    expect((await call('PUT', '/routes', [{ pool: 'web' }])).status).toBe(200);
    expect((await call('DELETE', '/pools/api')).status).toBe(200);
    expect((await call('POST', '/pools', { name: 'bad', strategy: 'nope' })).status).toBe(400);
  });

  it('shows p50/p99 per pool and per server over the window, in JSON and in /metrics', async () => {
    // Fast answers, then a few slow ones: p99 sits among the slow, p50 among the fast.
    for (let i = 0; i < 40; i++) await (await request(`http://${balancer.addresses[0]}/`)).body.text();
    await Promise.all([1, 2, 3].map(async () => (await request(`http://${balancer.addresses[0]}/slow?ms=120`)).body.text()));
    const res = await call('GET', '/pools/web');
    expect(res.status).toBe(200);
    const pool = res.json as { latency: { p50Ms: number; p99Ms: number; count: number; windowMs: number }; servers: Array<{ id: string; latency: { p99Ms: number; count: number } }> };
    expect(pool.latency.count).toBeGreaterThanOrEqual(43);
    expect(pool.latency.windowMs).toBe(10_000);
    expect(pool.latency.p99Ms).toBeGreaterThanOrEqual(120);
    expect(pool.latency.p50Ms).toBeGreaterThan(0);
    expect(pool.latency.p50Ms).toBeLessThan(120);
    const perServer = pool.servers.map((s) => s.latency);
    // The pool also keeps what servers removed since (c, above) recorded.
    const serverTotal = perServer.reduce((sum, l) => sum + l.count, 0);
    expect(serverTotal).toBeGreaterThanOrEqual(43);
    expect(serverTotal).toBeLessThanOrEqual(pool.latency.count);
    expect(Math.max(...perServer.map((l) => l.p99Ms))).toBeGreaterThanOrEqual(120);
    expect((await call('GET', '/pools/nope')).status).toBe(404);
    const metrics = (await call('GET', '/metrics')).text;
    const p99 = /scaleout_balancer_pool_latency_seconds\{pool="web",quantile="0.99"\} ([\d.e-]+)/.exec(metrics);
    expect(Number(p99?.[1])).toBeGreaterThanOrEqual(0.12);
    expect(metrics).toMatch(/scaleout_balancer_server_latency_seconds\{pool="web",server="a",quantile="0.5"\} [\d.e-]+/);
  });

  it('exposes Prometheus metrics', async () => {
    const res = await call('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/scaleout_balancer_server_requests_total\{pool="web",server="a"\} \d+/);
    expect(res.text).toContain('# TYPE scaleout_balancer_server_in_flight gauge');
    expect(res.text).toMatch(/scaleout_balancer_exchanges_total\{pool="web",class="2xx"\} \d+/);
  });
});

describe('the admin option of startBalancer', () => {
  it('starts the admin API with the balancer and closes it with the balancer', async () => {
    const own = await startBalancer({
      listen: '127.0.0.1:0',
      pools: { web: { servers: [{ id: 'a', address: backends[0]!.address }] } },
      admin: { address: '127.0.0.1:0', token },
    });
    const address = own.adminAddress;
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const res = await request(`http://${address}/servers`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { pools: Record<string, unknown> }).pools).toHaveProperty('web');
    await own.close();
    await expect(request(`http://${address}/servers`, { headers: { authorization: `Bearer ${token}` } })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('refuses a short admin token before binding anything', async () => {
    await expect(startBalancer({
      listen: '127.0.0.1:0',
      pools: { web: { servers: [{ id: 'a', address: backends[0]!.address }] } },
      admin: { address: '127.0.0.1:0', token: 'short' },
    })).rejects.toThrow(/admin token of at least 16 characters/);
  });

  it('has no admin address without the option', () => {
    expect(balancer.adminAddress).toBeUndefined();
  });
});

describe('scaleout balancer CLI', () => {
  const bin = new URL('../../bin/scaleout.js', import.meta.url).pathname;
  const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });

  it('exits 2 with one clear line for usage errors', async () => {
    for (const args of [['balancer', '--bogus'], ['balancer'], ['balancer', '--server', 'nonsense'], ['balancer', '--server', 'a=127.0.0.1:1', '--strategy', 'random'], ['nope']]) {
      const res = await run(args);
      expect(res.code, args.join(' ')).toBeGreaterThanOrEqual(1);
      expect(res.stderr.split('\n')[0]).toMatch(/^scaleout: /);
    }
    expect((await run(['balancer', '--bogus'])).code).toBe(2);
    expect((await run(['balancer', '--server', 'nonsense'])).code).toBe(2);
    const workers = await run(['balancer', '--server', 'a=127.0.0.1:1', '--workers', '0']);
    expect(workers.code).toBe(2);
    expect(workers.stderr).toMatch(/^scaleout: --workers must be a whole number from 1 to 64 or auto, not "0"/);
  });

  it('runs a balancer from flags and stops gracefully on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'balancer', '--listen', '127.0.0.1:0', '--server', `a=${backends[0]!.address}`, '--affinity', 'cookie', '--health-path', '/healthz'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    const address = await waitFor('balancer to listen', () => /listening on http:\/\/(\S+)/.exec(out)?.[1]);
    const res = await request(`http://${address}/`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['set-cookie']).toBeDefined();
    await res.body.text();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
