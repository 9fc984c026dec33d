import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { Agent, request } from 'undici';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';

/*
 * Servers that send their responses a few bytes at a time, while another server sends
 * large bodies at the same moment. The balancer reads every server into one shared
 * buffer: a response head split over several reads must survive the reads of other
 * connections that land in between.
 */

/** Bytes of each piece a trickling server writes, and the pause between pieces. */
const PIECE_BYTES = 5;
const PIECE_GAP_MS = 2;

const CHUNKED_PARTS = ['first part, ', 'second part, ', 'and the last one'];

/** The exact bytes a trickling server answers to `path`: an interim 103 (plain paths), then the response. */
function trickleResponse(path: string): string {
  if (path.startsWith('/chunked')) {
    const body = CHUNKED_PARTS.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n';
    return `HTTP/1.1 200 OK\r\nX-Path: ${path}\r\nTransfer-Encoding: chunked\r\nScaleout-Load: 0.25\r\n\r\n${body}`;
  }
  const body = `body of ${path} `.repeat(20);
  return `HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nX-Path: ${path}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/** A keep-alive server that answers each request head by trickling its response. */
async function startTrickleServer(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let pending = '';
    let writing = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const path = pending.slice(0, end).split(' ')[1] ?? '/';
        pending = pending.slice(end + 4);
        const response = trickleResponse(path);
        writing = writing.then(async () => {
          for (let at = 0; at < response.length && !socket.destroyed; at += PIECE_BYTES) {
            socket.write(response.slice(at, at + PIECE_BYTES), 'latin1');
            await new Promise((r) => setTimeout(r, PIECE_GAP_MS));
          }
        });
      }
    });
    socket.on('error', () => { /* the balancer closed it */ });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** A server that answers with a large body of bytes that depend on the path. */
async function startBulkServer(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const path = pending.slice(0, end).split(' ')[1] ?? '/';
        pending = pending.slice(end + 4);
        const body = bulkBody(path);
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
        socket.write(body);
      }
    });
    socket.on('error', () => { /* the balancer closed it */ });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function bulkBody(path: string): Buffer {
  const block = createHash('sha256').update(path).digest();
  return Buffer.concat(Array.from({ length: 8 * 1024 }, () => block)); // 256 KiB
}

function addressOf(server: net.Server): string {
  const { port } = server.address() as net.AddressInfo;
  return `127.0.0.1:${port}`;
}

let trickle: net.Server;
let bulk: net.Server;
let balancer: Balancer;
let base: string;
const agent = new Agent({ connections: 16 });

beforeAll(async () => {
  trickle = await startTrickleServer();
  bulk = await startBulkServer();
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: {
      trickle: { servers: [{ id: 'trickle', address: addressOf(trickle) }] },
      bulk: { servers: [{ id: 'bulk', address: addressOf(bulk) }] },
    },
    routes: [{ pool: 'trickle' }, { pathPrefix: '/bulk', pool: 'bulk' }],
  });
  base = `http://${balancer.addresses[0]}`;
});

afterAll(async () => {
  await agent.close();
  await balancer.close();
  trickle.close();
  bulk.close();
});

describe('responses that arrive in pieces', () => {
  it('reassembles split heads, interim responses and chunked bodies while other servers stream', async () => {
    const bulkRuns = Array.from({ length: 12 }, async (_, i) => {
      const res = await request(`${base}/bulk/${i}`, { dispatcher: agent });
      const body = Buffer.from(await res.body.arrayBuffer());
      return body.equals(bulkBody(`/bulk/${i}`));
    });
    const trickleRuns = Array.from({ length: 6 }, async (_, i) => {
      const path = i % 2 === 0 ? `/chunked/${i}` : `/plain/${i}`;
      const res = await request(`${base}${path}`, { dispatcher: agent });
      return { path, status: res.statusCode, headers: res.headers, body: await res.body.text() };
    });
    const [bulkOk, trickled] = await Promise.all([Promise.all(bulkRuns), Promise.all(trickleRuns)]);

    expect(bulkOk.every(Boolean)).toBe(true);
    for (const r of trickled) {
      expect(r.status).toBe(200);
      expect(r.headers['x-path']).toBe(r.path);
      expect(r.headers['scaleout-load']).toBeUndefined();
      expect(r.body).toBe(r.path.startsWith('/chunked') ? CHUNKED_PARTS.join('') : `body of ${r.path} `.repeat(20));
    }
  });
});
