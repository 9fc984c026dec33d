import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { startBackends } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { freePorts } from '../support/free-port.js';
import { waitFor } from '../support/wait-for.js';

// Two balancers in front of the same servers, stick table keyed on a header, each
// listing the other as a peer: a client keeps its server whichever balancer it reaches.
const TOKEN = 'peer-test-token-0123456789';
const USERS = Array.from({ length: 30 }, (_, i) => `user-${i}`);

let backends: Backend[];
let adminPorts: number[];
const agent = new Agent({ connections: 8 });
const balancers: Balancer[] = [];

function start(index: 0 | 1): Promise<Balancer> {
  const other = index === 0 ? 1 : 0;
  return startBalancer({
    listen: '127.0.0.1:0',
    admin: { address: `127.0.0.1:${adminPorts[index]}`, token: TOKEN },
    peers: { addresses: [`127.0.0.1:${adminPorts[other]}`], syncIntervalMs: 100 },
    pools: {
      web: {
        servers: backends.map((b) => ({ id: b.id, address: b.address })),
        // Round robin: without the table, a user's requests would go everywhere.
        affinity: { type: 'table', key: { on: 'header', name: 'x-user' } },
      },
    },
  }).then((b) => {
    balancers.push(b);
    return b;
  });
}

async function serverFor(balancer: Balancer, user: string): Promise<string> {
  const res = await request(`http://${balancer.addresses[0]}/`, { dispatcher: agent, headers: { 'x-user': user } });
  await res.body.text();
  expect(res.statusCode).toBe(200);
  return res.headers['x-backend'] as string;
}

async function push(adminPort: number, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await request(`http://127.0.0.1:${adminPort}/peers/stick`, {
    method: 'POST', dispatcher: agent, body, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
  });
  return { status: res.statusCode, text: await res.body.text() };
}

beforeAll(async () => {
  backends = await startBackends(['a', 'b', 'c']);
  adminPorts = await freePorts(2);
});
afterAll(async () => {
  await Promise.all(balancers.map((b) => b.close()));
  await agent.close();
  await Promise.all(backends.map((b) => b.kill()));
});

describe('stick table peers', () => {
  let a: Balancer;
  let b: Balancer;
  const assigned = new Map<string, string>();

  it('push every new assignment to the other balancer', async () => {
    [a, b] = await Promise.all([start(0), start(1)]);
    for (const user of USERS) assigned.set(user, await serverFor(a, user));
    // Spread over the servers: the test would prove nothing if all went to one.
    expect(new Set(assigned.values()).size).toBe(3);
    await waitFor('the entries on the peer', () => b.pools()[0]!.stickTable!.size === USERS.length);
    // In the other order: a fresh round robin in the same order would give the same answers by chance.
    for (const user of [...USERS].reverse()) expect(await serverFor(b, user)).toBe(assigned.get(user));
    const peers = a.snapshot().peers!;
    expect(peers).toEqual([expect.objectContaining({ address: `127.0.0.1:${adminPorts[1]}`, state: 'synced' })]);
  });

  it('shows where a client is stuck on the admin API, without refreshing the entry', async () => {
    const look = async (pool: string, key: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await request(`http://127.0.0.1:${adminPorts[1]}/pools/${pool}/stick/${encodeURIComponent(key)}`, { dispatcher: agent, headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.statusCode, body: await res.body.json() as Record<string, unknown> };
    };
    const first = await look('web', 'user-3');
    expect(first).toEqual({ status: 200, body: { pool: 'web', key: 'user-3', serverId: assigned.get('user-3'), expiresInMs: expect.any(Number) } });
    await new Promise((resolve) => setTimeout(resolve, 30));
    // A refresh would have pushed the expiry forward again.
    expect((await look('web', 'user-3')).body.expiresInMs).toBeLessThan(first.body.expiresInMs as number);
    expect((await look('web', 'nobody')).status).toBe(404);
    expect((await look('nopool', 'user-3')).status).toBe(404);
  });

  it('resync a peer in full when it comes back empty', async () => {
    await b.close();
    balancers.splice(balancers.indexOf(b), 1);
    // A new balancer on the same admin address, no file: it starts with an empty table.
    b = await start(1);
    await waitFor('the full resync', () => b.pools()[0]!.stickTable!.size === USERS.length, { timeoutMs: 10_000 });
    // In the other order: a fresh round robin in the same order would give the same answers by chance.
    for (const user of [...USERS].reverse()) expect(await serverFor(b, user)).toBe(assigned.get(user));
    expect(a.snapshot().peers![0]!.resyncs).toBeGreaterThanOrEqual(2);
  });

  it('refuse malformed pushes with a 400 and keep serving', async () => {
    const port = adminPorts[1]!;
    const bad = [
      'not json',
      '[]',
      '{"updates": []}',
      JSON.stringify({ from: 'x'.repeat(65), updates: [] }),
      JSON.stringify({ from: 'p', updates: {} }),
      JSON.stringify({ from: 'p', updates: [['web', 'k', 'a']] }),
      JSON.stringify({ from: 'p', updates: [['web', 'k', 'a', 'soon']] }),
      JSON.stringify({ from: 'p', updates: [['web', 'k', 'a', -5]] }),
      '{"from": "p", "updates": [["web", "k", "a", 1e400]]}',
      JSON.stringify({ from: 'p', updates: [['web', 42, 'a', 1000]] }),
      JSON.stringify({ from: 'p', updates: [['', 'k', 'a', 1000]] }),
      JSON.stringify({ from: 'p', updates: [['web', 'k', 'x'.repeat(300), 1000]] }),
      JSON.stringify({ from: 'p', updates: Array.from({ length: 1001 }, () => ['web', 'k', 'a', 1000]) }),
    ];
    for (const body of bad) expect((await push(port, body)).status, body.slice(0, 60)).toBe(400);
    expect((await push(port, 'x'.repeat(70_000))).status).toBe(413);
    expect((await push(port, '{}', { authorization: 'Bearer wrong' })).status).toBe(401);
    // Well-formed but useless: unknown pool, over-long key, unknown server. Counted, not applied (but the server id is kept: it may join later).
    const odd = await push(port, JSON.stringify({ from: 'p', updates: [['nope', 'k', 'a', 1000], ['web', 'k'.repeat(300), 'a', 1000], ['web', 'ghost-user', 'ghost', 1000]] }));
    expect(odd.status).toBe(200);
    expect(JSON.parse(odd.text)).toMatchObject({ applied: 1, ignored: 2 });
    // An entry naming a server the pool does not have is passed over.
    expect(['a', 'b', 'c']).toContain(await serverFor(b, 'ghost-user'));
    for (const user of USERS.slice(0, 5)) expect(await serverFor(b, user)).toBe(assigned.get(user));
  });
});

describe('a peer that hangs', () => {
  it('costs a few queued pushes at most, is marked behind, and does not hold up shutdown', async () => {
    // Speaks the peer protocol until `hang`, then holds every request without an answer.
    let hang = false;
    const held: http.ServerResponse[] = [];
    const peer = http.createServer((req, res) => {
      if (hang) {
        held.push(res);
        return;
      }
      req.resume();
      req.once('end', () => res.end(JSON.stringify({ bootId: 'fake-peer', applied: 0, ignored: 0 })));
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const [adminPort] = await freePorts(1);
    const a = await startBalancer({
      listen: '127.0.0.1:0',
      admin: { address: `127.0.0.1:${adminPort}`, token: TOKEN },
      peers: { addresses: [`127.0.0.1:${(peer.address() as AddressInfo).port}`], syncIntervalMs: 100 },
      pools: { web: { servers: backends.map((b) => ({ id: b.id, address: b.address })), affinity: { type: 'table', key: { on: 'header', name: 'x-user' } } } },
    });
    try {
      await waitFor('the peer in sync', () => a.snapshot().peers![0]!.state === 'synced');
      hang = true;
      let most = 0;
      for (let i = 0; i < 150; i++) {
        await serverFor(a, `hung-${i}`);
        most = Math.max(most, a.snapshot().peers![0]!.queued);
        // New assignments in many flushes, not one.
        if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 30));
      }
      // Behind: waiting for its next resync, or in one that waits for the timeout.
      expect(['unsynced', 'syncing']).toContain(a.snapshot().peers![0]!.state);
      expect(a.snapshot().peers![0]!.lastError).toMatch(/pushes waited|aborted|timeout/i);
      expect(most).toBeLessThanOrEqual(5);
      // It keeps serving, table and all.
      expect(await serverFor(a, 'hung-0')).toBe(await serverFor(a, 'hung-0'));
    } finally {
      const closing = performance.now();
      await a.close();
      expect(performance.now() - closing).toBeLessThan(5_000);
      for (const res of held) res.destroy();
      peer.close();
    }
  }, 30_000);
});

describe('entries kept alive by hits on one balancer', () => {
  it('stay alive on the peer too: a periodic resync carries the new expiries', async () => {
    const ports = await freePorts(2);
    const make = (self: number, other: number): Promise<Balancer> => startBalancer({
      listen: '127.0.0.1:0',
      admin: { address: `127.0.0.1:${ports[self]}`, token: TOKEN },
      peers: { addresses: [`127.0.0.1:${ports[other]}`], syncIntervalMs: 100 },
      pools: {
        web: {
          servers: backends.map((b) => ({ id: b.id, address: b.address })),
          // Short, so the test is: a resync every second (half of it).
          affinity: { type: 'table', key: { on: 'header', name: 'x-user' }, idleTimeoutMs: 2_000 },
        },
      },
    });
    const [a, b] = await Promise.all([make(0, 1), make(1, 0)]);
    try {
      const server = await serverFor(a, 'regular');
      await waitFor('the entry on the peer', () => b.pools()[0]!.stickTable!.size === 1);
      // Only balancer A sees the client, for twice the idle timeout.
      const until = performance.now() + 4_000;
      while (performance.now() < until) {
        expect(await serverFor(a, 'regular')).toBe(server);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      // B's copy would have expired 2 s after its push without the refreshes.
      expect([...b.pools()[0]!.stickTable!.entries()].map((e) => e.key)).toEqual(['regular']);
      expect(await serverFor(b, 'regular')).toBe(server);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 30_000);
});
