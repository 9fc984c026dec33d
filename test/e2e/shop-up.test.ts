import { existsSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_LAG_MS } from '../../src/db/index.js';
import { findRedisServer, readSupervisorFile } from '../../src/runtime/index.js';
import type { ProcessStatus, RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, isAlive, runBuiltCli as scaleout, startLoad, UpProcess } from '../runtime/support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';
import { HttpClient } from '../support/http-client.js';
import type { Answer } from '../support/http-client.js';
import { assertBuilt, copyShop, processesUnder } from './support/built-cli.js';
import type { ShopCopy } from './support/built-cli.js';

// One `scaleout up` of a copy of examples/shop, as a user runs it: the built command,
// the embedded engines (PostgreSQL primary + synchronous replica, a spawned
// redis-server), the balancer and three instances, driven over HTTP only. The tests
// run in order and share the deployment; the last one stops it.

const INSTANCES = 3;
/** PostgreSQL's default WAL segment size. */
const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;
const hasRedis = findRedisServer() !== undefined;

const apps = (s: RuntimeStatus): ProcessStatus[] => s.processes.filter((p) => p.role === 'app');
const servedBy = (answer: Answer): string => String(answer.headers['x-scaleout-instance']);

describe('scaleout up examples/shop, end to end', () => {
  let shop: ShopCopy;
  let up: UpProcess;
  let appUrl: string;
  // Every pid the runtime ever reported: none may outlive the shutdown.
  const everPids = new Set<number>();
  const remember = (s: RuntimeStatus): RuntimeStatus => {
    for (const p of s.processes) if (p.pid !== null) everPids.add(p.pid);
    return s;
  };

  const poolServers = async (): Promise<Array<{ id: string; address: string; state: string }>> => {
    const file = readSupervisorFile(shop.dir)!;
    const res = await fetch(new URL('/servers', file.adminUrl!), { headers: { authorization: `Bearer ${file.adminToken!}` } });
    const body = await res.json() as { pools: Record<string, { servers: Array<{ id: string; address: string; state: string }> }> };
    return Object.values(body.pools).flatMap((p) => p.servers);
  };

  /** What `scaleout status --json` prints. */
  const statusJson = async (): Promise<RuntimeStatus> => {
    const result = await scaleout(['status', '--json', shop.dir]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as RuntimeStatus;
  };

  /** A logged-in shopper with a cookie jar, talking JSON to the balancer. */
  const shopper = async (username: string, password: string): Promise<HttpClient> => {
    const client = new HttpClient(appUrl);
    const login = await client.login(username, password);
    expect(login.status, login.text).toBe(200);
    expect(login.body.user.username).toBe(username);
    return client;
  };

  beforeAll(async () => {
    assertBuilt();
    shop = await copyShop();
    up = UpProcess.startBuilt(shop.dir, cleanEnv());
    const status = remember(await up.waitRunning(200_000));
    // HttpClient appends paths that start with '/'.
    appUrl = status.appUrl!.replace(/\/$/, '');
  }, 240_000);

  afterAll(async () => {
    // Only when a test failed before the shutdown test: stop it all, by force if need be.
    if (up !== undefined && !up.exited) {
      const stopped = await up.stopWithin('SIGTERM', 60_000);
      if (stopped === undefined) await up.stopWithin('SIGKILL', 10_000);
    }
    if (shop !== undefined) {
      // By folder, not by remembered pid: a pid of a process that is gone may belong to someone else by now.
      for (const p of processesUnder(shop.root)) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // Exited on its own meanwhile.
        }
      }
      await shop.remove();
    }
  }, 120_000);

  it('keeps the login and the cart when the instance that served them is killed, and restarts it', async () => {
    const client = await shopper('alice', 'wonderland');
    expect((await client.request('POST', '/cart/items', { json: { productId: 1, qty: 2 } })).status).toBe(200);
    const last = await client.request('POST', '/cart/items', { json: { productId: 9, qty: 1 } });
    expect(last.status).toBe(200);
    const victimId = servedBy(last);
    const victim = apps(remember(await statusJson())).find((p) => p.id === victimId);
    expect(victim, `instance ${victimId} in the status`).toBeDefined();
    process.kill(victim!.pid!, 'SIGKILL');
    await waitFor(`${victimId} to die`, () => !isAlive(victim!.pid!), { timeoutMs: 10_000, intervalMs: 50 });

    const seen = new Set<string>();
    // Few enough requests to be done before the restarted instance can be healthy again.
    for (let i = 0; i < 4; i++) {
      const me = await client.request('GET', '/me');
      expect(me.status, me.text).toBe(200);
      expect(me.body.user.username).toBe('alice');
      const cart = await client.request('GET', '/cart');
      expect(cart.status, cart.text).toBe(200);
      expect(cart.body.items.map((item: { productId: number; qty: number }) => [item.productId, item.qty])).toEqual([[1, 2], [9, 1]]);
      seen.add(servedBy(me)).add(servedBy(cart));
    }
    expect(seen.has(victimId)).toBe(false);
    expect(seen.size).toBe(INSTANCES - 1);

    // The supervisor starts it again under the same id with a new pid, and the balancer takes it back.
    const back = await waitFor(`${victimId} to be restarted`, async () => {
      const app = apps(await up.status()).find((p) => p.id === victimId);
      return app?.state === 'running' && app.pid !== victim!.pid ? app : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    expect(back.restarts).toBeGreaterThanOrEqual(1);
    expect(back.buildId).toBe(victim!.buildId);
    remember(await up.status());
    await waitFor(`${victimId} to be up in the balancer's pool`, async () => (await poolServers()).some((s) => s.id === victimId && s.address === back.address && s.state === 'up'),
      { timeoutMs: 30_000, intervalMs: 50 });
    await waitFor(`${victimId} to serve a request again`, async () => {
      const me = await client.request('GET', '/me');
      expect(me.status).toBe(200);
      return servedBy(me) === victimId;
    }, { timeoutMs: 30_000, intervalMs: 50 });
  }, 150_000);

  it('counts 50 concurrent adds to one cart exactly, spread over the instances', async () => {
    const client = await shopper('bob', 'builder');
    const answers = await Promise.all(Array.from({ length: 50 }, () =>
      client.request('POST', '/cart/items', { json: { productId: 3, qty: 1 } })));
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    expect(new Set(answers.map(servedBy)).size).toBeGreaterThanOrEqual(2);
    const cart = await client.request('GET', '/cart');
    expect(cart.status).toBe(200);
    expect(cart.body.items).toEqual([expect.objectContaining({ productId: 3, qty: 50 })]);
    expect(cart.body.itemCount).toBe(50);
  });

  it('shows a placed order on the very next read, 50 times in a row', async () => {
    const client = await shopper('carol', 'cheshire');
    const readers = new Set<string>();
    for (let i = 0; i < 50; i++) {
      expect((await client.request('POST', '/cart/items', { json: { productId: 6, qty: 1 } })).status).toBe(200);
      const placed = await client.request('POST', '/orders');
      expect(placed.status, placed.text).toBe(201);
      const list = await client.request('GET', '/orders');
      expect(list.status, list.text).toBe(200);
      expect(list.body.orders[0]?.id, `try ${i}`).toBe(placed.body.id);
      const one = await client.request('GET', `/orders/${placed.body.id}`);
      expect(one.status, `try ${i}: ${one.text}`).toBe(200);
      expect(one.body.id).toBe(placed.body.id);
      readers.add(servedBy(list)).add(servedBy(one));
    }
    expect(readers.size).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('status --json shows every process and the data tier with the replica and its lag', async () => {
    // The supervisor's router measures the replica's lag on its own schedule. Nothing
    // writes now, so the synchronous replica soon has all the primary wrote: 0 bytes and
    // 0 ms behind. A lag taken from the age of the last replayed commit would instead grow
    // while the primary is idle, and never get there.
    await waitFor('the healthy replica to be reported caught up (0 bytes, 0 ms)', async () => {
      const db = (await up.status()).db;
      return db?.nodes.some((n) => n.role === 'replica' && n.healthy && n.lagBytes === 0 && n.lagMs === 0);
    }, { timeoutMs: 30_000, intervalMs: 50 });
    const status = remember(await statusJson());
    expect(status).toMatchObject({ state: 'running', profile: hasRedis ? 'redis' : 'postgres' });

    const byRole = (role: string): ProcessStatus[] => status.processes.filter((p) => p.role === role);
    expect(byRole('supervisor')).toHaveLength(1);
    expect(byRole('supervisor')[0]!.pid).toBe(up.child.pid);
    expect(byRole('balancer')).toEqual([expect.objectContaining({ state: 'running' })]);
    expect(byRole('app')).toHaveLength(INSTANCES);
    for (const app of byRole('app')) expect(app).toMatchObject({ state: 'running', buildId: status.buildId });
    expect(byRole('postgres').map((p) => [p.id, p.detail, p.state])).toEqual([['pg0', 'primary', 'running'], ['pg1', 'replica', 'running']]);
    expect(byRole('redis')).toHaveLength(hasRedis ? 1 : 0);
    expect(byRole('worker:exports')).toEqual([expect.objectContaining({ id: 'worker-exports-1', state: 'running', buildId: status.buildId, address: null })]);
    for (const p of status.processes) {
      expect(Object.keys(p)).toEqual(expect.arrayContaining(['role', 'id', 'pid', 'address', 'buildId', 'state']));
      expect(p.pid, `${p.role} ${p.id}`).not.toBeNull();
      expect(isAlive(p.pid!), `${p.role} ${p.id} pid ${p.pid}`).toBe(true);
      // Workers listen nowhere.
      if (p.role !== 'supervisor' && !p.role.startsWith('worker:')) expect(p.address, `${p.role} ${p.id}`).toMatch(/^127\.0\.0\.1:\d+$/);
    }

    // The leftover check of the shutdown test sees every one of them.
    const under = processesUnder(shop.root).map((p) => p.pid);
    for (const p of status.processes) expect(under, `${p.role} ${p.id} under ${shop.root}`).toContain(p.pid);

    const primary = byRole('postgres').find((p) => p.id === 'pg0')!;
    expect(status.db).toMatchObject({ primary: primary.address, failoverInProgress: false });
    expect(status.db!.nodes.map((n) => n.role).sort()).toEqual(['primary', 'replica']);
    const replica = status.db!.nodes.find((n) => n.role === 'replica')!;
    expect(replica.healthy).toBe(true);
    // A moment later it may trail a little (background WAL), never by much.
    expect(replica.lagMs).toBeLessThanOrEqual(DEFAULT_MAX_LAG_MS);
    expect(replica.lagBytes).toBeLessThan(WAL_SEGMENT_BYTES);
  });

  it('serves product pages from the static tier, and an order purges and re-renders its product\'s page', async () => {
    if (!hasRedis) return; // The renders are jobs on the redis profile's queue.
    const status = remember(await statusJson());
    expect(status.processes.filter((p) => p.role === 'static').map((p) => [p.id, p.state, p.pool])).toEqual([['static-1', 'running', 'static']]);
    expect(status.processes.filter((p) => p.role === 'worker:prerender')).toEqual([expect.objectContaining({ state: 'running' })]);
    const browser = new HttpClient(appUrl);
    const page = (id: number): Promise<Answer> => browser.request('GET', `/products/${id}`, { html: true });
    // The prerender worker bakes every page once it starts.
    const baked = await waitFor('product 3 served by the static tier', async () => {
      const answer = await page(3);
      return answer.status === 200 && servedBy(answer) === 'static-1' ? answer : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    expect(baked.text).toContain('served as a file by the static tier');
    expect((await browser.request('GET', '/products/3', { html: true, headers: { 'if-none-match': String(baked.headers.etag) } })).status).toBe(304);
    // JSON clients and other pages still reach the app.
    expect(servedBy(await browser.request('GET', '/products/3'))).toMatch(/^app-/);
    expect(servedBy(await browser.request('GET', '/products', { html: true }))).toMatch(/^app-/);

    const stock = (text: string): number => Number(/(\d+) in stock/.exec(text)?.[1]);
    const client = await shopper('bob', 'builder');
    expect((await client.request('POST', '/cart/items', { json: { productId: 3, qty: 2 } })).status).toBe(200);
    expect((await client.request('POST', '/orders', { json: {} })).status).toBe(201);
    // Within a second: the old page is gone from the tier (the app answers, fresh) or already
    // re-rendered, and the balancer's copy of it lives at most a second (Surrogate-Control: max-age=1).
    await waitFor('product 3 with the new stock', async () => stock((await page(3)).text) === stock(baked.text) - 2, { timeoutMs: 5_000, intervalMs: 100 });
    const again = await waitFor('product 3 re-rendered into the static tier', async () => {
      const answer = await page(3);
      return servedBy(answer) === 'static-1' && answer.headers.etag !== baked.headers.etag ? answer : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    expect(stock(again.text)).toBe(stock(baked.text) - 2);
  }, 120_000);

  it('rolls a new build onto every instance under steady load without failing a request', async () => {
    const before = remember(await up.status());
    await appendFile(join(shop.dir, 'src', 'server.ts'), '// A change to deploy.\n');
    // A capped rate of JSON product listings leaves CPU for the deploy.
    const load = startLoad(appUrl, { path: '/products', overallRate: 100, headers: { accept: 'application/json' } });
    const deploy = await scaleout(['deploy', shop.dir], undefined, 240_000);
    const result = await load.stop();
    expect(deploy.code, `${deploy.stdout}\n${deploy.stderr}`).toBe(0);
    expect(deploy.stdout).toMatch(/deployed build \w+ over \w+ \(rolling\)/);
    expect(result.requests).toBeGreaterThan(50);
    expect(result).toMatchObject({ errors: 0, timeouts: 0, non2xx: 0 });

    const after = remember(await up.status());
    expect(after.buildId).not.toBe(before.buildId);
    expect(apps(after)).toHaveLength(INSTANCES);
    for (const app of apps(after)) {
      expect(app).toMatchObject({ state: 'running', buildId: after.buildId });
      // Asked directly, not through the balancer: each instance says which build it runs.
      const health = await fetch(`http://${app.address}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ instance: app.id, buildId: after.buildId });
    }
    for (const old of apps(before)) expect(isAlive(old.pid!), `${old.id} of the old build`).toBe(false);
  }, 300_000);

  it('stops everything on SIGTERM, exits 0 and leaves no process behind', async () => {
    const before = remember(await up.status());
    expect(before.processes.length).toBeGreaterThanOrEqual(INSTANCES + (hasRedis ? 5 : 4));
    const result = await up.stopWithin('SIGTERM', 90_000);
    expect(result, 'scaleout up to exit within 90 s of SIGTERM').toBeDefined();
    expect(result!.code, result!.stderr).toBe(0);
    expect(result!.stdout).toContain('stopped');
    for (const pid of everPids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(processesUnder(shop.root)).toEqual([]);
    expect(existsSync(join(shop.dir, '.scaleout', 'supervisor.json'))).toBe(false);
  }, 120_000);
});
