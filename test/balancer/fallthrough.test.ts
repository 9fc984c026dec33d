import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { StaticTier, startStaticServer } from '../../src/static/index.js';
import type { StaticServer } from '../../src/static/index.js';
import { startBackend } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { rawExchange, statusOf } from '../support/raw-http.js';

// A static tier in front of the app as the runtime places it: a `fallthrough` route for
// the pre-rendered prefix, the app behind it. Real balancer, static server and backend.

let dir: string;
let app: Backend;
let staticServer: StaticServer;
let staticAddress: string;
let balancer: Balancer;
let base: string;
const agent = new Agent({ connections: 4 });

beforeAll(async () => {
  dir = join(tmpdir(), `scaleout-fallthrough-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  await new StaticTier({ dir }).publish({ put: [{ path: '/products/1', body: 'baked one' }] });
  const started = await startStaticServer({ dir, instanceId: 'static-1' });
  staticServer = started.server;
  staticAddress = started.address;
  app = await startBackend('app-1');
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: {
      static: { servers: [{ id: 'static-1', address: started.address }] },
      app: { servers: [{ id: 'app-1', address: app.address }] },
    },
    // /status too: the fixture answers it with any status asked for.
    routes: [{ pathPrefix: '/products', pool: 'static', fallthrough: true }, { pathPrefix: '/status', pool: 'static', fallthrough: true }, { pool: 'app' }],
  });
  base = `http://${balancer.addresses[0]}`;
});

afterAll(async () => {
  await agent.close();
  await balancer?.close();
  await staticServer?.close();
  await app?.kill();
  await rm(dir, { recursive: true, force: true });
});

async function fetchVia(path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const res = await request(`${base}${path}`, { method: method as 'GET', dispatcher: agent, headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

describe('a fallthrough route', () => {
  it('serves a pre-rendered page from the static pool', async () => {
    const res = await fetchVia('/products/1');
    expect(res.status).toBe(200);
    expect(res.body).toBe('baked one');
    expect(res.headers['x-scaleout-instance']).toBe('static-1');
  });

  it('passes a 304 of the static pool through', async () => {
    const first = await fetchVia('/products/1');
    const again = await fetchVia('/products/1', 'GET', { 'if-none-match': first.headers.etag as string });
    expect(again.status).toBe(304);
  });

  it('sends a page the static pool does not have on to the app, GET and HEAD, many on one connection', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await fetchVia(`/products/${100 + i}?q=${i}`);
      expect(res.status).toBe(200);
      expect(res.headers['x-backend']).toBe('app-1');
      expect(JSON.parse(res.body)).toMatchObject({ method: 'GET', path: `/products/${100 + i}?q=${i}` });
    }
    const head = await fetchVia('/products/77', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['x-backend']).toBe('app-1');
    const snapshot = balancer.snapshot();
    expect(snapshot.pools.static!.servers[0]!.counters.requests).toBeGreaterThanOrEqual(21);
  });

  it('sends other methods to the app without asking the static pool', async () => {
    const before = balancer.snapshot().pools.static!.servers[0]!.counters.requests;
    const res = await fetchVia('/products/1', 'POST');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ id: 'app-1', method: 'POST' });
    expect(balancer.snapshot().pools.static!.servers[0]!.counters.requests).toBe(before);
  });

  it('sends other paths to the app', async () => {
    const res = await fetchVia('/cart');
    expect(res.headers['x-backend']).toBe('app-1');
  });

  it('falls through once: the app\'s own 404 reaches the client', async () => {
    const raw = await rawExchange(Number(balancer.addresses[0]!.split(':')[1]), 'GET /status?code=404 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    // The app answered (its x-backend), not the static server, and nothing looped.
    expect(statusOf(raw)).toBe(404);
    expect(raw).toContain('x-backend: app-1');
  });

  it('answers 503 for a miss when the app pool has no server', async () => {
    balancer.pool('app').removeServer('app-1');
    try {
      expect((await fetchVia('/products/5')).status).toBe(503);
      expect((await fetchVia('/products/1')).status).toBe(200);
    } finally {
      balancer.addServer('app', { id: 'app-1', address: app.address });
    }
  });

  it('sends reads to the app while the static pool has no server, and other methods as always', async () => {
    balancer.pool('static').removeServer('static-1');
    try {
      const res = await fetchVia('/products/1');
      expect(res.status).toBe(200);
      expect(res.headers['x-backend']).toBe('app-1');
      expect((await fetchVia('/products/1', 'POST')).headers['x-backend']).toBe('app-1');
    } finally {
      balancer.addServer('static', { id: 'static-1', address: staticAddress });
    }
  });

  it('sends reads to the app when the static server is gone before the balancer noticed', async () => {
    const dead = await startStaticServer({ dir });
    const address = dead.address;
    await dead.server.close();
    balancer.addServer('static', { id: 'static-dead', address });
    balancer.pool('static').removeServer('static-1');
    try {
      const res = await fetchVia('/products/1');
      expect(res.status).toBe(200);
      expect(res.headers['x-backend']).toBe('app-1');
    } finally {
      balancer.pool('static').removeServer('static-dead');
      balancer.addServer('static', { id: 'static-1', address: staticAddress });
    }
  });
});
