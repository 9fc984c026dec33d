import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { freePort } from '../support/free-port.js';
import { RawClient } from '../support/raw-client.js';
import { waitFor } from '../support/wait-for.js';

// Exchanges that end before the client has sent its whole request body: the app answers
// early, the balancer answers with an error, or the server cannot be reached. The client
// keeps sending; the balancer must survive, pass on the response whole, and never treat
// what follows as a request.

const uncaught: Error[] = [];
const onUncaught = (err: Error): void => { uncaught.push(err); };

/** Every request head a raw server saw, by its target. */
const rawSeen: string[] = [];
/** Late answers a raw server has written (after the balancer gave up on them). */
let lateAnswers = 0;

/** A server that answers from the head alone: `/raw/early-503` keeps reading, `/raw/early-close` closes. */
function startRawServer(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let buf = '';
    let answered = false;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (answered) return; // the rest of the body: read and dropped
      buf += chunk.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const target = buf.split(' ')[1]!;
      rawSeen.push(target);
      answered = true;
      if (target === '/raw/late') {
        setTimeout(() => {
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate', () => { lateAnswers++; });
        }, SERVER_MS + 300);
        return;
      }
      const body = JSON.stringify({ error: 'early', target });
      const status = target === '/raw/early-close' ? '413 Payload Too Large' : target === '/raw/ok' ? '200 OK' : '503 Service Unavailable';
      socket.write(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      if (target === '/raw/early-close') socket.end();
      if (target === '/raw/ok') {
        answered = false;
        buf = buf.slice(end + 4);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const SERVER_MS = 300;

let app: FastifyInstance;
let raw: net.Server;
let balancer: Balancer;
let port: number;

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  app = Fastify({ bodyLimit: 1024 * 1024 });
  app.post('/fastify/orders', async (req) => ({ ok: true, got: typeof req.body }));
  app.get('/fastify/ping', async () => ({ pong: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  raw = await startRawServer();
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: {
      fastify: { servers: [{ id: 'f', address: `127.0.0.1:${(app.server.address() as net.AddressInfo).port}` }] },
      raw: { servers: [{ id: 'r', address: `127.0.0.1:${(raw.address() as net.AddressInfo).port}` }] },
      dead: { servers: [{ id: 'd', address: `127.0.0.1:${await freePort()}` }] },
    },
    routes: [{ pathPrefix: '/fastify', pool: 'fastify' }, { pathPrefix: '/raw', pool: 'raw' }, { pathPrefix: '/dead', pool: 'dead' }],
    timeouts: { headMs: 1000, clientBodyMs: 300, connectMs: 500, serverMs: SERVER_MS },
  });
  port = Number(balancer.addresses[0]!.split(':')[1]);
});

afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await balancer.close();
  await app.close();
  await new Promise<void>((resolve) => raw.close(() => resolve()));
});

afterEach(async () => {
  expect(uncaught.splice(0).map((e) => e.stack)).toEqual([]);
  // Still serving.
  const client = new RawClient(port);
  await client.write('GET /fastify/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await client.closedPromise;
  expect(client.response()?.status).toBe(200);
});

/** A request that must never reach a server: it hides in a body the balancer drops. */
const SMUGGLED = 'GET /raw/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

async function expectNotSmuggled(): Promise<void> {
  // A request sent afterwards on a new connection is seen; the hidden one never is.
  const client = new RawClient(port);
  await client.write('GET /raw/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await client.closedPromise;
  expect(client.response()?.status).toBe(200);
  expect(rawSeen).not.toContain('/raw/smuggled');
}

describe('a response before the whole request body', () => {
  it('a Fastify 413 for a 10 MB body reaches the client intact, then the connection closes', async () => {
    const client = new RawClient(port, { halfOpen: true });
    const total = 10 * 1024 * 1024;
    await client.write(`POST /fastify/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`);
    // Like a real client: keep sending until the response is in, then stop.
    const piece = Buffer.alloc(64 * 1024, 0x20);
    for (let sent = 0; sent < total && client.response()?.complete !== true;) {
      if (!(await client.write(piece))) break;
      sent += piece.length;
    }
    await waitFor('the whole 413', () => client.response()?.complete);
    const res = client.response()!;
    expect(res.status, res.body.toString()).toBe(413);
    expect(res.headers['connection']).toBe('close');
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    client.socket.end();
    await client.closedPromise;
  });

  it('a server that answers 503 from the head alone: the client gets the 503, the rest of the body is dropped', async () => {
    const client = new RawClient(port, { halfOpen: true });
    const filler = 200_000;
    await client.write(`POST /raw/early-503 HTTP/1.1\r\nHost: x\r\nContent-Length: ${filler + SMUGGLED.length}\r\n\r\n`);
    await waitFor('the 503', () => client.response()?.complete);
    // The rest of the body, which holds something that looks like a request.
    await client.writeBody(filler);
    await client.write(SMUGGLED);
    await waitFor('the balancer to end the connection', () => client.ended);
    const res = client.response()!;
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body.toString())).toEqual({ error: 'early', target: '/raw/early-503' });
    expect(res.headers['connection']).toBe('close');
    expect(res.rest.length).toBe(0);
    client.socket.end();
    await client.closedPromise;
    await expectNotSmuggled();
  });

  it('a server that answers 413 and closes while the client still sends: the 413 arrives whole', async () => {
    const client = new RawClient(port, { halfOpen: true });
    await client.write('POST /raw/early-close HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n');
    const piece = Buffer.alloc(32 * 1024, 0x62);
    for (let sent = 0; sent < 3_000_000 && client.response()?.complete !== true;) {
      if (!(await client.write(piece))) break;
      sent += piece.length;
    }
    await waitFor('the whole 413', () => client.response()?.complete);
    expect(client.response()!.status).toBe(413);
    expect(client.response()!.headers['connection']).toBe('close');
    client.socket.end();
    await client.closedPromise;
  });
});

describe('bytes after the balancer answered on its own', () => {
  it('a body that stalls until the 408 and then goes on: no crash, nothing parsed', async () => {
    const client = new RawClient(port, { halfOpen: true });
    await client.write(`POST /fastify/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${100 + SMUGGLED.length}\r\n\r\n0123456789`);
    await waitFor('the 408', () => client.response()?.status === 408 && client.response()?.complete);
    await client.write(`${'x'.repeat(90)}${SMUGGLED}`);
    await client.write(SMUGGLED);
    client.socket.end();
    await client.closedPromise;
    expect(client.response()!.rest.length).toBe(0);
    await expectNotSmuggled();
  });

  it('a pool whose only server refuses connections, and a body that follows the head', async () => {
    const client = new RawClient(port, { halfOpen: true });
    await client.write('POST /dead/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n');
    await waitFor('the 502', () => client.response()?.complete);
    expect(client.response()!.status).toBe(502);
    await client.writeBody(5000);
    await client.write(SMUGGLED);
    client.socket.end();
    await client.closedPromise;
    await expectNotSmuggled();
  });

  it('a server that answers after the 504: the answer goes nowhere', async () => {
    const client = new RawClient(port, { halfOpen: true });
    await client.write('GET /raw/late HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor('the 504', () => client.response()?.complete);
    expect(client.response()!.status).toBe(504);
    const before = lateAnswers;
    await waitFor('the late answer to be written', () => lateAnswers > before);
    client.socket.end();
    await client.closedPromise;
    expect(client.response()!.rest.length).toBe(0);
  });

  it('a request sent on a half-closed socket after a 400 never reaches a server', async () => {
    const client = new RawClient(port, { halfOpen: true });
    await client.write('GET /raw/ok HTTP/1.1\r\nHost: x\r\nX-Bad : 1\r\n\r\n');
    await waitFor('the 400', () => client.response()?.complete);
    expect(client.response()!.status).toBe(400);
    await waitFor('the balancer to end its side', () => client.ended);
    await client.write(SMUGGLED);
    client.socket.end();
    await client.closedPromise;
    expect(client.response()!.rest.length).toBe(0);
    await expectNotSmuggled();
  });
});
