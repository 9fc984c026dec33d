import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { ManualClock } from '../../src/internal/clock.js';
import { StaticTier, startStaticServer } from '../../src/static/index.js';
import type { StaticServer } from '../../src/static/index.js';
import { startBackend } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { rawExchange, statusOf } from '../support/raw-http.js';

// The static pool's response cache as `scaleout up` sets it: a real balancer with the
// static tier's fallthrough route, a real static server as the origin, the app behind.
// A second caching pool (`/origin`) has a small origin that answers with whatever
// caching headers a test asks for, and counts what reaches it. The balancer's clock is
// a manual one, so freshness is decided by the test, never by sleeping.

const TOKEN = 'response-cache-test-token';
let dir: string;
let tier: StaticTier;
let app: Backend;
let staticServer: StaticServer;
let origin: http.Server;
let originHits = 0;
let balancer: Balancer;
let base: string;
let port: number;
const clock = new ManualClock(Date.now());
const agent = new Agent({ connections: 2 });

beforeAll(async () => {
  dir = join(tmpdir(), `scaleout-response-cache-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  tier = new StaticTier({ dir });
  await tier.publish({ put: [{ path: '/products/1', body: 'baked one, first generation' }, { path: '/products/2', body: 'baked two' }] });
  const started = await startStaticServer({ dir, instanceId: 'static-1' });
  staticServer = started.server;
  app = await startBackend('app-1');
  origin = http.createServer((req, res) => {
    originHits++;
    const url = new URL(req.url ?? '/', 'http://x');
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'x-scaleout-instance': 'origin-1' };
    for (const [name, value] of url.searchParams) headers[name] = value;
    const body = `origin answer ${originHits}`;
    // A known length: a chunked answer is not kept.
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(Number(url.searchParams.get('status') ?? 200), headers);
    res.end(body);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    admin: { address: '127.0.0.1:0', token: TOKEN },
    pools: {
      static: { servers: [{ id: 'static-1', address: started.address }], slowStartMs: 0, cache: {} },
      origin: { servers: [{ id: 'origin-1', address: `127.0.0.1:${(origin.address() as AddressInfo).port}` }], slowStartMs: 0, cache: { maxObjectBytes: 4096 } },
      app: { servers: [{ id: 'app-1', address: app.address }] },
    },
    routes: [{ pathPrefix: '/products', pool: 'static', fallthrough: true }, { pathPrefix: '/origin', pool: 'origin' }, { pool: 'app' }],
  }, { clock });
  base = `http://${balancer.addresses[0]}`;
  port = Number(balancer.addresses[0]!.split(':')[1]);
});

afterAll(async () => {
  await agent.close();
  await balancer?.close();
  await staticServer?.close();
  await new Promise((resolve) => origin?.close(resolve));
  await app?.kill();
  await rm(dir, { recursive: true, force: true });
});

async function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const res = await request(`${base}${path}`, { method: method as 'GET', dispatcher: agent, headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

async function purge(pool: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await request(`http://${balancer.adminAddress}/pools/${pool}/cache/purge`, {
    method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? '' : JSON.stringify(body),
  });
  return { status: res.statusCode, body: await res.body.json() };
}

const cacheOf = (pool: string): NonNullable<ReturnType<Balancer['snapshot']>['pools'][string]['cache']> => balancer.snapshot().pools[pool]!.cache!;

describe('the static pool\'s response cache', () => {
  it('stores the first answer and answers the repeat itself, with the origin\'s headers and an Age', async () => {
    const servedBefore = staticServer.counters.ok;
    const first = await get('/products/1');
    const second = await get('/products/1');
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body).toBe(first.body);
    expect(staticServer.counters.ok).toBe(servedBefore + 1);
    for (const answer of [first, second]) {
      expect(answer.headers['surrogate-control']).toBeUndefined(); // consumed by the balancer
      expect(answer.headers['cache-control']).toBe('public, max-age=0, must-revalidate');
      expect(answer.headers['x-scaleout-instance']).toBe('static-1');
    }
    expect(second.headers.age).toBe('0');
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(cacheOf('static')).toMatchObject({ stores: 1, hits: 1, misses: 1 });
  });

  it('answers HEAD and a matching If-None-Match (304) from the stored answer', async () => {
    const servedBefore = staticServer.counters.ok + staticServer.counters.notModified;
    const full = await get('/products/1');
    const head = await get('/products/1', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(full.body)));
    const notModified = await get('/products/1', { 'if-none-match': `"other", ${full.headers.etag as string}` });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe(full.headers.etag);
    expect(notModified.headers['content-length']).toBeUndefined();
    const changed = await get('/products/1', { 'if-none-match': '"stale"' });
    expect(changed.status).toBe(200);
    expect(changed.body).toBe(full.body);
    expect(staticServer.counters.ok + staticServer.counters.notModified).toBe(servedBefore);
  });

  it('shows a new generation once the stored answer is past its max-age (1 s from the static server)', async () => {
    expect((await get('/products/1')).body).toBe('baked one, first generation');
    await tier.publish({ put: [{ path: '/products/1', body: 'baked one, second generation' }] });
    // Within the bound the stored answer may still be served...
    expect((await get('/products/1')).body).toBe('baked one, first generation');
    // ...and past it, never.
    clock.advance(1000);
    expect((await get('/products/1')).body).toBe('baked one, second generation');
    expect((await get('/products/1')).headers.age).toBe('0');
  });

  it('keeps no 404: a page the tier does not have falls through to the app every time', async () => {
    const notFoundBefore = staticServer.counters.notFound;
    for (let i = 0; i < 2; i++) {
      const res = await get('/products/404');
      expect(res.status).toBe(200);
      expect(res.headers['x-backend']).toBe('app-1');
    }
    expect(staticServer.counters.notFound).toBe(notFoundBefore + 2);
  });

  it('keeps one variant per key: a client with another Accept goes to the origin and does not get the HTML', async () => {
    await get('/products/2');
    const json = await get('/products/2', { accept: 'application/json' });
    expect(json.headers['x-backend']).toBe('app-1');
    const html = await get('/products/2', { accept: 'text/html' });
    expect(html.body).toBe('baked two');
  });

  it('answers pipelined requests in order, HTTP/1.0 with its keep-alive, and closes when asked', async () => {
    await get('/products/2');
    const raw = await rawExchange(port, 'GET /products/2 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /products/2 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGET /products/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const answers = raw.split(/(?=HTTP\/1\.1 )/);
    expect(answers.map(statusOf)).toEqual([200, 200, 200]);
    expect(answers[0]).toContain('baked two');
    expect(answers[1]).toMatch(/connection: keep-alive\r\n/i);
    expect(answers[1]!.endsWith('\r\n\r\n')).toBe(true);
    expect(answers[2]).toMatch(/connection: close\r\n/i);
  });

  it('purges over the admin API: the next request goes to the origin', async () => {
    await get('/products/2');
    const servedBefore = staticServer.counters.ok;
    // Two entries: this client's host, and the raw client's `Host: x` above.
    expect(await purge('static', { pathPrefix: '/products/2' })).toMatchObject({ status: 200, body: { pool: 'static', purged: 2 } });
    await get('/products/2');
    expect(staticServer.counters.ok).toBe(servedBefore + 1);
    expect((await purge('static')).status).toBe(200);
    expect(cacheOf('static').entries).toBe(0);
    expect(await purge('app')).toMatchObject({ status: 409, body: { error: { code: 'SCALEOUT_BALANCER_ADMIN_REQUEST' } } });
    expect((await purge('static', { pathPrefix: 'products' })).status).toBe(400);
  });
});

describe('what a caching pool does not keep', () => {
  async function hitsFor(path: string, headers: Record<string, string> = {}): Promise<number> {
    const before = originHits;
    await get(path, headers);
    await get(path, headers);
    return originHits - before;
  }

  it('keeps an answer that says it may be kept, and nothing else', async () => {
    expect(await hitsFor('/origin/a?surrogate-control=max-age%3D5')).toBe(1);
    expect(await hitsFor('/origin/a?cache-control=s-maxage%3D5')).toBe(1);
    expect(await hitsFor('/origin/b')).toBe(2);
    expect(await hitsFor('/origin/c?surrogate-control=max-age%3D5&set-cookie=sid%3D1')).toBe(2);
    expect(await hitsFor('/origin/d?surrogate-control=max-age%3D5&cache-control=private')).toBe(2);
    expect(await hitsFor('/origin/e?surrogate-control=max-age%3D5&cache-control=no-store')).toBe(2);
    expect(await hitsFor('/origin/f?surrogate-control=max-age%3D5&status=404')).toBe(2);
    expect(await hitsFor('/origin/g?surrogate-control=max-age%3D5&vary=*')).toBe(2);
    // Larger than maxObjectBytes (4096): passes whole, is not kept.
    const big = await get(`/origin/h?surrogate-control=max-age%3D5&x-pad=${'p'.repeat(5000)}`);
    expect(big.status).toBe(200);
    expect(await hitsFor(`/origin/h?surrogate-control=max-age%3D5&x-pad=${'p'.repeat(5000)}`)).toBe(2);
  });

  it('neither answers nor keeps requests with credentials or a body', async () => {
    expect(await hitsFor('/origin/i?surrogate-control=max-age%3D5', { authorization: 'Bearer x' })).toBe(2);
    const before = originHits;
    await get('/origin/j?surrogate-control=max-age%3D5');
    await get('/origin/j?surrogate-control=max-age%3D5', { authorization: 'Bearer x' });
    expect(originHits - before).toBe(2);
    expect(cacheOf('origin').bypasses).toBeGreaterThanOrEqual(3);
  });

  it('keys by host, so a client naming another host gets no other site\'s answer', async () => {
    const before = originHits;
    await get('/origin/k?surrogate-control=max-age%3D5', { host: 'one.example' });
    const other = await get('/origin/k?surrogate-control=max-age%3D5', { host: 'two.example' });
    const again = await get('/origin/k?surrogate-control=max-age%3D5', { host: 'ONE.example:80' });
    expect(originHits - before).toBe(2);
    expect(other.body).toBe(`origin answer ${before + 2}`);
    expect(again.body).toBe(`origin answer ${before + 1}`);
  });
});
