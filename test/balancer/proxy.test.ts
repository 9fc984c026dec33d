import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { BALANCER_RESPONSES, startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { startBackends } from '../support/backend.js';
import { rawExchange } from '../support/raw-http.js';
import type { Backend } from '../support/backend.js';

let backends: Backend[];
let balancer: Balancer;
let base: string;
const agent = new Agent({ connections: 8 });

beforeAll(async () => {
  backends = await startBackends(['a', 'b', 'c']);
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: { web: { servers: backends.map((b) => ({ id: b.id, address: b.address })) } },
  });
  base = `http://${balancer.addresses[0]}`;
});

afterAll(async () => {
  await agent.close();
  await balancer.close();
  await Promise.all(backends.map((b) => b.kill()));
});

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const res = await request(`${base}${path}`, { dispatcher: agent, headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

describe('proxying', () => {
  it('spreads requests evenly with round-robin', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 90; i++) {
      const res = await get('/');
      expect(res.status).toBe(200);
      const id = res.headers['x-backend'] as string;
      counts[id] = (counts[id] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 30, b: 30, c: 30 });
  });

  it('adds x-forwarded-* and x-request-id, keeps a given request id, strips hop-by-hop headers', async () => {
    // Raw bytes: HTTP clients refuse to send some hop-by-hop headers themselves.
    const raw = await rawExchange(Number(balancer.addresses[0]!.split(":")[1]),
      `GET /headers HTTP/1.1\r\nHost: ${balancer.addresses[0]}\r\nX-Forwarded-For: 203.0.113.9\r\nX-Custom: kept\r\n` +
      'Keep-Alive: timeout=99\r\nX-Hop: 1\r\nConnection: close, X-Hop\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n\r\n');
    const seen = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as { headers: Record<string, string> };
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(balancer.addresses[0]);
    expect(seen.headers['x-request-id']).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    expect(seen.headers['x-custom']).toBe('kept');
    expect(seen.headers['x-hop']).toBeUndefined();
    expect(seen.headers['keep-alive']).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
    expect(seen.headers['proxy-connection']).toBeUndefined();
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    const kept = await get('/headers', { 'x-request-id': 'trace-123' });
    expect((JSON.parse(kept.body) as { headers: Record<string, string> }).headers['x-request-id']).toBe('trace-123');
  });

  it('reads and strips the scaleout-load response header', async () => {
    const res = await get('/');
    expect(res.headers['scaleout-load']).toBeUndefined();
    const snapshot = balancer.snapshot();
    expect(snapshot.pools.web!.servers.some((s) => s.load === 0.1)).toBe(true);
  });

  it('streams a large upload and a large download without corruption', async () => {
    const body = randomBytes(8 * 1024 * 1024);
    const res = await request(`${base}/upload`, { method: 'POST', body, dispatcher: agent });
    const result = await res.body.json() as { bytes: number; sha256: string };
    expect(result.bytes).toBe(body.length);
    expect(result.sha256).toBe(createHash('sha256').update(body).digest('hex'));

    async function* pieces(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 64; i++) yield randomBytes(16 * 1024);
    }
    const chunked = await request(`${base}/upload`, { method: 'POST', body: Readable.from(pieces()), dispatcher: agent });
    expect(((await chunked.body.json()) as { bytes: number }).bytes).toBe(64 * 16 * 1024);

    const down = await request(`${base}/download?bytes=${20 * 1024 * 1024}`, { dispatcher: agent });
    let got = 0;
    for await (const chunk of down.body) got += (chunk as Buffer).length;
    expect(got).toBe(20 * 1024 * 1024);
  });

  it('keeps concurrent downloads apart, with fast and slow readers', async () => {
    // Server bytes for many connections pass through one read buffer in the balancer:
    // interleaved, backpressured downloads show that none sees another's bytes.
    const sizes = [6 * 1024 * 1024 + 17, 5 * 1024 * 1024, 3 * 1024 * 1024 + 1, 7 * 1024 * 1024 - 5];
    const results = await Promise.all(sizes.map(async (bytes, i) => {
      const res = await request(`${base}/download?bytes=${bytes}&seed=d${i}`, { dispatcher: agent });
      const hash = createHash('sha256');
      let got = 0;
      for await (const chunk of res.body) {
        hash.update(chunk as Buffer);
        got += (chunk as Buffer).length;
        // Odd downloads read slowly, so the balancer must pause their servers.
        if (i % 2 === 1 && got % (1024 * 1024) < (chunk as Buffer).length) await new Promise((r) => setTimeout(r, 30));
      }
      return { got, sha256: hash.digest('hex'), expected: res.headers['x-sha256'] };
    }));
    results.forEach((r, i) => {
      expect(r.got).toBe(sizes[i]);
      expect(r.sha256).toBe(r.expected);
    });
  });

  it('passes server-sent events through as they are produced', async () => {
    const res = await request(`${base}/sse?count=5`, { dispatcher: agent });
    expect(res.headers['content-type']).toBe('text/event-stream');
    const events: string[] = [];
    for await (const chunk of res.body) events.push(...(chunk as Buffer).toString().split('\n\n').filter(Boolean));
    expect(events.length).toBe(5);
    expect(events[4]).toMatch(/data: [abc] event 4/);
  });

  it('proxies WebSocket upgrades both ways', async () => {
    const ws = new WebSocket(`ws://${balancer.addresses[0]}/ws`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const replies: string[] = [];
    ws.on('message', (data) => replies.push(String(data)));
    for (let i = 0; i < 3; i++) ws.send(`hello ${i}`);
    const deadline = Date.now() + 5000;
    while (replies.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(replies).toHaveLength(3);
    expect(replies[2]).toMatch(/^[abc]:hello 2$/);
    ws.close();
  });

  it('answers HEAD without a body and keeps the connection usable', async () => {
    const res = await request(`${base}/download?bytes=5000`, { method: 'HEAD', dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('');
    expect((await get('/')).status).toBe(200);
  });
});

describe('routes', () => {
  it('sends host and path-prefix rules to their pools, and routes can change while running', async () => {
    balancer.addPool('api', { servers: [{ id: 'api-a', address: backends[0]!.address }] });
    balancer.setRoutes([{ pool: 'web' }, { pathPrefix: '/api', pool: 'api' }]);
    const viaApi = await get('/api/orders');
    expect(balancer.pool('api').server('api-a')!.counters.requests).toBe(1);
    expect(viaApi.status).toBe(200);
    balancer.setRoutes([{ pool: 'web' }]);
    await get('/api/orders');
    expect(balancer.pool('api').server('api-a')!.counters.requests).toBe(1);
    await balancer.removePool('api');
  });

  it('answers 404 with a code when no route matches', async () => {
    balancer.addPool('only-host', { servers: [{ id: 'x', address: backends[0]!.address }] });
    balancer.setRoutes([{ host: 'shop.example', pool: 'only-host' }]);
    const res = await get('/');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toEqual({ error: { code: 'SCALEOUT_BALANCER_NO_ROUTE', message: BALANCER_RESPONSES.noRoute.message } });
    balancer.setRoutes([{ pool: 'web' }]);
    await balancer.removePool('only-host');
  });
});
