import net from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer, BalancerOptionsInput } from '../../src/balancer/index.js';
import { startBackends } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { startFastifyInstance } from '../support/fastify-instance.js';
import type { FastifyInstance } from '../support/fastify-instance.js';
import { waitFor } from '../support/wait-for.js';

// Outlier ejection must count only what is the server's fault: clients, however they
// behave, and a failure every server shares, must not get healthy servers ejected.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

type Servers = Array<Backend | FastifyInstance>;

async function balance(servers: Servers, pool: Partial<BalancerOptionsInput['pools'][string]> = {}, extra: Partial<BalancerOptionsInput> = {}): Promise<{ balancer: Balancer; base: string; agent: Agent }> {
  const balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: { web: { servers: servers.map((s) => ({ id: s.id, address: s.address })), ...pool } },
    ...extra,
  }, { log: (e) => { if (process.env.DEBUG_EVENTS) console.log(e); } });
  const agent = new Agent({ connections: 16 });
  cleanups.push(async () => {
    await agent.close();
    await balancer.close();
    await Promise.all(servers.map((s) => s.kill()));
  });
  return { balancer, base: `http://${balancer.addresses[0]}`, agent };
}

function states(balancer: Balancer): Record<string, string> {
  const now = Date.now();
  return Object.fromEntries(balancer.pool('web').servers().map((s) => [s.id, s.state(now)]));
}

/** A value of the x-key header that the hash strategy sends to each server. */
async function keysPerServer(base: string, agent: Agent): Promise<Record<string, string>> {
  const keyFor: Record<string, string> = {};
  for (let i = 0; i < 50 && Object.keys(keyFor).length < 2; i++) {
    const res = await request(`${base}/`, { dispatcher: agent, headers: { 'x-key': `k${i}` } });
    await res.body.text();
    keyFor[res.headers['x-backend'] as string] ??= `k${i}`;
  }
  return keyFor;
}

describe('what does not eject a server', () => {
  it('clients that request a large response and never read it', async () => {
    const backends = await startBackends(['a', 'b']);
    const { balancer, base, agent } = await balance(backends, { outlier: { consecutiveConnectFailures: 2 } }, { timeouts: { serverMs: 500 } });
    const sockets: net.Socket[] = [];
    cleanups.push(async () => { for (const s of sockets) s.destroy(); });
    const [host, port] = balancer.addresses[0]!.split(':') as [string, string];
    for (let i = 0; i < 6; i++) {
      const socket = net.connect(Number(port), host);
      socket.on('error', () => {});
      socket.pause(); // never reads: the balancer's writes back up
      socket.write('GET /download?bytes=1000000000&hash=0 HTTP/1.1\r\nhost: test\r\n\r\n');
      sockets.push(socket);
    }
    const servers = balancer.pool('web').servers();
    await waitFor('the downloads to start', () => servers.every((s) => s.inFlight === 3), { timeoutMs: 15_000 });
    // The balancer gives up on each stalled download after serverMs...
    await waitFor('the stalled downloads to be cut', () => servers.every((s) => s.inFlight === 0), { timeoutMs: 15_000 });
    // ...without blaming the servers, which sent as fast as the clients allowed.
    expect(states(balancer)).toEqual({ a: 'up', b: 'up' });
    expect(servers.map((s) => s.counters.timeouts)).toEqual([0, 0]);
    for (let i = 0; i < 4; i++) expect((await request(`${base}/`, { dispatcher: agent })).statusCode).toBe(200);
  });

  it('uploads the server refuses to read to the end', async () => {
    // The server closes on an upload it will not take (as an app does after answering
    // 413 early): the connection resets while the balancer still sends the body.
    const backends = await startBackends(['a', 'b']);
    const { balancer, base, agent } = await balance(backends, { outlier: { consecutiveConnectFailures: 2 } });
    // Larger than the socket buffers between balancer and server can hold: the server
    // refuses it while the balancer still sends it, whatever the machine's load.
    const body = Buffer.alloc(16 * 1024 * 1024, 'x');
    for (let i = 0; i < 6; i++) {
      const status = await request(`${base}/refuse-upload?maxBytes=1024`, { dispatcher: agent, method: 'POST', body })
        .then(async (res) => { await res.body.text(); return res.statusCode; }, () => 'closed');
      expect([502, 'closed']).toContain(status);
    }
    expect(states(balancer)).toEqual({ a: 'up', b: 'up' });
    for (let i = 0; i < 4; i++) expect((await request(`${base}/`, { dispatcher: agent })).statusCode).toBe(200);
  });

  it('a 503 every Fastify instance answers because a shared engine is down', async () => {
    const instances = await Promise.all(['f1', 'f2', 'f3'].map((id) => startFastifyInstance(id)));
    const { balancer, base, agent } = await balance(instances);
    for (let i = 0; i < 30; i++) expect((await request(`${base}/engine-down`, { dispatcher: agent })).statusCode).toBe(503);
    expect(states(balancer)).toEqual({ f1: 'up', f2: 'up', f3: 'up' });
    // Anonymous pages, which need no engine, are still served by every instance.
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await request(`${base}/`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      seen.add(((await res.body.json()) as { instance: string }).instance);
    }
    expect(seen).toEqual(new Set(['f1', 'f2', 'f3']));
  }, 60_000);

  it('a 500 every server answers alike', async () => {
    const backends = await startBackends(['a', 'b', 'c']);
    const { balancer, base, agent } = await balance(backends);
    for (let i = 0; i < 30; i++) await (await request(`${base}/status?code=500`, { dispatcher: agent })).body.text();
    expect(states(balancer)).toEqual({ a: 'up', b: 'up', c: 'up' });
    // One server failing while the others answer still stands out.
    for (let i = 0; i < 15; i++) await (await request(`${base}/status?code=500&only=b`, { dispatcher: agent })).body.text();
    expect(states(balancer)).toEqual({ a: 'up', b: 'ejected', c: 'up' });
  });

  it('a response that streams for long, while another server answers quick requests', async () => {
    const backends = await startBackends(['a', 'b']);
    const { balancer, base, agent } = await balance(backends, { strategy: 'hash', hash: { on: 'header', name: 'x-key' } });
    const keyFor = await keysPerServer(base, agent);
    let streaming = true;
    const stream = request(`${base}/sse?count=75`, { dispatcher: agent, headers: { 'x-key': keyFor.a! } })
      .then(async (res) => { const text = await res.body.text(); streaming = false; return text; });
    while (streaming) await (await request(`${base}/`, { dispatcher: agent, headers: { 'x-key': keyFor.b! } })).body.text();
    expect((await stream).match(/^data: /gm)).toHaveLength(75);
    expect(states(balancer)).toEqual({ a: 'up', b: 'up' });
  });

  it('an upload that arrives slowly, while another server answers quick requests', async () => {
    const backends = await startBackends(['a', 'b']);
    const { balancer, base, agent } = await balance(backends, { strategy: 'hash', hash: { on: 'header', name: 'x-key' } });
    const keyFor = await keysPerServer(base, agent);
    let uploading = true;
    async function* slowBody(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 15; i++) {
        yield Buffer.alloc(1024, 'u');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const upload = request(`${base}/upload`, { dispatcher: agent, method: 'POST', body: Readable.from(slowBody()), headers: { 'x-key': keyFor.a! } })
      .then(async (res) => { const body = await res.body.json() as { bytes: number }; uploading = false; return body.bytes; });
    while (uploading) await (await request(`${base}/`, { dispatcher: agent, headers: { 'x-key': keyFor.b! } })).body.text();
    expect(await upload).toBe(15 * 1024);
    expect(states(balancer)).toEqual({ a: 'up', b: 'up' });
  });

  it('slow answers from every server at once (no server stands out as silent)', async () => {
    const backends = await startBackends(['a', 'b', 'c']);
    const { balancer, base, agent } = await balance(backends);
    for (let i = 0; i < 6; i++) await (await request(`${base}/`, { dispatcher: agent })).body.text();
    await new Promise((resolve) => setTimeout(resolve, 300)); // the detector sees every server answer
    const slow = await Promise.all(Array.from({ length: 6 }, () => request(`${base}/slow?ms=1500`, { dispatcher: agent }).then((r) => r.body.text().then(() => r.statusCode))));
    expect(slow).toEqual([200, 200, 200, 200, 200, 200]);
    expect(states(balancer)).toEqual({ a: 'up', b: 'up', c: 'up' });
  });
});

describe('how many servers may be ejected', () => {
  it('at most maxEjectionPercent of a pool, however many fail', async () => {
    const backends = await startBackends(['a', 'b', 'c', 'd']);
    const { balancer, base, agent } = await balance(backends, { outlier: { maxEjectionPercent: 50 } });
    await Promise.all(backends.slice(1).map((b) => b.kill()));
    for (let i = 0; i < 40; i++) await (await request(`${base}/`, { dispatcher: agent })).body.text();
    const now = Date.now();
    const servers = balancer.pool('web').servers();
    expect(servers.filter((s) => s.state(now) === 'ejected')).toHaveLength(2);
    expect(servers.find((s) => s.id === 'a')!.state(now)).toBe('up');
  });

  it('never the last server that can take traffic, even when the others are down by active checks', async () => {
    const backends = await startBackends(['a', 'b']);
    const { balancer, base, agent } = await balance(backends, { health: { path: '/healthz', intervalMs: 50, timeoutMs: 1000 } }, { timeouts: { serverMs: 200 } });
    await (await request(`http://${backends[0]!.address}/control?healthy=0`)).body.text();
    await waitFor('a to be down', () => states(balancer).a === 'down');
    // b is now the only server, and it is slow: its timeouts must not leave the pool empty.
    for (let i = 0; i < 4; i++) expect((await request(`${base}/slow?ms=1000`, { dispatcher: agent })).statusCode).toBe(504);
    expect(states(balancer)).toEqual({ a: 'down', b: 'up' });
    expect((await request(`${base}/slow?ms=1`, { dispatcher: agent })).statusCode).toBe(200);
  });
});
