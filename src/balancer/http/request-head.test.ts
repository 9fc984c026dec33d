import { describe, expect, it } from 'vitest';
import { BalancerConfigError } from '../errors.js';
import { DROP_EXTRACTED, DROP_HOP_BY_HOP, headerValue } from './head-fields.js';
import { resolveHeadLimits } from './head-limits.js';
import { INCOMPLETE } from './head-result.js';
import type { HeadError } from './head-result.js';
import { parseRequestHead } from './request-head.js';
import type { RequestHead } from './request-head.js';

/** A request head from lines; each gets CRLF and an empty line ends it. */
function head(...lines: string[]): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

function parse(buf: Buffer): RequestHead {
  const result = parseRequestHead(buf, 0, buf.length);
  if (result.kind !== 'request') throw new Error(`expected a request, got ${JSON.stringify(result)}`);
  return result;
}

function reject(buf: Buffer): HeadError {
  const result = parseRequestHead(buf, 0, buf.length);
  if (result.kind !== 'error') throw new Error(`expected an error, got ${result.kind}`);
  return result;
}

describe('parseRequestHead: valid requests', () => {
  const cases: Array<[string, Buffer, Partial<RequestHead>]> = [
    ['HTTP/1.1 GET', head('GET /a?b=1 HTTP/1.1', 'Host: example.com'),
      { method: 'GET', target: '/a?b=1', targetForm: 'origin', versionMinor: 1, host: 'example.com',
        bodyKind: 'none', contentLength: 0, keepAlive: true, upgrade: undefined, expectContinue: false,
        xForwardedFor: undefined, xRequestId: undefined, cookie: undefined }],
    ['1.1 Connection: close', head('GET / HTTP/1.1', 'Host: a', 'Connection: close'), { keepAlive: false }],
    ['1.1 close wins over keep-alive', head('GET / HTTP/1.1', 'Host: a', 'Connection: Keep-Alive, CLOSE'),
      { keepAlive: false }],
    ['1.0 closes by default, Host optional', head('GET / HTTP/1.0'), { versionMinor: 0, keepAlive: false, host: undefined }],
    ['1.0 keep-alive', head('GET / HTTP/1.0', 'Host: a', 'Connection: keep-alive'), { keepAlive: true, host: 'a' }],
    ['WebSocket upgrade', head('GET /ws HTTP/1.1', 'Host: a', 'Connection: Upgrade', 'Upgrade: websocket'),
      { upgrade: 'websocket', keepAlive: true }],
    ['Upgrade without Connection: upgrade', head('GET / HTTP/1.1', 'Host: a', 'Upgrade: websocket'),
      { upgrade: undefined }],
    ['Upgrade in HTTP/1.0 is ignored', head('GET / HTTP/1.0', 'Connection: upgrade', 'Upgrade: websocket'),
      { upgrade: undefined }],
    ['Expect: 100-continue', head('PUT /f HTTP/1.1', 'Host: a', 'Expect: 100-Continue', 'Content-Length: 5'),
      { expectContinue: true, bodyKind: 'length', contentLength: 5 }],
    ['Expect ignored in HTTP/1.0', head('PUT /f HTTP/1.0', 'Expect: 100-continue', 'Content-Length: 5'),
      { expectContinue: false }],
    ['other expectations are not 100-continue', head('GET / HTTP/1.1', 'Host: a', 'Expect: 100-continue-x'),
      { expectContinue: false }],
    ['cookies joined', head('GET / HTTP/1.1', 'Host: a', 'Cookie: a=1', 'cookie:b=2 ', 'COOKIE:  c=3'),
      { cookie: 'a=1; b=2; c=3' }],
    ['x-forwarded-for joined', head('GET / HTTP/1.1', 'Host: a', 'X-Forwarded-For: 1.1.1.1', 'x-forwarded-for: 2.2.2.2, 3.3.3.3'),
      { xForwardedFor: '1.1.1.1, 2.2.2.2, 3.3.3.3' }],
    ['x-request-id', head('GET / HTTP/1.1', 'Host: a', 'X-Request-Id: abc-123'), { xRequestId: 'abc-123' }],
    ['Content-Length', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 123456789012345'),
      { bodyKind: 'length', contentLength: 123456789012345 }],
    ['Content-Length 0 has no body', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0'),
      { bodyKind: 'none', contentLength: 0 }],
    ['Content-Length with leading zeros', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 007'),
      { bodyKind: 'length', contentLength: 7 }],
    ['chunked', head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked'), { bodyKind: 'chunked' }],
    ['chunked any case with OWS', head('POST / HTTP/1.1', 'Host: a', 'transfer-encoding: \t CHUNKED \t'),
      { bodyKind: 'chunked' }],
    ['GET with a body', head('GET / HTTP/1.1', 'Host: a', 'Content-Length: 2'), { bodyKind: 'length', contentLength: 2 }],
    ['HEAD with chunked body', head('HEAD / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked'),
      { method: 'HEAD', bodyKind: 'chunked' }],
    ['absolute-form takes host from the target', head('GET http://Example.com:8080/p?q HTTP/1.1', 'Host: other'),
      { targetForm: 'absolute', host: 'Example.com:8080', target: 'http://Example.com:8080/p?q', originTarget: '/p?q', drop: [DROP_EXTRACTED] }],
    ['absolute-form https without path', head('GET HTTPS://a.example HTTP/1.1', 'Host: a.example'),
      { targetForm: 'absolute', host: 'a.example', originTarget: '/' }],
    ['absolute-form with a query and no path', head('GET http://a.example?x=1 HTTP/1.1', 'Host: a.example'),
      { targetForm: 'absolute', originTarget: '/?x=1' }],
    ['origin-form keeps its target and its Host', head('GET /p?q HTTP/1.1', 'Host: a'),
      { targetForm: 'origin', originTarget: '/p?q', drop: [0] }],
    ['OPTIONS *', head('OPTIONS * HTTP/1.1', 'Host: a'), { targetForm: 'asterisk', target: '*', method: 'OPTIONS' }],
    ['extension method', head('PURGE /x HTTP/1.1', 'Host: a'), { method: 'PURGE' }],
    ['methods are case-sensitive', head('get / HTTP/1.1', 'Host: a'), { method: 'get' }],
    ['common methods', head('DELETE / HTTP/1.1', 'Host: a'), { method: 'DELETE' }],
    ['visible ASCII in target', head('GET /a{b}|c^d`e"f<g>#h HTTP/1.1', 'Host: a'), { target: '/a{b}|c^d`e"f<g>#h' }],
    ['Host with port', head('GET / HTTP/1.1', 'Host: a.example:8443'), { host: 'a.example:8443' }],
    ['IPv6 Host', head('GET / HTTP/1.1', 'Host: [::1]:8080'), { host: '[::1]:8080' }],
    ['empty Host', head('GET / HTTP/1.1', 'Host:'), { host: '' }],
    ['obs-text and tabs in values', head('GET / HTTP/1.1', 'Host: a', 'X-Name: caf\xe9\tau lait'), { host: 'a' }],
    ['empty value', head('GET / HTTP/1.1', 'Host: a', 'X-Empty:'), { host: 'a' }],
    ['Connection with empty list elements', head('GET / HTTP/1.1', 'Host: a', 'Connection: , close ,'),
      { keepAlive: false }],
  ];
  it.each(cases)('%s', (_name, buf, expected) => {
    const result = parse(buf);
    expect(result).toMatchObject(expected);
    expect(result.headEnd).toBe(buf.length);
  });

  it('skips empty lines before the request line and reports where the head starts', () => {
    const buf = Buffer.concat([Buffer.from('\r\n\r\n'), head('GET / HTTP/1.1', 'Host: a')]);
    const result = parse(buf);
    expect(result.headStart).toBe(4);
    expect(result.requestLineEnd).toBe(4 + 'GET / HTTP/1.1'.length);
  });

  it('gives absolute offsets and leaves bytes after the head alone', () => {
    const prefix = Buffer.from('garbage before');
    const one = head('POST /x HTTP/1.1', 'Host: a', 'Content-Length:  3 ');
    const buf = Buffer.concat([prefix, one, Buffer.from('abcGET / HTTP/1.1\r\n')]);
    const result = parseRequestHead(buf, prefix.length, buf.length);
    if (result.kind !== 'request') throw new Error(result.kind);
    expect(result.headStart).toBe(prefix.length);
    expect(result.headEnd).toBe(prefix.length + one.length);
    expect(buf.toString('latin1', result.headEnd, result.headEnd + result.contentLength)).toBe('abc');
    const [lineStart, nameEnd, lineEnd] = result.fields.slice(3, 6) as [number, number, number];
    expect(buf.toString('latin1', lineStart, nameEnd)).toBe('Content-Length');
    expect(buf.toString('latin1', nameEnd, lineEnd)).toBe(':  3 ');
    expect(buf[lineEnd]).toBe(0x0d);
    expect(buf.toString('latin1', result.headStart, result.requestLineEnd)).toBe('POST /x HTTP/1.1');
  });
});

describe('parseRequestHead: drop flags', () => {
  it('marks hop-by-hop fields, named fields and extracted fields, and keeps Transfer-Encoding', () => {
    const buf = head('POST / HTTP/1.1', 'X-Custom: 1', 'Host: a', 'Connection: keep-alive, x-custom, Upgrade',
      'Keep-Alive: timeout=5', 'Proxy-Connection: keep-alive', 'TE: trailers', 'Trailer: x-sum',
      'Upgrade: websocket', 'Transfer-Encoding: chunked', 'X-Forwarded-For: 1.2.3.4', 'X-Forwarded-Proto: https',
      'X-Forwarded-Host: a', 'X-Request-Id: r1', 'Accept: */*', 'x-CUSTOM: 2');
    const result = parse(buf);
    const names: Record<string, number> = {};
    for (let i = 0; i < result.drop.length; i++) {
      names[buf.toString('latin1', result.fields[3 * i]!, result.fields[3 * i + 1]!)] = result.drop[i]!;
    }
    expect(names).toEqual({
      'X-Custom': DROP_HOP_BY_HOP, Host: 0, Connection: DROP_HOP_BY_HOP, 'Keep-Alive': DROP_HOP_BY_HOP,
      'Proxy-Connection': DROP_HOP_BY_HOP, TE: DROP_HOP_BY_HOP, Trailer: DROP_HOP_BY_HOP, Upgrade: DROP_HOP_BY_HOP,
      'Transfer-Encoding': 0, 'X-Forwarded-For': DROP_EXTRACTED, 'X-Forwarded-Proto': DROP_EXTRACTED,
      'X-Forwarded-Host': DROP_EXTRACTED, 'X-Request-Id': DROP_EXTRACTED, Accept: 0, 'x-CUSTOM': DROP_HOP_BY_HOP,
    });
  });

  it('never drops Host or framing fields because Connection names them', () => {
    const result = parse(head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1',
      'Connection: host, content-length, transfer-encoding, x-forwarded-for', 'X-Forwarded-For: 1.1.1.1'));
    expect(result.drop).toEqual([0, 0, DROP_HOP_BY_HOP, DROP_EXTRACTED | DROP_HOP_BY_HOP]);
    expect(result.bodyKind).toBe('length');
  });
});

describe('headerValue', () => {
  const buf = head('GET / HTTP/1.1', 'Host: a', 'Accept: text/html ', 'ACCEPT:\t*/*', 'X: ');
  const result = parse(buf);
  it('joins repeated fields, ignores name case and trims OWS', () => {
    expect(headerValue(buf, result, 'accept')).toBe('text/html, */*');
    expect(headerValue(buf, result, 'host')).toBe('a');
    expect(headerValue(buf, result, 'x')).toBe('');
  });
  it('is undefined for absent fields', () => {
    expect(headerValue(buf, result, 'cookie')).toBeUndefined();
    expect(headerValue(buf, result, 'accep')).toBeUndefined();
  });
});

const H = 'Host: a';
const rejections: Array<[string, Buffer, number, string]> = [
  ['bare LF line endings', Buffer.from('GET / HTTP/1.1\nHost: a\n\n'), 400, 'bare LF in head'],
  ['bare LF in a field', Buffer.from('GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n'), 400, 'bare LF in head'],
  ['bare LF ending the head', Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\n'), 400, 'bare LF in head'],
  ['bare LF before the request line', Buffer.from('\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'), 400, 'bare LF in head'],
  ['bare CR in a field', Buffer.from('GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n'), 400, 'bare CR in head'],
  ['bare CR after the request line', Buffer.from('GET / HTTP/1.1\rHost: a\r\n\r\n'), 400, 'bare CR in head'],
  ['bare CR ending the head', Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\rx'), 400, 'bare CR in head'],
  ['bare CR before the request line', Buffer.from('\rGET / HTTP/1.1\r\n\r\n'), 400, 'bare CR in head'],
  ['double space', head('GET  / HTTP/1.1', H), 400, 'invalid request target'],
  ['tab separator', head('GET\t/ HTTP/1.1', H), 400, 'invalid method'],
  ['empty method', head(' / HTTP/1.1', H), 400, 'invalid method'],
  ['method with a non-token byte', head('GE(T / HTTP/1.1', H), 400, 'invalid method'],
  ['space in target', head('GET /a b HTTP/1.1', H), 400, 'invalid HTTP version'],
  ['obs-text in target', head('GET /caf\xe9 HTTP/1.1', H), 400, 'invalid request target'],
  ['CTL in target', head('GET /a\x01 HTTP/1.1', H), 400, 'invalid request target'],
  ['NUL in target', head('GET /a\x00 HTTP/1.1', H), 400, 'invalid request target'],
  ['DEL in target', head('GET /a\x7f HTTP/1.1', H), 400, 'invalid request target'],
  ['relative target', head('GET a/b HTTP/1.1', H), 400, 'invalid request target'],
  ['asterisk outside OPTIONS', head('GET * HTTP/1.1', H), 400, 'invalid request target'],
  ['asterisk with more', head('OPTIONS *x HTTP/1.1', H), 400, 'invalid request target'],
  ['authority-form', head('GET a.example:443 HTTP/1.1', H), 400, 'invalid request target'],
  ['absolute-form with userinfo', head('GET http://u:p@a/ HTTP/1.1', H), 400, 'invalid request target'],
  ['absolute-form other scheme', head('GET ftp://a/ HTTP/1.1', H), 400, 'invalid request target'],
  ['absolute-form without host', head('GET http:///a HTTP/1.1', H), 400, 'invalid request target'],
  ['CONNECT', head('CONNECT a.example:443 HTTP/1.1', H), 501, 'CONNECT is not supported'],
  ['no version', Buffer.from('GET /\r\nHost: a\r\n\r\n'), 400, 'request line without HTTP version'],
  ['lowercase version', head('GET / http/1.1', H), 400, 'invalid HTTP version'],
  ['version with trailing space', head('GET / HTTP/1.1 ', H), 400, 'invalid HTTP version'],
  ['version with three digits', head('GET / HTTP/1.10', H), 400, 'invalid HTTP version'],
  ['version garbage', head('GET / HTTP/x.1', H), 400, 'invalid HTTP version'],
  ['HTTP/1.2', head('GET / HTTP/1.2', H), 505, 'unsupported HTTP version'],
  ['HTTP/2.0', head('GET / HTTP/2.0', H), 505, 'unsupported HTTP version'],
  ['HTTP/0.9', head('GET / HTTP/0.9', H), 505, 'unsupported HTTP version'],
  ['whitespace before colon', head('GET / HTTP/1.1', 'Host : a'), 400, 'whitespace before colon in header'],
  ['tab before colon', head('GET / HTTP/1.1', H, 'X\t: a'), 400, 'whitespace before colon in header'],
  ['empty field name', head('GET / HTTP/1.1', H, ': a'), 400, 'empty header name'],
  ['non-token byte in name', head('GET / HTTP/1.1', H, 'X(y: a'), 400, 'invalid byte in header name'],
  ['obs-text in name', head('GET / HTTP/1.1', H, 'X\xe9: a'), 400, 'invalid byte in header name'],
  ['line without colon', head('GET / HTTP/1.1', H, 'Foo'), 400, 'header line without colon'],
  ['obs-fold', head('GET / HTTP/1.1', H, 'X: a', ' b'), 400, 'obsolete line folding'],
  ['obs-fold with tab', head('GET / HTTP/1.1', H, 'X: a', '\tb'), 400, 'obsolete line folding'],
  ['whitespace before the first field', head('GET / HTTP/1.1', ' Host: a'), 400, 'obsolete line folding'],
  ['NUL in value', head('GET / HTTP/1.1', H, 'X: a\x00b'), 400, 'invalid byte in header value'],
  ['CTL in value', head('GET / HTTP/1.1', H, 'X: a\x0bb'), 400, 'invalid byte in header value'],
  ['DEL in value', head('GET / HTTP/1.1', H, 'X: a\x7f'), 400, 'invalid byte in header value'],
  ['Content-Length with a letter', head('POST / HTTP/1.1', H, 'Content-Length: 1a'), 400, 'invalid Content-Length'],
  ['Content-Length negative', head('POST / HTTP/1.1', H, 'Content-Length: -1'), 400, 'invalid Content-Length'],
  ['Content-Length with sign', head('POST / HTTP/1.1', H, 'Content-Length: +1'), 400, 'invalid Content-Length'],
  ['Content-Length inner space', head('POST / HTTP/1.1', H, 'Content-Length: 1 2'), 400, 'invalid Content-Length'],
  ['Content-Length list', head('POST / HTTP/1.1', H, 'Content-Length: 1,1'), 400, 'invalid Content-Length'],
  ['Content-Length empty', head('POST / HTTP/1.1', H, 'Content-Length:'), 400, 'invalid Content-Length'],
  ['Content-Length 16 digits', head('POST / HTTP/1.1', H, 'Content-Length: 1000000000000000'), 400,
    'invalid Content-Length'],
  ['Content-Length twice, same value', head('POST / HTTP/1.1', H, 'Content-Length: 1', 'content-length: 1'), 400,
    'duplicate Content-Length'],
  ['Content-Length twice, other value', head('POST / HTTP/1.1', H, 'Content-Length: 1', 'Content-Length: 2'), 400,
    'duplicate Content-Length'],
  ['Content-Length and Transfer-Encoding', head('POST / HTTP/1.1', H, 'Content-Length: 1', 'Transfer-Encoding: chunked'),
    400, 'Content-Length with Transfer-Encoding'],
  ['Transfer-Encoding and Content-Length', head('POST / HTTP/1.1', H, 'Transfer-Encoding: chunked', 'Content-Length: 0'),
    400, 'Content-Length with Transfer-Encoding'],
  ['unknown coding before chunked', head('POST / HTTP/1.1', H, 'Transfer-Encoding: gzip, chunked'), 501,
    'unsupported transfer coding'],
  ['unknown coding in a second field', head('POST / HTTP/1.1', H, 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'),
    501, 'unsupported transfer coding'],
  ['chunked not last', head('POST / HTTP/1.1', H, 'Transfer-Encoding: chunked, gzip'), 400,
    'chunked is not the final transfer coding'],
  ['no chunked at all', head('POST / HTTP/1.1', H, 'Transfer-Encoding: gzip'), 400,
    'chunked is not the final transfer coding'],
  ['look-alike coding', head('POST / HTTP/1.1', H, 'Transfer-Encoding: chunked2'), 400,
    'chunked is not the final transfer coding'],
  ['chunked twice in a list', head('POST / HTTP/1.1', H, 'Transfer-Encoding: chunked, chunked'), 400,
    'chunked applied twice'],
  ['chunked twice in two fields', head('POST / HTTP/1.1', H, 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'),
    400, 'chunked applied twice'],
  ['coding with parameters', head('POST / HTTP/1.1', H, 'Transfer-Encoding: chunked;q=1'), 400,
    'invalid Transfer-Encoding'],
  ['empty list element', head('POST / HTTP/1.1', H, 'Transfer-Encoding: , chunked'), 400, 'invalid Transfer-Encoding'],
  ['empty Transfer-Encoding', head('POST / HTTP/1.1', H, 'Transfer-Encoding:'), 400, 'invalid Transfer-Encoding'],
  ['Transfer-Encoding in HTTP/1.0', head('POST / HTTP/1.0', 'Transfer-Encoding: chunked'), 400,
    'Transfer-Encoding in HTTP/1.0'],
  ['missing Host in 1.1', head('GET / HTTP/1.1'), 400, 'missing Host'],
  ['missing Host with absolute-form', head('GET http://a/ HTTP/1.1'), 400, 'missing Host'],
  ['two Host fields', head('GET / HTTP/1.1', 'Host: a', 'host: a'), 400, 'duplicate Host'],
  ['two Host fields in 1.0', head('GET / HTTP/1.0', 'Host: a', 'Host: b'), 400, 'duplicate Host'],
  ['Host with a space', head('GET / HTTP/1.1', 'Host: a b'), 400, 'invalid Host'],
  ['Host with userinfo', head('GET / HTTP/1.1', 'Host: u@a'), 400, 'invalid Host'],
  ['Host with a slash', head('GET / HTTP/1.1', 'Host: a/b'), 400, 'invalid Host'],
  ['Connection without commas', head('GET / HTTP/1.1', H, 'Connection: close keep-alive'), 400, 'invalid Connection'],
  ['Connection with a non-token', head('GET / HTTP/1.1', H, 'Connection: "close"'), 400, 'invalid Connection'],
];

describe('parseRequestHead: rejections', () => {
  it.each(rejections)('%s -> %i', (_name, buf, status, reason) => {
    expect(reject(buf)).toEqual({ kind: 'error', status, reason });
  });
});

describe('parseRequestHead: incremental input', () => {
  const valid = [
    head('GET /a HTTP/1.1', 'Host: a', 'Cookie: x=1'),
    Buffer.concat([Buffer.from('\r\n'), head('POST / HTTP/1.0', 'Content-Length: 3')]),
    head('OPTIONS * HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked'),
  ];
  it.each(valid.map((b) => [b.toString('latin1', 0, 20), b] as const))('is incomplete until the last byte: %j', (_n, buf) => {
    for (let end = 0; end < buf.length; end++) {
      expect(parseRequestHead(buf, 0, end)).toBe(INCOMPLETE);
    }
    expect(parseRequestHead(buf, 0, buf.length).kind).toBe('request');
  });

  it.each(rejections)('%s: every prefix is incomplete or the same error', (_name, buf, status, reason) => {
    let sawError = false;
    for (let end = 0; end <= buf.length; end++) {
      const result = parseRequestHead(buf, 0, end);
      if (result === INCOMPLETE) {
        expect(sawError).toBe(false);
        continue;
      }
      sawError = true;
      expect(result).toEqual({ kind: 'error', status, reason });
    }
    expect(sawError).toBe(true);
  });
});

describe('parseRequestHead: limits', () => {
  const limits = resolveHeadLimits({ maxHeadBytes: 64, maxHeaderCount: 3 });
  const fill = (total: number) => {
    const base = 'GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n';
    return head('GET / HTTP/1.1', 'Host: a', `X: ${'v'.repeat(total - base.length)}`);
  };

  it('accepts a head of exactly maxHeadBytes', () => {
    const buf = fill(64);
    expect(buf.length).toBe(64);
    expect(parseRequestHead(buf, 0, buf.length, limits).kind).toBe('request');
  });

  it('answers 431 once maxHeadBytes pass without the end of the head', () => {
    const buf = fill(65);
    expect(parseRequestHead(buf, 0, buf.length, limits)).toMatchObject({ status: 431, reason: 'head too large' });
    expect(parseRequestHead(buf, 0, 63, limits)).toBe(INCOMPLETE);
    expect(parseRequestHead(buf, 0, 64, limits)).toMatchObject({ status: 431 });
  });

  it('counts empty lines before the request line', () => {
    const buf = Buffer.alloc(200, '\r\n');
    expect(parseRequestHead(buf, 0, buf.length, limits)).toMatchObject({ status: 431 });
  });

  it('answers 431 above maxHeaderCount', () => {
    const ok = head('GET / HTTP/1.1', H, 'A: 1', 'B: 2');
    expect(parseRequestHead(ok, 0, ok.length, limits).kind).toBe('request');
    const tooMany = head('GET / HTTP/1.1', H, 'A: 1', 'B: 2', 'C: 3');
    expect(parseRequestHead(tooMany, 0, tooMany.length, limits)).toMatchObject({ status: 431,
      reason: 'too many header fields' });
  });

  it('validates limits once', () => {
    expect(() => resolveHeadLimits({ maxHeadBytes: 0 })).toThrow(BalancerConfigError);
    expect(() => resolveHeadLimits({ maxHeaderCount: 1.5 })).toThrow(/maxHeaderCount is 1.5/);
    expect(resolveHeadLimits()).toEqual({ maxHeadBytes: 16_384, maxHeaderCount: 100 });
  });
});
