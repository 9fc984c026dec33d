import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type net from 'node:net';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { RawClient } from '../support/raw-client.js';

// An absolute-form target names an authority of its own (RFC 9112 3.2.2). Routing by it
// while the server reads another one from Host would let a client reach the admin pool
// while the app believes it serves the public site.

interface Seen {
  server: string;
  url: string;
  hosts: string[];
  forwardedHost: string | undefined;
}

function startEcho(name: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const seen: Seen = {
      server: name,
      url: req.url ?? '',
      hosts: req.rawHeaders.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === 'host' ? [req.rawHeaders[i + 1]!] : [])),
      forwardedHost: req.headers['x-forwarded-host'] as string | undefined,
    };
    const body = JSON.stringify(seen);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let admin: http.Server;
let pub: http.Server;
let balancer: Balancer;
let port: number;

beforeAll(async () => {
  [admin, pub] = await Promise.all([startEcho('admin'), startEcho('public')]);
  const address = (s: http.Server): string => `127.0.0.1:${(s.address() as net.AddressInfo).port}`;
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: { admin: { servers: [{ id: 'a', address: address(admin) }] }, public: { servers: [{ id: 'p', address: address(pub) }] } },
    routes: [{ host: 'admin.example', pool: 'admin' }, { host: 'public.example', pool: 'public' }],
  });
  port = Number(balancer.addresses[0]!.split(':')[1]);
});

afterAll(async () => {
  await balancer.close();
  admin.closeAllConnections();
  pub.closeAllConnections();
  await Promise.all([admin, pub].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function send(raw: string): Promise<{ status: number; seen: Seen | undefined }> {
  const client = new RawClient(port);
  await client.write(raw);
  await client.closedPromise;
  const res = client.response();
  return { status: res?.status ?? 0, seen: res?.status === 200 ? JSON.parse(res.body.toString()) as Seen : undefined };
}

describe('absolute-form request targets', () => {
  it('the authority in the target routes the request, and the server sees that same authority', async () => {
    const { status, seen } = await send('GET http://admin.example/x?q=1 HTTP/1.1\r\nHost: public.example\r\nX-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n');
    expect(status).toBe(200);
    expect(seen).toEqual({ server: 'admin', url: '/x?q=1', hosts: ['admin.example'], forwardedHost: 'admin.example' });
  });

  it('the other way round: a public target with an admin Host goes to the public pool', async () => {
    const { seen } = await send('GET http://public.example/ HTTP/1.1\r\nHost: admin.example\r\nConnection: close\r\n\r\n');
    expect(seen).toEqual({ server: 'public', url: '/', hosts: ['public.example'], forwardedHost: 'public.example' });
  });

  it('a target without a path becomes "/", and an HTTP/1.0 request without Host gets one', async () => {
    const { seen } = await send('GET http://admin.example HTTP/1.0\r\n\r\n');
    expect(seen).toEqual({ server: 'admin', url: '/', hosts: ['admin.example'], forwardedHost: 'admin.example' });
  });

  it('origin-form requests are routed and forwarded by Host as before', async () => {
    const { seen } = await send('GET /y HTTP/1.1\r\nHost: admin.example\r\nConnection: close\r\n\r\n');
    expect(seen).toEqual({ server: 'admin', url: '/y', hosts: ['admin.example'], forwardedHost: 'admin.example' });
  });
});
