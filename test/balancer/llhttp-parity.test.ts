/**
 * The balancer's parsers must be at least as strict as llhttp, the parser of node:http:
 * every malformed head Node refuses must be refused here too. Node is driven for real,
 * a server and a client on loopback sockets fed raw bytes.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkedScanner, CHUNKED_ERROR } from '../../src/balancer/http/chunked-scanner.js';
import { parseRequestHead } from '../../src/balancer/http/request-head.js';
import { parseResponseHead } from '../../src/balancer/http/response-head.js';

const H = 'Host: a\r\n';
const requests: Array<[string, string]> = [
  ['bare LF endings', 'GET / HTTP/1.1\nHost: a\n\n'],
  ['bare LF in a field', 'GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n'],
  ['bare CR in a field', 'GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n'],
  ['bare LF after the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n'],
  ['bare LF before the request line', '\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['double space', `GET  / HTTP/1.1\r\n${H}\r\n`],
  ['tab separator', `GET\t/ HTTP/1.1\r\n${H}\r\n`],
  ['lowercase version', `GET / http/1.1\r\n${H}\r\n`],
  ['HTTP/1.2', `GET / HTTP/1.2\r\n${H}\r\n`],
  ['HTTP/2.0', `GET / HTTP/2.0\r\n${H}\r\n`],
  ['no version', `GET /\r\n${H}\r\n`],
  ['version with trailing space', `GET / HTTP/1.1 \r\n${H}\r\n`],
  ['space in target', `GET /a b HTTP/1.1\r\n${H}\r\n`],
  ['obs-text in target', `GET /\xff HTTP/1.1\r\n${H}\r\n`],
  ['CTL in target', `GET /\x01 HTTP/1.1\r\n${H}\r\n`],
  ['DEL in target', `GET /\x7f HTTP/1.1\r\n${H}\r\n`],
  ['non-token method', `G(T / HTTP/1.1\r\n${H}\r\n`],
  ['empty method', ` / HTTP/1.1\r\n${H}\r\n`],
  ['relative target', `GET foo HTTP/1.1\r\n${H}\r\n`],
  ['asterisk with GET', `GET * HTTP/1.1\r\n${H}\r\n`],
  ['userinfo in absolute-form', `GET http://u@a/ HTTP/1.1\r\n${H}\r\n`],
  ['whitespace before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
  ['empty field name', `GET / HTTP/1.1\r\n${H}: a\r\n\r\n`],
  ['non-token field name', `GET / HTTP/1.1\r\n${H}X(y: a\r\n\r\n`],
  ['obs-text in field name', `GET / HTTP/1.1\r\n${H}X\xff: a\r\n\r\n`],
  ['line without colon', `GET / HTTP/1.1\r\n${H}Foo\r\n\r\n`],
  ['obs-fold', `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`],
  ['whitespace before the first field', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n'],
  ['NUL in value', `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`],
  ['CTL in value', `GET / HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n`],
  ['DEL in value', `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`],
  ['Content-Length with a letter', `POST / HTTP/1.1\r\n${H}Content-Length: 1a\r\n\r\n`],
  ['Content-Length negative', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`],
  ['Content-Length with sign', `POST / HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\n`],
  ['Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 1, 1\r\n\r\nx`],
  ['Content-Length inner space', `POST / HTTP/1.1\r\n${H}Content-Length: 1 2\r\n\r\n`],
  ['Content-Length empty', `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`],
  ['Content-Length twice', `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx`],
  ['Content-Length overflow', `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`],
  ['Content-Length and Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding gzip', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`],
  ['chunked not last', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`],
  ['chunked twice', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`],
  ['chunked in two fields', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding with a vertical tab', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['missing Host', 'GET / HTTP/1.1\r\n\r\n'],
  ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
  ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@a\r\n\r\n'],
  ['head over 16 KiB', `GET / HTTP/1.1\r\n${H}X: ${'a'.repeat(20_000)}\r\n\r\n`],
];

const responses: Array<[string, string]> = [
  ['bare LF endings', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
  ['bare CR', 'HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n'],
  ['two-digit status', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
  ['four-digit status', 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'],
  ['lowercase version', 'http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
  ['CTL in reason', 'HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n'],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n'],
  ['whitespace before colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'],
  ['NUL in value', 'HTTP/1.1 200 OK\r\nX: a\x00\r\nContent-Length: 0\r\n\r\n'],
  ['Content-Length twice, other value', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
  ['Content-Length with a letter', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'],
  ['Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n'],
  ['HTTP/2.0', 'HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
];

const chunkedBodies: Array<[string, string]> = [
  ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
  ['space after size', '5 \r\nhello\r\n0\r\n\r\n'],
  ['space before an extension', '5 ;a\r\nhello\r\n0\r\n\r\n'],
  ['bare LF after size', '5\nhello\r\n0\r\n\r\n'],
  ['bare CR after size', '5\rhello\r\n0\r\n\r\n'],
  ['negative size', '-1\r\nhello\r\n0\r\n\r\n'],
  ['size overflow', 'fffffffffffffffff\r\nabc\r\n0\r\n\r\n'],
  ['data longer than the size', '3\r\nabcd\r\n0\r\n\r\n'],
  ['bare LF after data', '3\r\nabc\n0\r\n\r\n'],
  ['no CRLF after data', '3\r\nabc0\r\n\r\n'],
  ['empty extension', '3;\r\nabc\r\n0\r\n\r\n'],
  ['whitespace ending an extension', '3;a \r\nabc\r\n0\r\n\r\n'],
  ['non-token extension value', '3;a=b/c\r\nabc\r\n0\r\n\r\n'],
  ['CR in a quoted extension', '3;a="b\rc"\r\nabc\r\n0\r\n\r\n'],
  ['obs-fold in trailers', '0\r\nX: a\r\n b\r\n\r\n'],
  ['bare LF in trailers', '0\r\nX: a\n\r\n'],
  ['trailer without colon', '0\r\nXa\r\n\r\n'],
  ['whitespace before a trailer colon', '0\r\nX : a\r\n\r\n'],
  ['CTL in a trailer', '0\r\nX: a\x01\r\n\r\n'],
  ['bare CR ending the body', '0\r\n\rx'],
];

/** Status line start Node answered with, or 'closed' when it hung up without answering. */
function askServer(port: number, raw: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (status !== null) {
        resolve(status[1]!);
        socket.destroy();
      }
    });
    socket.on('close', () => resolve('closed'));
    socket.on('error', () => resolve('closed'));
    socket.write(Buffer.from(raw, 'latin1'));
  });
}

/** Whether Node's client accepted `raw` as a response head. */
function askClient(raw: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.once('data', () => socket.end(Buffer.from(raw, 'latin1')));
      socket.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      const request = http.get({ port, host: '127.0.0.1', path: '/', agent: false }, (response) => {
        response.resume();
        response.on('error', () => undefined);
        server.close();
        resolve(true);
      });
      request.on('error', (err: NodeJS.ErrnoException) => {
        server.close();
        if (err.code?.startsWith('HPE_') === true) resolve(false);
        else reject(err);
      });
    });
  });
}

describe('at least as strict as llhttp', () => {
  let server: http.Server;
  let port = 0;

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses every request head that node:http refuses', async () => {
    const nodeRefused: string[] = [];
    const alsoRefusedHere: string[] = [];
    for (const [name, raw] of requests) {
      const answer = await askServer(port, raw);
      if (answer === '200') continue;
      nodeRefused.push(name);
      const buf = Buffer.from(raw, 'latin1');
      if (parseRequestHead(buf, 0, buf.length).kind === 'error') alsoRefusedHere.push(name);
    }
    // Guards the corpus itself: most of it must be garbage to Node too.
    expect(nodeRefused.length).toBeGreaterThan(30);
    expect(alsoRefusedHere).toEqual(nodeRefused);
  });

  it('refuses every request head of the corpus, including those node:http lets through', () => {
    const accepted = requests.filter(([, raw]) => {
      const buf = Buffer.from(raw, 'latin1');
      return parseRequestHead(buf, 0, buf.length).kind !== 'error';
    });
    expect(accepted.map(([name]) => name)).toEqual([]);
  });

  it('refuses every response head that node:http refuses', async () => {
    const nodeRefused: string[] = [];
    const alsoRefusedHere: string[] = [];
    for (const [name, raw] of responses) {
      if (await askClient(raw)) continue;
      nodeRefused.push(name);
      const buf = Buffer.from(raw, 'latin1');
      if (parseResponseHead(buf, 0, buf.length, 'GET').kind === 'error') alsoRefusedHere.push(name);
    }
    expect(nodeRefused.length).toBeGreaterThan(8);
    expect(alsoRefusedHere).toEqual(nodeRefused);
  });

  it('refuses every chunked body that node:http refuses', async () => {
    const bodyServer = http.createServer((req, res) => {
      req.on('error', () => undefined);
      req.on('end', () => res.end('ok'));
      req.resume();
    });
    await new Promise<void>((resolve) => bodyServer.listen(0, '127.0.0.1', resolve));
    const bodyPort = (bodyServer.address() as AddressInfo).port;
    const nodeRefused: string[] = [];
    const alsoRefusedHere: string[] = [];
    try {
      for (const [name, body] of chunkedBodies) {
        const raw = `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}`;
        if (await askServer(bodyPort, raw) === '200') continue;
        nodeRefused.push(name);
        const buf = Buffer.from(body, 'latin1');
        if (new ChunkedScanner().scan(buf, 0, buf.length) === CHUNKED_ERROR) alsoRefusedHere.push(name);
      }
    } finally {
      bodyServer.closeAllConnections();
      await new Promise((resolve) => bodyServer.close(resolve));
    }
    expect(nodeRefused.length).toBeGreaterThan(15);
    expect(alsoRefusedHere).toEqual(nodeRefused);
  });
});
