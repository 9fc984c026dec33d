import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { request } from 'undici';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { startBackends } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { rawExchange, statusOf } from '../support/raw-http.js';

let backends: Backend[];
let balancer: Balancer;
let port: number;

beforeAll(async () => {
  backends = await startBackends(['a', 'b']);
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: { web: { servers: backends.map((b) => ({ id: b.id, address: b.address })), affinity: { type: 'cookie' } } },
    timeouts: { headMs: 300, clientBodyMs: 300 },
    limits: { maxHeadBytes: 8192 },
  });
  port = Number(balancer.addresses[0]!.split(':')[1]);
});
afterAll(async () => {
  await balancer.close();
  await Promise.all(backends.map((b) => b.kill()));
});

const H = 'Host: x\r\n';

const cases: Array<[name: string, raw: string | Buffer, status: number]> = [
  ['oversized headers', `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(10_000)}\r\n\r\n`, 431],
  ['too many headers', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 150 }, (_, i) => `X-${i}: 1\r\n`).join('')}\r\n`, 431],
  ['Content-Length with Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['duplicate Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, 400],
  ['negative Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400],
  ['Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, 400],
  ['obsolete line folding', `GET / HTTP/1.1\r\n${H}X-A: 1\r\n  folded\r\n\r\n`, 400],
  ['bare LF line endings', `GET / HTTP/1.1\n${H}\n`, 400],
  ['bare CR in a header', `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 400],
  ['space before colon', `GET / HTTP/1.1\r\n${H}X-A : 1\r\n\r\n`, 400],
  ['invalid header name', `GET / HTTP/1.1\r\n${H}X(A): 1\r\n\r\n`, 400],
  ['NUL in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, 400],
  ['missing Host in HTTP/1.1', 'GET / HTTP/1.1\r\nX-A: 1\r\n\r\n', 400],
  ['two Host fields', `GET / HTTP/1.1\r\n${H}${H}\r\n`, 400],
  ['space in the target', `GET /a b HTTP/1.1\r\n${H}\r\n`, 400],
  ['garbage request line', `\u0001\u0002\u0003 nonsense\r\n${H}\r\n`, 400],
  ['HTTP/2.0 in HTTP/1 framing', `GET / HTTP/2.0\r\n${H}\r\n`, 505],
  ['unknown transfer coding', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501],
  ['transfer coding without chunked (RFC 9112 6.3: 400)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 400],
  ['chunked not last', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`, 400],
  ['bad chunk size', `POST /upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, 400],
  ['chunk without CRLF after data', `POST /upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n`, 400],
  ['incomplete head (slow client)', `GET / HTTP/1.1\r\n${H}X-A: 1\r\n`, 408],
  ['incomplete body (slow upload)', `POST /upload HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\nonly-part`, 408],
];

describe('bad input', () => {
  for (const [name, raw, status] of cases) {
    it(`${name} → ${status}`, async () => {
      const response = await rawExchange(port, raw, 3000);
      expect(statusOf(response)).toBe(status);
      expect(response).toMatch(/connection: close/i);
      expect(response).toContain('"code":"SCALEOUT_BALANCER_');
    });
  }

  it('survives random garbage, half-closed sockets and resets, and keeps serving', async () => {
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < 200; i++) {
      const data = i % 3 === 0 ? randomBytes(1 + (i * 37) % 4000)
        : Buffer.from(`GET /${randomBytes(8).toString('hex')} HTTP/1.1\r\nHost: x\r\n${randomBytes(i % 64).toString('latin1')}\r\n\r\n`, 'latin1');
      sends.push(rawExchange(port, data, 1000).catch(() => ''));
    }
    for (let i = 0; i < 20; i++) {
      sends.push(new Promise<void>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial`);
          if (i % 2 === 0) socket.resetAndDestroy();
          else socket.end();
        });
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
      }));
    }
    await Promise.all(sends);
    const res = await request(`http://${balancer.addresses[0]}/`);
    expect(res.statusCode).toBe(200);
    await res.body.text();
    for (const server of balancer.pool('web').servers()) expect(server.inFlight).toBe(0);
  });

  it('serves pipelined requests in order on one connection', async () => {
    const response = await rawExchange(port, `GET /one HTTP/1.1\r\n${H}\r\nGET /two HTTP/1.1\r\n${H}\r\nGET /three HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 3000);
    const paths = [...response.matchAll(/"path":"(\/\w+)"/g)].map((m) => m[1]);
    expect(paths).toEqual(['/one', '/two', '/three']);
  });

  it('skips empty lines before a request line and does not forward them', async () => {
    // A raw server records the bytes it gets: an HTTP server would hide leading CRLFs.
    let received = '';
    const recorder = net.createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (received.includes('\r\n\r\n')) socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      });
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    const recorderPort = (recorder.address() as net.AddressInfo).port;
    const direct = await startBalancer({ listen: '127.0.0.1:0', pools: { web: { servers: [{ id: 'rec', address: `127.0.0.1:${recorderPort}` }] } } });
    try {
      const response = await rawExchange(Number(direct.addresses[0]!.split(':')[1]), `\r\n\r\nGET /x HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 3000);
      expect(statusOf(response)).toBe(200);
      expect(received.startsWith('GET /x HTTP/1.1\r\n')).toBe(true);
    } finally {
      await direct.close();
      recorder.close();
    }
  });

  it('handles Expect: 100-continue', async () => {
    const response = await rawExchange(port, `POST /upload HTTP/1.1\r\n${H}Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello`, 3000);
    expect(response).toContain('"bytes":5');
  });
});
