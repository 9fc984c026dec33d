import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { RawClient, parseResponse } from '../support/raw-client.js';
import { waitFor } from '../support/wait-for.js';

// HTTP/1.0 keep-alive, and chunked trailers that try to carry framing or routing fields.

/** Requests the app saw: method, url, version and the body length it read. */
const appSeen: Array<{ url: string; httpVersion: string; bodyBytes: number }> = [];

function startApp(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => { bodyBytes += c.length; });
    req.on('end', () => {
      appSeen.push({ url: req.url ?? '', httpVersion: req.httpVersion, bodyBytes });
      if (req.url === '/streamed') {
        // No length known up front: chunked in HTTP/1.1.
        res.write('first part, ');
        setTimeout(() => res.end('second part'), 10);
        return;
      }
      // res.end(body) with no length set: Node sends Content-Length in HTTP/1.1 but, asked
      // in HTTP/1.0, frames the body by closing the connection.
      res.end(`hello ${req.url}`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** A server that answers every request with the raw bytes given in `rawResponse`. */
let rawResponse = '';
function startRawServer(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let head = '';
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      head = '';
      socket.write(rawResponse);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let app: http.Server;
let raw: net.Server;
let balancer: Balancer;
let port: number;

beforeAll(async () => {
  [app, raw] = await Promise.all([startApp(), startRawServer()]);
  const address = (s: net.Server): string => `127.0.0.1:${(s.address() as net.AddressInfo).port}`;
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: { app: { servers: [{ id: 'app', address: address(app) }] }, raw: { servers: [{ id: 'raw', address: address(raw) }] } },
    routes: [{ pathPrefix: '/raw', pool: 'raw' }, { pool: 'app' }],
  });
  port = Number(balancer.addresses[0]!.split(':')[1]);
});

afterAll(async () => {
  await balancer.close();
  app.closeAllConnections();
  await new Promise<void>((resolve) => app.close(() => resolve()));
  await new Promise<void>((resolve) => raw.close(() => resolve()));
});

describe('HTTP/1.0 with Connection: keep-alive', () => {
  it('serves a second request on the same connection', async () => {
    const client = new RawClient(port);
    await client.write('GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await waitFor('the first response', () => client.response()?.complete);
    const first = client.response()!;
    expect(first.status).toBe(200);
    expect(first.body.toString()).toBe('hello /one');
    expect(first.headers['connection']).toBe('keep-alive');
    expect(client.closed || client.ended).toBe(false);

    await client.write('GET /two HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await waitFor('the second response', () => parseResponse(client.response()!.rest, false)?.complete);
    const second = parseResponse(client.response()!.rest, false)!;
    expect(second.status).toBe(200);
    expect(second.body.toString()).toBe('hello /two');
    expect(appSeen.slice(-2).map((r) => r.httpVersion)).toEqual(['1.1', '1.1']);
    client.close();
  });

  it('gets a chunked response as plain data, ended by the close', async () => {
    const client = new RawClient(port);
    await client.write('GET /streamed HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await client.closedPromise;
    const res = client.response()!;
    expect(res.status).toBe(200);
    expect(res.headers['transfer-encoding']).toBeUndefined();
    expect(res.headers['connection']).toBe('close');
    expect(res.body.toString()).toBe('first part, second part');
  });
});

describe('chunked trailers with fields a trailer may not carry', () => {
  it.each(['Content-Length: 5', 'Transfer-Encoding: chunked', 'Host: admin.example'])('request trailer %s → 400', async (field) => {
    const seenBefore = appSeen.length;
    const client = new RawClient(port);
    await client.write(`POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n${field}\r\n\r\n`);
    await client.closedPromise;
    expect(client.response()?.status).toBe(400);
    // Refused by the balancer, not left for the app to notice (or not).
    expect(client.response()?.body.toString()).toContain('SCALEOUT_BALANCER_BAD_REQUEST');
    // The app never got a complete request.
    const ok = new RawClient(port);
    await ok.write('GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await ok.closedPromise;
    expect(appSeen.slice(seenBefore).map((r) => r.url)).toEqual(['/after']);
  });

  it('a request trailer with an ordinary field passes', async () => {
    const client = new RawClient(port);
    await client.write('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n');
    await client.closedPromise;
    expect(client.response()?.status).toBe(200);
    expect(appSeen.at(-1)).toMatchObject({ url: '/upload', bodyBytes: 5 });
  });

  it('a response trailer with Content-Length is a bad upstream response: 502', async () => {
    rawResponse = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n';
    const client = new RawClient(port);
    await client.write('GET /raw/x HTTP/1.1\r\nHost: x\r\n\r\n');
    await client.closedPromise;
    const res = client.response();
    expect(res?.status).toBe(502);
    expect(res?.body.toString()).toContain('SCALEOUT_BALANCER_BAD_UPSTREAM_RESPONSE');
  });

  it('a response trailer with an ordinary field passes', async () => {
    rawResponse = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n';
    const client = new RawClient(port);
    await client.write('GET /raw/y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await client.closedPromise;
    expect(client.response()).toMatchObject({ status: 200, complete: true });
    expect(client.response()!.body.toString()).toBe('hello');
  });
});
