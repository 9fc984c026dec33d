import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSupervisorFile } from '../../src/runtime/index.js';
import type { BalancerSnapshot } from '../../src/balancer/index.js';
import type { ProcessStatus, RuntimeStatus } from '../../src/runtime/index.js';
import { dig } from '../support/dig.js';
import { freePorts } from '../support/free-port.js';
import { waitFor } from '../support/wait-for.js';
import { ControlClient } from '../../src/runtime/index.js';
import { bumpVersion, cleanEnv, copyApp, removeApp, UpProcess } from './support/runtime-harness.js';

// `balancer: { replicas: 2 }`: two balancer processes on 127.0.0.2 and 127.0.0.3, the
// same pools and membership, DNS answering with the live ones, affinity that survives
// a failover (cookie: shared keys; stick table: replicated between the two, and saved).

interface Answer {
  status: number;
  instance: string;
  setCookie: string | undefined;
}

/** One request on a new connection (a client that just resolved the name connects anew). */
function get(address: string, path = '/', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${address}${path}`, { agent: false, headers, timeout: 10_000 }, (res) => {
      res.resume();
      res.once('end', () => {
        const set = res.headers['set-cookie'];
        resolve({ status: res.statusCode ?? 0, instance: String(res.headers['x-scaleout-instance'] ?? ''), setCookie: set?.[0]?.split(';')[0] });
      });
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

/** A client as the issue describes it: an idempotent request that fails to connect is tried once more on the other address DNS gave. */
async function getWithRetry(addresses: string[], path: string, headers: Record<string, string>, agent: http.Agent): Promise<{ answer: Answer; retried: boolean }> {
  const once = (address: string): Promise<Answer> => new Promise((resolve, reject) => {
    const req = http.get(`http://${address}${path}`, { agent, headers, timeout: 10_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, instance: String(res.headers['x-scaleout-instance'] ?? ''), setCookie: undefined }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
  try {
    return { answer: await once(addresses[0]!), retried: false };
  } catch {
    return { answer: await once(addresses[1]!), retried: true };
  }
}

const balancersOf = (s: RuntimeStatus): ProcessStatus[] => s.processes.filter((p) => p.role === 'balancer');
const adminOf = (p: ProcessStatus): string => /admin (\S+?),/.exec(p.detail ?? '')![1]!;

async function snapshotOf(dir: string, p: ProcessStatus): Promise<BalancerSnapshot> {
  const token = readSupervisorFile(dir)!.adminToken;
  const res = await fetch(`http://${adminOf(p)}/servers`, { headers: { authorization: `Bearer ${token}` } });
  return await res.json() as BalancerSnapshot;
}

/** Where balancer `p`'s stick table holds `key`, read without refreshing it. */
async function stickEntry(dir: string, p: ProcessStatus, key: string): Promise<{ serverId: string; expiresInMs: number } | undefined> {
  const token = readSupervisorFile(dir)!.adminToken;
  const res = await fetch(`http://${adminOf(p)}/pools/app/stick/${encodeURIComponent(key)}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  return await res.json() as { serverId: string; expiresInMs: number };
}

async function replicaRestarted(up: UpProcess, before: ProcessStatus): Promise<ProcessStatus> {
  return waitFor(`${before.id} back`, async () => {
    const now = balancersOf(await up.status()).find((p) => p.id === before.id)!;
    return now.state === 'running' && now.pid !== before.pid ? now : undefined;
  }, { timeoutMs: 20_000, intervalMs: 50 });
}

/** Resumes what a test SIGSTOPped (a stopped process ignores SIGKILL until then), then stops the deployment. */
async function tearDown(up: UpProcess | undefined, dir: string, stopped: number[]): Promise<void> {
  for (const pid of stopped) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  }
  await up?.stop('SIGKILL');
  await removeApp(dir);
}

/** Short, so the test is short; the bound it checks is 2 TTL. */
const TTL_SEC = 3;

describe('a balancer pair with DNS and cookie affinity', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;
  let dnsPort: number;
  let addresses: string[];
  const stopped: number[] = [];

  beforeAll(async () => {
    const [p1, p2, p3] = await freePorts(3);
    dnsPort = p3!;
    addresses = [`127.0.0.2:${p1}`, `127.0.0.3:${p2}`];
    dir = await copyApp('hello', {
      app: { instances: 2 },
      balancer: { listen: addresses, affinity: 'cookie' },
      dns: { name: 'pair.test', listen: `127.0.0.1:${dnsPort}`, ttlSec: TTL_SEC },
    });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning();
  }, 120_000);

  afterAll(() => tearDown(up, dir, stopped));

  it('runs two balancers, each on its own address with every instance, and DNS answers with both', async () => {
    const balancers = balancersOf(status);
    expect(balancers.map((b) => [b.id, b.address, b.state])).toEqual([['balancer-1', addresses[0], 'running'], ['balancer-2', addresses[1], 'running']]);
    for (const b of balancers) {
      const snapshot = await snapshotOf(dir, b);
      expect(snapshot.pools.app!.servers.map((s) => s.id).sort()).toEqual(['app-1', 'app-2']);
    }
    for (const address of addresses) expect((await get(address)).status).toBe(200);
    const answer = await dig(dnsPort, 'pair.test', 'A');
    expect(answer.answers.map((a) => a.data).sort()).toEqual(['127.0.0.2', '127.0.0.3']);
  });

  it('gives the dashboard every replica, and the servers\' counters of all of them added up', async () => {
    const file = readSupervisorFile(dir)!;
    const login = await fetch(`http://${file.control}/dashboard/login`, { method: 'POST', body: new URLSearchParams({ token: file.token }), redirect: 'manual' });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const before = await (await fetch(`http://${file.control}/dashboard/api/status`, { headers: { cookie } })).json() as { status: RuntimeStatus; balancer: BalancerSnapshot };
    expect(before.status.processes.filter((p) => p.role === 'balancer').map((p) => p.id)).toEqual(['balancer-1', 'balancer-2']);
    const total = (snapshot: BalancerSnapshot): number => snapshot.pools.app!.servers.reduce((n, s) => n + s.counters.requests, 0);
    for (let i = 0; i < 10; i++) expect((await get(addresses[i % 2]!)).status).toBe(200);
    const after = await (await fetch(`http://${file.control}/dashboard/api/status`, { headers: { cookie } })).json() as { balancer: BalancerSnapshot };
    expect(after.balancer.listeners.sort()).toEqual([...addresses].sort());
    // At least the 10 (DNS's health checks go through the balancers too); one replica alone saw about 5.
    expect(total(after.balancer) - total(before.balancer)).toBeGreaterThanOrEqual(10);
  });

  it('tells every balancer about a scale, and waits for all to drain', async () => {
    const client = ControlClient.connect(dir);
    await client.scale('app', 3);
    for (const b of balancersOf(await up.status())) {
      expect((await snapshotOf(dir, b)).pools.app!.servers.map((s) => s.id).sort()).toEqual(['app-1', 'app-2', 'app-3']);
    }
    await client.scale('app', 2);
    for (const b of balancersOf(await up.status())) {
      expect((await snapshotOf(dir, b)).pools.app!.servers.map((s) => s.id).sort()).toEqual(['app-1', 'app-2']);
    }
  }, 60_000);

  it('deploys through both balancers without an error: rolling, then blue-green', async () => {
    const client = ControlClient.connect(dir);
    let running = true;
    let ok = 0;
    const failures: string[] = [];
    const load = [0, 1, 0, 1].map(async (c) => {
      while (running) {
        try {
          const answer = await get(addresses[c]!, '/slow?ms=20');
          if (answer.status === 200) ok++;
          else failures.push(`status ${answer.status} from ${addresses[c]}`);
        } catch (err) {
          failures.push(`${(err as Error).message} from ${addresses[c]}`);
        }
      }
    });
    try {
      for (const [version, strategy] of [['v2', 'rolling'], ['v3', 'blue-green']] as const) {
        await bumpVersion(dir, version);
        await client.deploy(strategy);
        const after = await up.status();
        const instances = after.processes.filter((p) => p.role === 'app').map((p) => p.id).sort();
        expect(instances).toHaveLength(2);
        for (const b of balancersOf(after)) {
          const snapshot = await snapshotOf(dir, b);
          const pool = snapshot.routes[0]!.pool;
          // Every replica routes to the new instances only, in the same pool.
          expect(snapshot.pools[pool]!.servers.map((s) => s.id).sort(), `${b.id} after the ${strategy} deploy`).toEqual(instances);
        }
      }
    } finally {
      running = false;
      await Promise.all(load);
    }
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    for (const address of addresses) expect(JSON.parse(await new Promise<string>((resolve, reject) => {
      http.get(`http://${address}/`, { agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.once('end', () => resolve(body));
      }).once('error', reject);
    })) as { version: string }).toMatchObject({ version: 'v3' });
  }, 120_000);

  it('keeps a cookie client on its instance whichever balancer it reaches', async () => {
    const seen = new Set<string>();
    for (let client = 0; client < 6; client++) {
      const first = await get(addresses[client % 2]!);
      expect(first.setCookie).toMatch(/^scaleout_srv=/);
      seen.add(first.instance);
      for (let i = 0; i < 4; i++) expect((await get(addresses[(client + i + 1) % 2]!, '/', { cookie: first.setCookie! })).instance).toBe(first.instance);
    }
    expect(seen.size).toBe(2);
  });

  it('loses no request when the active balancer is killed under load, and the cookie client stays', async () => {
    const first = await get(addresses[0]!);
    const cookie = first.setCookie!;
    const before = balancersOf(await up.status())[0]!;
    // Keep-alive connections, so the kill cuts requests in flight, and a slow path so there are some.
    const agents = [new http.Agent({ keepAlive: true }), new http.Agent({ keepAlive: true }), new http.Agent({ keepAlive: true })];
    let running = true;
    let ok = 0;
    let retried = 0;
    const errors: string[] = [];
    const moved: string[] = [];
    const clients = agents.map(async (agent, c) => {
      while (running) {
        try {
          const { answer, retried: again } = await getWithRetry(addresses, c === 0 ? '/' : '/slow?ms=80', c === 0 ? { cookie } : {}, agent);
          if (again) retried++;
          if (answer.status === 200) ok++;
          else errors.push(`status ${answer.status}`);
          if (c === 0 && answer.instance !== first.instance) moved.push(answer.instance);
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    });
    await waitFor('steady load', () => ok > 20, { timeoutMs: 10_000 });
    process.kill(before.pid!, 'SIGKILL');
    const back = await replicaRestarted(up, before);
    const okAtRestart = ok;
    await waitFor('more answers after the restart', () => ok > okAtRestart + 20, { timeoutMs: 10_000 });
    running = false;
    await Promise.all(clients);
    for (const agent of agents) agent.destroy();
    console.log(`balancer pair kill under load: ${ok} ok, ${retried} retried on the other balancer, errors ${JSON.stringify(errors)}`);
    expect(errors).toEqual([]);
    expect(retried).toBeGreaterThan(0);
    expect(moved).toEqual([]);
    expect(back.address).toBe(addresses[0]);
  }, 60_000);

  it('DNS drops a hung balancer within 2 TTL and takes it back once it answers', async () => {
    const hung = balancersOf(await up.status())[0]!;
    process.kill(hung.pid!, 'SIGSTOP');
    stopped.push(hung.pid!);
    const began = performance.now();
    try {
      await waitFor('127.0.0.2 out of the answers', async () => {
        const answer = await dig(dnsPort, 'pair.test', 'A');
        return answer.answers.length === 1 && answer.answers[0]!.data === '127.0.0.3';
      }, { timeoutMs: 15_000, intervalMs: 100 });
      const tookMs = performance.now() - began;
      console.log(`DNS dropped the hung balancer after ${tookMs.toFixed(0)} ms (TTL ${TTL_SEC} s)`);
      // Out of the answers within 2 TTL (a resolver's cache then forgets it within one more TTL at most); 0.5 s for dig and polling.
      expect(tookMs).toBeLessThan(2 * TTL_SEC * 1_000 + 500);
    } finally {
      process.kill(hung.pid!, 'SIGCONT');
    }
    await waitFor('127.0.0.2 back in the answers', async () => (await dig(dnsPort, 'pair.test', 'A')).answers.length === 2, { timeoutMs: 15_000, intervalMs: 100 });
  }, 60_000);
});

describe('a balancer pair with a stick table', () => {
  let dir: string;
  let up: UpProcess;
  let addresses: string[];
  const USERS = Array.from({ length: 12 }, (_, i) => `user-${i}`);
  const assigned = new Map<string, string>();
  const stopped: number[] = [];

  const via = async (address: string, user: string): Promise<string> => {
    const answer = await get(address, '/', { 'x-user': user });
    expect(answer.status).toBe(200);
    return answer.instance;
  };

  beforeAll(async () => {
    const [p1, p2] = await freePorts(2);
    addresses = [`127.0.0.2:${p1}`, `127.0.0.3:${p2}`];
    dir = await copyApp('hello', {
      app: { instances: 3 },
      balancer: { listen: addresses, affinity: 'table', stickTable: { key: { on: 'header', name: 'x-user' } } },
    });
    up = UpProcess.start(dir, cleanEnv());
    await up.waitRunning();
  }, 120_000);

  afterAll(() => tearDown(up, dir, stopped));

  it('replicates every assignment to the other balancer', async () => {
    for (const user of USERS) assigned.set(user, await via(addresses[0]!, user));
    expect(new Set(assigned.values()).size).toBeGreaterThan(1);
    // Asynchronous, as HAProxy's peers: a client that reached balancer-2 before its entry
    // did would get a server of balancer-2's choosing (which then wins on both).
    const first = balancersOf(await up.status())[0]!;
    await waitFor('the assignments pushed to balancer-2', async () => (await snapshotOf(dir, first)).peers?.[0]?.pushed === USERS.length, { timeoutMs: 10_000, intervalMs: 100 });
    // In the other order: a fresh round robin in the same order would give the same answers by chance.
    for (const user of [...USERS].reverse()) expect(await via(addresses[1]!, user)).toBe(assigned.get(user));
  });

  it('keeps every client on its instance when the balancer it used is killed', async () => {
    const [killed, peer] = balancersOf(await up.status()) as [ProcessStatus, ProcessStatus];
    const resyncsBefore = (await snapshotOf(dir, peer)).peers![0]!.resyncs;
    process.kill(killed.pid!, 'SIGKILL');
    for (const user of [...USERS].reverse()) expect(await via(addresses[1]!, user)).toBe(assigned.get(user));
    await replicaRestarted(up, killed);
    // Back with its saved table, and balancer-2's resync, asked for as it started: the
    // entries not yet saved when it was killed (it saves every second) come from there.
    await waitFor('balancer-2 to resync the restarted balancer-1', async () => {
      const view = (await snapshotOf(dir, peer)).peers![0]!;
      return view.state === 'synced' && view.resyncs > resyncsBefore;
    }, { timeoutMs: 5_000, intervalMs: 20 });
    for (const user of [...USERS].reverse()) expect(await via(addresses[0]!, user)).toBe(assigned.get(user));
  }, 60_000);

  it('resyncs a balancer that missed assignments while it hung', async () => {
    const [hung, peer] = balancersOf(await up.status()) as [ProcessStatus, ProcessStatus];
    const peerView = async (): Promise<NonNullable<BalancerSnapshot['peers']>[number]> => (await snapshotOf(dir, peer)).peers![0]!;
    const resyncsBefore = (await peerView()).resyncs;
    process.kill(hung.pid!, 'SIGSTOP');
    stopped.push(hung.pid!);
    const late = Array.from({ length: 6 }, (_, i) => `late-${i}`);
    try {
      for (const user of late) assigned.set(user, await via(addresses[1]!, user));
      // Its pushes time out: balancer-2 gives up on it until it answers again.
      // (behind: waiting for a resync, or in one that waits for its timeout)
      await waitFor('balancer-2 to see its peer behind', async () => {
        const view = await peerView();
        return view.state !== 'synced' && view.lastError !== undefined;
      }, { timeoutMs: 15_000, intervalMs: 100 });
    } finally {
      process.kill(hung.pid!, 'SIGCONT');
    }
    await waitFor('balancer-1 in sync again', async () => {
      const view = await peerView();
      return view.state === 'synced' && view.resyncs > resyncsBefore;
    }, { timeoutMs: 15_000, intervalMs: 200 });
    // What the resync is for: balancer-1's own table has every assignment it missed.
    for (const user of late) expect((await stickEntry(dir, hung, user))?.serverId).toBe(assigned.get(user));
    // Routing then follows the table once balancer-1's checks, late after the hang, see every server up
    // (a server it took for down would rightly get none of its clients).
    await waitFor('balancer-1 to see every server up', async () => (await snapshotOf(dir, hung)).pools.app!.servers.every((s) => s.state === 'up'), { timeoutMs: 15_000, intervalMs: 100 });
    for (const user of [...late].reverse()) expect(await via(addresses[0]!, user)).toBe(assigned.get(user));
  }, 60_000);
});

describe('one balancer with a stick table', () => {
  let dir: string;
  let up: UpProcess;
  let address: string;

  beforeAll(async () => {
    const [port] = await freePorts(1);
    dir = await copyApp('hello', {
      app: { instances: 3 },
      balancer: { listen: `127.0.0.1:${port}`, affinity: 'table', stickTable: { key: { on: 'header', name: 'x-user' } } },
    });
    up = UpProcess.start(dir, cleanEnv());
    const status = await up.waitRunning();
    address = balancersOf(status)[0]!.address!;
  }, 120_000);

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('keeps its entries across a restart, even after SIGKILL (saved every second)', async () => {
    const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const assigned = new Map<string, string>();
    for (const user of users) assigned.set(user, (await get(address, '/', { 'x-user': user })).instance);
    expect(new Set(assigned.values()).size).toBeGreaterThan(1);
    const file = join(dir, '.scaleout', 'balancer', 'stick-app.json');
    await waitFor('the table saved', async () => {
      const saved = JSON.parse(await readFile(file, 'utf8')) as { entries: unknown[] };
      return saved.entries.length === users.length;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    const before = balancersOf(await up.status())[0]!;
    process.kill(before.pid!, 'SIGKILL');
    await replicaRestarted(up, before);
    // In the other order: a fresh round robin in the same order would give the same answers by chance.
    for (const user of [...users].reverse()) expect((await get(address, '/', { 'x-user': user })).instance).toBe(assigned.get(user));
  }, 60_000);
});
