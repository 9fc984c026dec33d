import { describe, expect, it } from 'vitest';
import { DROP_EXTRACTED, DROP_HOP_BY_HOP } from './head-fields.js';
import { resolveHeadLimits } from './head-limits.js';
import { INCOMPLETE } from './head-result.js';
import { parseResponseHead } from './response-head.js';
import type { ResponseHead } from './response-head.js';

function head(...lines: string[]): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

function parse(buf: Buffer, method = 'GET'): ResponseHead {
  const result = parseResponseHead(buf, 0, buf.length, method);
  if (result.kind !== 'response') throw new Error(`expected a response, got ${JSON.stringify(result)}`);
  return result;
}

describe('parseResponseHead: valid responses', () => {
  const cases: Array<[string, Buffer, string, Partial<ResponseHead>]> = [
    ['200 with Content-Length', head('HTTP/1.1 200 OK', 'Content-Length: 5'), 'GET',
      { versionMinor: 1, status: 200, bodyKind: 'length', contentLength: 5, keepAlive: true, upgrade: false,
        load: undefined }],
    ['no reason phrase, no space', head('HTTP/1.1 200', 'Content-Length: 0'), 'GET', { status: 200, bodyKind: 'none' }],
    ['empty reason phrase', head('HTTP/1.1 404 ', 'Content-Length: 1'), 'GET', { status: 404, bodyKind: 'length' }],
    ['reason with obs-text and tabs', head('HTTP/1.1 200 Tr\xe8s\tbien', 'Content-Length: 1'), 'GET', { status: 200 }],
    ['status 999', head('HTTP/1.1 999 Custom', 'Content-Length: 1'), 'GET', { status: 999 }],
    ['close-delimited', head('HTTP/1.1 200 OK'), 'GET', { bodyKind: 'close', keepAlive: false }],
    ['chunked', head('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked'), 'GET', { bodyKind: 'chunked', keepAlive: true }],
    ['gzip then chunked', head('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip, Chunked'), 'GET', { bodyKind: 'chunked' }],
    ['chunked not last reads until close', head('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked, gzip'), 'GET',
      { bodyKind: 'close', keepAlive: false }],
    ['only gzip reads until close', head('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip'), 'GET', { bodyKind: 'close' }],
    ['chunked in a later field', head('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'), 'GET',
      { bodyKind: 'chunked' }],
    ['HEAD response has no body', head('HTTP/1.1 200 OK', 'Content-Length: 100'), 'HEAD',
      { bodyKind: 'none', contentLength: 0, keepAlive: true }],
    ['HEAD response without length', head('HTTP/1.1 200 OK'), 'HEAD', { bodyKind: 'none', keepAlive: true }],
    ['204', head('HTTP/1.1 204 No Content'), 'GET', { bodyKind: 'none', keepAlive: true }],
    ['304 with Content-Length', head('HTTP/1.1 304 Not Modified', 'Content-Length: 42'), 'GET', { bodyKind: 'none' }],
    ['100 Continue', head('HTTP/1.1 100 Continue'), 'PUT', { bodyKind: 'none', status: 100 }],
    ['103 Early Hints', head('HTTP/1.1 103 Early Hints', 'Link: </a.css>; rel=preload'), 'GET', { bodyKind: 'none' }],
    ['101 Switching Protocols', head('HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', 'Upgrade: websocket'),
      'GET', { upgrade: true, bodyKind: 'none' }],
    ['Connection: close', head('HTTP/1.1 200 OK', 'Content-Length: 1', 'Connection: close'), 'GET', { keepAlive: false }],
    ['HTTP/1.0 closes by default', head('HTTP/1.0 200 OK', 'Content-Length: 1'), 'GET', { versionMinor: 0, keepAlive: false }],
    ['HTTP/1.0 keep-alive', head('HTTP/1.0 200 OK', 'Content-Length: 1', 'Connection: keep-alive'), 'GET',
      { keepAlive: true }],
    ['HTTP/1.0 keep-alive without length still closes', head('HTTP/1.0 200 OK', 'Connection: keep-alive'), 'GET',
      { keepAlive: false, bodyKind: 'close' }],
    ['scaleout-load', head('HTTP/1.1 200 OK', 'Content-Length: 0', 'scaleout-load: 0.42'), 'GET', { load: 0.42 }],
    ['scaleout-load integer with OWS', head('HTTP/1.1 200 OK', 'Content-Length: 0', 'Scaleout-Load:  3 '), 'GET', { load: 3 }],
    ['scaleout-load last valid wins', head('HTTP/1.1 200 OK', 'scaleout-load: 0.1', 'scaleout-load: 0.25',
      'scaleout-load: x'), 'GET', { load: 0.25 }],
  ];
  it.each(cases)('%s', (_name, buf, method, expected) => {
    const result = parse(buf, method);
    expect(result).toMatchObject(expected);
    expect(result.headEnd).toBe(buf.length);
  });

  it.each(['-1', '1e3', '.5', '5.', '1.2.3', '', '0x1', '12345678901234567'])('ignores scaleout-load %j', (value) => {
    const result = parse(head('HTTP/1.1 200 OK', 'Content-Length: 0', `scaleout-load: ${value}`));
    expect(result.load).toBeUndefined();
    expect(result.drop).toEqual([0, DROP_EXTRACTED]);
  });

  it('marks hop-by-hop, named and scaleout-load fields as dropped and keeps Transfer-Encoding', () => {
    const buf = head('HTTP/1.1 200 OK', 'X-Secret: s', 'Connection: keep-alive, X-Secret', 'Keep-Alive: timeout=5',
      'Transfer-Encoding: chunked', 'Trailer: x-sum', 'scaleout-load: 0.5', 'Proxy-Connection: x', 'Upgrade: h2c',
      'TE: trailers', 'Content-Type: text/plain');
    const result = parse(buf);
    expect(result.drop).toEqual([DROP_HOP_BY_HOP, DROP_HOP_BY_HOP, DROP_HOP_BY_HOP, 0, DROP_HOP_BY_HOP, DROP_EXTRACTED,
      DROP_HOP_BY_HOP, DROP_HOP_BY_HOP, DROP_HOP_BY_HOP, 0]);
    expect(buf.toString('latin1', 0, result.statusLineEnd)).toBe('HTTP/1.1 200 OK');
  });

  it('parses at an offset and leaves the body alone', () => {
    const prefix = Buffer.from('previous body');
    const one = head('HTTP/1.1 200 OK', 'Content-Length: 2');
    const buf = Buffer.concat([prefix, one, Buffer.from('hiHTTP/1.1')]);
    const result = parseResponseHead(buf, prefix.length, buf.length, 'GET');
    expect(result).toMatchObject({ kind: 'response', headEnd: prefix.length + one.length, contentLength: 2 });
  });
});

const rejections: Array<[string, Buffer, string]> = [
  ['Content-Length and Transfer-Encoding', head('HTTP/1.1 200 OK', 'Content-Length: 5', 'Transfer-Encoding: chunked'),
    'Content-Length with Transfer-Encoding'],
  ['duplicate Content-Length, same value', head('HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 5'),
    'duplicate Content-Length'],
  ['duplicate Content-Length, other value', head('HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 6'),
    'duplicate Content-Length'],
  ['Content-Length list', head('HTTP/1.1 200 OK', 'Content-Length: 5, 5'), 'invalid Content-Length'],
  ['Content-Length negative', head('HTTP/1.1 200 OK', 'Content-Length: -5'), 'invalid Content-Length'],
  ['chunked twice', head('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked, chunked'), 'chunked applied twice'],
  ['Transfer-Encoding with parameters', head('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked;x=1'),
    'invalid Transfer-Encoding'],
  ['Transfer-Encoding in HTTP/1.0', head('HTTP/1.0 200 OK', 'Transfer-Encoding: chunked'), 'Transfer-Encoding in HTTP/1.0'],
  ['HTTP/2.0', head('HTTP/2.0 200 OK', 'Content-Length: 0'), 'unsupported HTTP version'],
  ['lowercase version', head('http/1.1 200 OK'), 'invalid HTTP version'],
  ['two-digit status', head('HTTP/1.1 20 OK'), 'invalid status line'],
  ['four-digit status', head('HTTP/1.1 2000 OK'), 'invalid status line'],
  ['status below 100', head('HTTP/1.1 099 Odd'), 'invalid status line'],
  ['non-digit status', head('HTTP/1.1 2x0 OK'), 'invalid status line'],
  ['two spaces before status', head('HTTP/1.1  200 OK'), 'invalid status line'],
  ['CTL in reason', head('HTTP/1.1 200 O\x01K'), 'invalid byte in reason phrase'],
  ['empty line before the status line', Buffer.from('\r\nHTTP/1.1 200 OK\r\n\r\n'), 'invalid HTTP version'],
  ['bare LF', Buffer.from('HTTP/1.1 200 OK\nContent-Length: 0\n\n'), 'bare LF in head'],
  ['bare LF after status', Buffer.from('HTTP/1.1 200\nContent-Length: 0\r\n\r\n'), 'bare LF in head'],
  ['bare CR', Buffer.from('HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n'), 'bare CR in head'],
  ['obs-fold', head('HTTP/1.1 200 OK', 'X: a', ' b'), 'obsolete line folding'],
  ['whitespace before colon', head('HTTP/1.1 200 OK', 'Content-Length : 0'), 'whitespace before colon in header'],
  ['NUL in value', head('HTTP/1.1 200 OK', 'X: \x00'), 'invalid byte in header value'],
  ['invalid Connection', head('HTTP/1.1 200 OK', 'Connection: a b'), 'invalid Connection'],
];

describe('parseResponseHead: rejections', () => {
  it.each(rejections)('%s -> 502', (_name, buf, reason) => {
    expect(parseResponseHead(buf, 0, buf.length, 'GET')).toEqual({ kind: 'error', status: 502, reason });
  });

  it.each(rejections)('%s: every prefix is incomplete or the same error', (_name, buf, reason) => {
    for (let end = 0; end <= buf.length; end++) {
      const result = parseResponseHead(buf, 0, end, 'GET');
      if (result !== INCOMPLETE) expect(result).toEqual({ kind: 'error', status: 502, reason });
    }
  });

  it('answers 502 for a head beyond the limits', () => {
    const limits = resolveHeadLimits({ maxHeadBytes: 64, maxHeaderCount: 2 });
    const big = head('HTTP/1.1 200 OK', `X: ${'v'.repeat(60)}`);
    expect(parseResponseHead(big, 0, big.length, 'GET', limits)).toEqual(
      { kind: 'error', status: 502, reason: 'head too large' });
    const many = head('HTTP/1.1 200 OK', 'A: 1', 'B: 2', 'C: 3');
    expect(parseResponseHead(many, 0, many.length, 'GET', limits)).toEqual(
      { kind: 'error', status: 502, reason: 'too many header fields' });
  });
});

describe('parseResponseHead: incremental input', () => {
  it.each([
    head('HTTP/1.1 200 OK', 'Content-Length: 5', 'scaleout-load: 0.3'),
    head('HTTP/1.1 204'),
    head('HTTP/1.0 101 Switching', 'Upgrade: x'),
  ].map((b) => [b.toString('latin1', 0, 16), b] as const))('is incomplete until the last byte: %j', (_n, buf) => {
    for (let end = 0; end < buf.length; end++) {
      expect(parseResponseHead(buf, 0, end, 'GET')).toBe(INCOMPLETE);
    }
    expect(parseResponseHead(buf, 0, buf.length, 'GET').kind).toBe('response');
  });
});
