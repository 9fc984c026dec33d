import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer } from '../../src/balancer/index.js';
import type { BalancerSnapshot, BalancerWorkers, WorkerSnapshot } from '../../src/balancer/index.js';
import { startBackends } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { waitFor } from '../support/wait-for.js';

const token = 'workers-admin-token-0123456789';

interface Reply {
  status: number;
  backend: string | undefined;
  setCookie: string | undefined;
}

/** One request on a connection of its own, so that every request goes through the shared listening socket. */
function once(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, timeout: 10_000 }, (res) => {
      res.resume();
      res.once('end', () => {
        const set = res.headers['set-cookie'];
        resolve({ status: res.statusCode ?? 0, backend: res.headers['x-backend'] as string | undefined, setCookie: set?.[0] });
      });
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

/** A client that retries an idempotent request once when the connection fails. */
async function onceWithRetry(url: string): Promise<Reply> {
  try {
    return await once(url);
  } catch {
    return once(url);
  }
}

async function many(url: string, count: number, concurrency: number, headers: Record<string, string> = {}): Promise<Reply[]> {
  const replies: Reply[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      next++;
      replies.push(await once(url, headers));
    }
  }));
  return replies;
}

// Tests read into answers freely; a wrong shape fails the assertion that reads it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function admin(address: string, method: string, path: string, body?: unknown, bearer = token): Promise<{ status: number; text: string; json: Json }> {
  const res = await fetch(`http://${address}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

type Servers = BalancerSnapshot & { workers: WorkerSnapshot[] };

/** What each worker's own admin API says (the primary's token is not theirs). */
async function perWorker(balancer: BalancerWorkers): Promise<BalancerSnapshot[]> {
  const admins = balancer.workers().map((w) => w.admin);
  expect(admins.every((a) => a !== undefined)).toBe(true);
  return Promise.all(admins.map(async (a) => (await admin(a!, 'GET', '/servers', undefined, balancer.token)).json as BalancerSnapshot));
}

function metric(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found === undefined ? NaN : Number(found.slice(line.length).trim());
}

let backends: Backend[];

beforeAll(async () => {
  backends = await startBackends(['a', 'b', 'c']);
});
afterAll(async () => {
  await Promise.all(backends.map((b) => b.kill()));
});

describe('balancer workers', () => {
  let balancer: BalancerWorkers;
  let base: string;

  beforeAll(async () => {
    balancer = await startBalancer({
      listen: '127.0.0.1:0',
      workers: 2,
      admin: { address: '127.0.0.1:0', token },
      pools: { web: { servers: backends.slice(0, 2).map((b) => ({ id: b.id, address: b.address })) } },
    });
    base = `http://${balancer.addresses[0]}`;
  }, 60_000);
  afterAll(async () => {
    await balancer?.close();
  });

  it('share the listening socket: every worker takes connections, and /servers and /metrics sum them', async () => {
    const replies = await many(`${base}/`, 300, 30);
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const servers = (await admin(balancer.adminAddress!, 'GET', '/servers')).json as Servers;
    expect(servers.workers).toHaveLength(2);
    const pids = new Set(servers.workers.map((w) => w.pid));
    expect(pids.size).toBe(2);
    expect(pids.has(process.pid)).toBe(false);
    // The kernel gives each connection to one worker; with 30 clients at once both get some.
    for (const worker of servers.workers) expect(worker.requests).toBeGreaterThan(0);
    expect(servers.workers.reduce((n, w) => n + w.requests, 0)).toBe(300);
    const counted = servers.pools.web!.servers.reduce((n, s) => n + s.counters.requests, 0);
    expect(counted).toBe(300);
    // Summed, not one worker's share.
    const own = await perWorker(balancer);
    for (const snapshot of own) expect(snapshot.pools.web!.servers.reduce((n, s) => n + s.counters.requests, 0)).toBeLessThan(300);

    const metrics = await admin(balancer.adminAddress!, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metric(metrics.text, 'scaleout_balancer_workers')).toBe(2);
    const a = metric(metrics.text, 'scaleout_balancer_server_requests_total{pool="web",server="a"}');
    const b = metric(metrics.text, 'scaleout_balancer_server_requests_total{pool="web",server="b"}');
    expect(a + b).toBe(300);
    // A gauge that is not a count is not summed: every worker sees the server up, and up is 1.
    expect(metric(metrics.text, 'scaleout_balancer_server_up{pool="web",server="a"}')).toBe(1);
  });

  it('apply an admin change in every worker before the API answers', async () => {
    const added = await admin(balancer.adminAddress!, 'POST', '/pools/web/servers', { id: 'c', address: backends[2]!.address });
    expect(added.status).toBe(201);
    for (const snapshot of await perWorker(balancer)) expect(snapshot.pools.web!.servers.map((s) => s.id)).toEqual(['a', 'b', 'c']);

    const drained = await admin(balancer.adminAddress!, 'POST', '/pools/web/servers/c/drain');
    expect(drained.status).toBe(200);
    for (const snapshot of await perWorker(balancer)) {
      expect(snapshot.pools.web!.servers.find((s) => s.id === 'c')!.state).toMatch(/^drain/);
    }
    const replies = await many(`${base}/`, 60, 10);
    expect(replies.filter((r) => r.backend === 'c')).toEqual([]);

    // A refused change is refused by all, with the single balancer's answer.
    const unknown = await admin(balancer.adminAddress!, 'POST', '/pools/web/servers/zz/drain');
    expect(unknown.status).toBe(404);
    expect(unknown.text).toContain('SCALEOUT_BALANCER_ADMIN_REQUEST');
    expect((await admin(balancer.adminAddress!, 'GET', '/servers', undefined, 'wrong')).status).toBe(401);
    // One writer per stick-table file: a pool with one cannot be added to running workers.
    const tableFile = await admin(balancer.adminAddress!, 'POST', '/pools', { name: 'sticky', affinity: { type: 'table', file: '/tmp/never-written.json' } });
    expect(tableFile.status).toBe(400);
    expect(tableFile.text).toContain('SCALEOUT_BALANCER_ADMIN_INVALID_INPUT');
  });

  it('replace a killed worker while the other serves: a client that retries once sees no error, and the new worker has the admin changes', async () => {
    const before = balancer.workers();
    const victim = before[0]!.pid!;
    const outcome = { ok: 0, failed: 0 };
    let running = true;
    const clients = Array.from({ length: 4 }, async () => {
      for (let i = 0; running && i < 5_000; i++) {
        try {
          const reply = await onceWithRetry(`${base}/`);
          if (reply.status === 200) outcome.ok++;
          else outcome.failed++;
        } catch {
          outcome.failed++;
        }
      }
    });
    await waitFor('some requests', () => outcome.ok > 20);
    process.kill(victim, 'SIGKILL');
    const replaced = await waitFor('a new worker in slot 0', () => {
      const slot = balancer.workers()[0]!;
      return slot.pid !== undefined && slot.pid !== victim ? slot : undefined;
    }, { timeoutMs: 30_000 });
    const okAtRestart = outcome.ok;
    await waitFor('requests after the restart', () => outcome.ok > okAtRestart + 20);
    running = false;
    await Promise.all(clients);
    expect(outcome.failed).toBe(0);
    expect(replaced.restarts).toBe(1);
    // Started from the live config: the server added and drained over the admin API.
    const own = await perWorker(balancer);
    for (const snapshot of own) {
      expect(snapshot.pools.web!.servers.find((s) => s.id === 'c')?.state).toMatch(/^drain/);
    }
    // And it takes connections.
    await many(`${base}/`, 200, 30);
    const servers = (await admin(balancer.adminAddress!, 'GET', '/servers')).json as Servers;
    expect(servers.workers.find((w) => w.index === 0)!.requests).toBeGreaterThan(0);
  }, 60_000);
});

describe('affinity with balancer workers', () => {
  let balancer: BalancerWorkers;
  let base: string;

  beforeAll(async () => {
    const servers = backends.map((b) => ({ id: b.id, address: b.address }));
    balancer = await startBalancer({
      listen: '127.0.0.1:0',
      workers: 2,
      admin: { address: '127.0.0.1:0', token },
      pools: {
        table: { servers, affinity: { type: 'table', key: { on: 'header', name: 'x-user' } } },
        cookie: { servers, affinity: { type: 'cookie' } },
      },
      routes: [{ pathPrefix: '/table', pool: 'table' }, { pathPrefix: '/cookie', pool: 'cookie' }],
    });
    base = `http://${balancer.addresses[0]}`;
  }, 60_000);
  afterAll(async () => {
    await balancer?.close();
  });

  it('a stick-table placement made by one worker is followed by the others', async () => {
    for (let user = 0; user < 12; user++) {
      const headers = { 'x-user': `user-${user}` };
      const first = await once(`${base}/table`, headers);
      // The placement reaches the other worker over the primary: one IPC hop, well under this.
      await new Promise((resolve) => setTimeout(resolve, 30));
      const next = await many(`${base}/table`, 20, 4, headers);
      expect(next.map((r) => r.backend)).toEqual(next.map(() => first.backend));
    }
    const servers = (await admin(balancer.adminAddress!, 'GET', '/servers')).json as Servers;
    // Both workers served the sticky clients, so the placements crossed from one to the other.
    for (const worker of servers.workers) expect(worker.requests).toBeGreaterThan(0);
  });

  it('an affinity cookie set by one worker is honoured by the others (the primary gives them the same keys)', async () => {
    const first = await once(`${base}/cookie`);
    expect(first.setCookie).toBeDefined();
    const cookie = first.setCookie!.split(';')[0]!;
    const next = await many(`${base}/cookie`, 60, 10, { cookie });
    expect(next.map((r) => r.backend)).toEqual(next.map(() => first.backend));
    expect(next.every((r) => r.setCookie === undefined)).toBe(true);
  });

  it('a worker started after a crash knows the placements made before it', async () => {
    const headers = { 'x-user': 'before-crash' };
    const first = await once(`${base}/table`, headers);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const victim = balancer.workers()[1]!.pid!;
    process.kill(victim, 'SIGKILL');
    await waitFor('a new worker in slot 1', () => {
      const pid = balancer.workers()[1]!.pid;
      return pid !== undefined && pid !== victim;
    }, { timeoutMs: 30_000 });
    const own = balancer.workers()[1]!;
    // Ask the new worker alone: its own listener is the shared one, so go by its stick table through many connections
    // and check that the new worker served some of them.
    const before = ((await admin(own.admin!, 'GET', '/servers', undefined, balancer.token)).json as BalancerSnapshot).pools.table!.servers
      .reduce((n, s) => n + s.counters.requests, 0);
    const next = await many(`${base}/table`, 60, 10, headers);
    expect(next.map((r) => r.backend)).toEqual(next.map(() => first.backend));
    const after = ((await admin(own.admin!, 'GET', '/servers', undefined, balancer.token)).json as BalancerSnapshot).pools.table!.servers
      .reduce((n, s) => n + s.counters.requests, 0);
    expect(after).toBeGreaterThan(before);
  }, 60_000);
});

describe('a saved stick table with balancer workers', () => {
  it('is written by the primary from every worker\'s placements and read back by the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scaleout-workers-table-'));
    const file = join(dir, 'table.json');
    const options = {
      listen: '127.0.0.1:0',
      workers: 2,
      pools: { web: { servers: backends.map((b) => ({ id: b.id, address: b.address })), affinity: { type: 'table' as const, key: { on: 'header' as const, name: 'x-user' }, file } } },
    };
    try {
      const first = await startBalancer(options);
      const placed = new Map<string, string>();
      try {
        const base = `http://${first.addresses[0]}`;
        for (let user = 0; user < 9; user++) placed.set(`user-${user}`, (await once(`${base}/`, { 'x-user': `user-${user}` })).backend!);
        // Spread over the servers, as round-robin places new clients.
        expect(new Set(placed.values()).size).toBeGreaterThan(1);
      } finally {
        await first.close();
      }
      expect(existsSync(file)).toBe(true);
      const second = await startBalancer(options);
      try {
        const base = `http://${second.addresses[0]}`;
        // In the other order: placing them afresh would put most of them elsewhere.
        for (const [user, backend] of [...placed].reverse()) {
          const replies = await many(`${base}/`, 6, 3, { 'x-user': user });
          expect(replies.map((r) => r.backend), user).toEqual(replies.map(() => backend));
        }
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('health with balancer workers', () => {
  let balancer: BalancerWorkers;
  let server: http.Server;
  let probes = 0;
  let healthy = true;

  beforeAll(async () => {
    // A server that counts the health probes it gets.
    server = http.createServer((req, res) => {
      if (req.url === '/healthz') {
        probes++;
        res.writeHead(healthy ? 200 : 503).end();
        return;
      }
      res.writeHead(200, { 'x-backend': 'counted' }).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    balancer = await startBalancer({
      listen: '127.0.0.1:0',
      workers: 2,
      admin: { address: '127.0.0.1:0', token },
      pools: {
        web: {
          servers: [{ id: 'counted', address: `127.0.0.1:${port}` }, { id: 'a', address: backends[0]!.address }],
          health: { path: '/healthz', intervalMs: 100, timeoutMs: 500 },
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await balancer?.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('one worker probes for all: the servers get the probes of one balancer, and every worker follows its view', async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    probes = 0;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    // One prober every 100 ms: about 20 in 2 s (fewer on a busy machine); two probers would send about 40.
    expect(probes).toBeGreaterThan(5);
    expect(probes).toBeLessThanOrEqual(30);

    healthy = false;
    await waitFor('every worker to see the server down', async () => (await perWorker(balancer))
      .every((s) => s.pools.web!.servers.find((x) => x.id === 'counted')!.state === 'down'), { timeoutMs: 15_000 });
    const replies = await many(`http://${balancer.addresses[0]}/`, 40, 8);
    expect(replies.filter((r) => r.backend === 'counted')).toEqual([]);

    healthy = true;
    await waitFor('every worker to see it up again', async () => (await perWorker(balancer))
      .every((s) => s.pools.web!.servers.find((x) => x.id === 'counted')!.state === 'up'), { timeoutMs: 15_000 });
  }, 60_000);
});
