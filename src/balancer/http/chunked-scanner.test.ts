import { describe, expect, it } from 'vitest';
import { CHUNKED_ERROR, CHUNKED_NEED_MORE, ChunkedScanner, resolveChunkedScannerOptions, type ChunkedScannerOptions } from './chunked-scanner.js';

/** What scanning a whole input gives: the end of the body, "need more", or the error. */
type Outcome = { end: number } | { needMore: true } | { error: string };

function outcome(scanner: ChunkedScanner, result: number): Outcome {
  if (result === CHUNKED_ERROR) return { error: scanner.error ?? '(none)' };
  if (result === CHUNKED_NEED_MORE) return { needMore: true };
  return { end: result };
}

/** Feeds `buf` in pieces cut at `cuts` (sorted offsets) and stops at the first final answer. */
function feed(buf: Buffer, cuts: number[], options?: ChunkedScannerOptions): Outcome {
  const scanner = new ChunkedScanner(resolveChunkedScannerOptions(options));
  let from = 0;
  for (const to of [...cuts, buf.length]) {
    const result = scanner.scan(buf, from, to);
    if (result !== CHUNKED_NEED_MORE) return outcome(scanner, result);
    from = to;
  }
  return { needMore: true };
}

/** A small deterministic PRNG so random splits are reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NEXT = 'GET /next HTTP/1.1\r\n';

const valid: Array<[string, string]> = [
  ['one chunk', '5\r\nhello\r\n0\r\n\r\n'],
  ['several chunks', '1\r\na\r\n2\r\nbc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n'],
  ['empty body', '0\r\n\r\n'],
  ['last-chunk with leading zeros', '000\r\n\r\n'],
  ['hex in both cases', 'A\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\n\r\n'],
  ['size with leading zeros, 16 digits', '0000000000000003\r\nabc\r\n0\r\n\r\n'],
  ['data holding CRLF and digits', '6\r\n\r\n0\r\n\r\r\n0\r\n\r\n'],
  ['extension name', '3;ext\r\nabc\r\n0\r\n\r\n'],
  ['extension token value', '3;a=b;c=d\r\nabc\r\n0;last=1\r\n\r\n'],
  ['extension quoted value', '3;a="x y;\\"z\\\\"\r\nabc\r\n0\r\n\r\n'],
  ['extension BWS', '3; a = b ;c\t=\t"q" ;d\r\nabc\r\n0\r\n\r\n'],
  ['trailers', '3\r\nabc\r\n0\r\nX-Sum: 123\r\nx-empty:\r\nX-Tab:\tv\xe9\r\n\r\n'],
  ['trailers whose names start like forbidden ones', '0\r\nContent-Length-Sum: 3\r\nHosts: a\r\nServer-Timing: x;dur=1\r\n\r\n'],
];

const invalid: Array<[string, string, string]> = [
  ['no size', '\r\nabc\r\n0\r\n\r\n', 'chunk size is not a hex number'],
  ['non-hex size', 'g\r\n', 'chunk size is not a hex number'],
  ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n', 'invalid byte in chunk size'],
  ['negative size', '-1\r\n', 'chunk size is not a hex number'],
  ['space before size', ' 5\r\nhello\r\n', 'chunk size is not a hex number'],
  ['space after size', '5 \r\nhello\r\n0\r\n\r\n', 'whitespace after chunk size'],
  ['space before the first extension', '5 ;a\r\nhello\r\n0\r\n\r\n', 'whitespace after chunk size'],
  ['17 digits', '00000000000000005\r\nhello\r\n', 'chunk size has too many digits'],
  ['size beyond 2^53', 'fffffffffffffff\r\n', 'chunk size too large'],
  ['bare LF after size', '5\nhello\r\n0\r\n\r\n', 'invalid byte in chunk size'],
  ['bare CR after size', '5\rhello\r\n', 'bare CR in chunk size line'],
  ['data longer than the size', '3\r\nabcd\r\n0\r\n\r\n', 'chunk data not followed by CRLF'],
  ['data shorter than the size', '5\r\nabc\r\n0\r\n\r\n', 'chunk data not followed by CRLF'],
  ['bare LF after data', '3\r\nabc\n0\r\n\r\n', 'chunk data not followed by CRLF'],
  ['CR without LF after data', '3\r\nabc\r0\r\n\r\n', 'chunk data not followed by CRLF'],
  ['empty extension', '3;\r\nabc\r\n0\r\n\r\n', 'invalid chunk extension'],
  ['extension without name', '3;=x\r\nabc\r\n', 'invalid chunk extension'],
  ['extension with space inside the name', '3;a b\r\nabc\r\n', 'invalid chunk extension'],
  ['whitespace before CRLF after an extension', '3;a \r\nabc\r\n', 'invalid chunk extension'],
  ['whitespace before CRLF after a value', '3;a=b \r\nabc\r\n', 'invalid chunk extension'],
  ['empty extension value', '3;a=\r\nabc\r\n', 'invalid chunk extension value'],
  ['non-token extension value', '3;a=b/c\r\nabc\r\n', 'invalid chunk extension value'],
  ['CR in a quoted value', '3;a="b\r\nabc\r\n', 'invalid byte in quoted chunk extension'],
  ['bytes after a quoted value', '3;a="b"c\r\nabc\r\n', 'invalid chunk extension'],
  ['NUL in an extension name', '3;a\x00\r\nabc\r\n', 'invalid chunk extension'],
  ['bare LF in a trailer', '0\r\nX: a\n\r\n', 'bare LF in trailer'],
  ['bare LF ending the trailers', '0\r\n\n', 'bare LF in trailer'],
  ['bare CR ending the body', '0\r\n\rx', 'bare CR after trailers'],
  ['bare CR in a trailer', '0\r\nX: a\rb\r\n\r\n', 'bare CR in trailer'],
  ['obs-fold in trailers', '0\r\nX: a\r\n b\r\n\r\n', 'obsolete line folding in trailer'],
  ['whitespace before a trailer colon', '0\r\nX : a\r\n\r\n', 'whitespace before colon in trailer'],
  ['trailer without colon', '0\r\nXa\r\n\r\n', 'invalid byte in trailer name'],
  ['empty trailer name', '0\r\n: a\r\n\r\n', 'invalid byte in trailer name'],
  ['CTL in a trailer value', '0\r\nX: a\x01\r\n\r\n', 'invalid byte in trailer value'],
  ['Content-Length in a trailer', '3\r\nabc\r\n0\r\nContent-Length: 3\r\n\r\n', 'content-length is not allowed in a trailer'],
  ['Transfer-Encoding in a trailer, any case', '0\r\nX-Ok: 1\r\ntRANSFER-eNCODING: chunked\r\n\r\n',
    'transfer-encoding is not allowed in a trailer'],
  ['Host in a trailer', '0\r\nHost: admin.example\r\n\r\n', 'host is not allowed in a trailer'],
  ['Authorization in a trailer', '0\r\nAuthorization: Basic eA==\r\n\r\n', 'authorization is not allowed in a trailer'],
];

describe('ChunkedScanner', () => {
  it.each(valid)('finds the end of %s', (_name, body) => {
    const buf = Buffer.from(body + NEXT, 'latin1');
    expect(feed(buf, [])).toEqual({ end: Buffer.byteLength(body, 'latin1') });
  });

  it.each(invalid)('rejects %s', (_name, body, reason) => {
    expect(feed(Buffer.from(body, 'latin1'), [])).toEqual({ error: reason });
  });

  const all = [...valid.map(([name, body]) => [name, body + NEXT] as const), ...invalid.map(([n, b]) => [n, b] as const)];

  it.each(all)('gives the same answer for %s split at every position', (_name, body) => {
    const buf = Buffer.from(body, 'latin1');
    const whole = feed(buf, []);
    for (let cut = 0; cut <= buf.length; cut++) expect(feed(buf, [cut])).toEqual(whole);
  });

  it.each(all)('gives the same answer for %s split at random positions', (_name, body) => {
    const buf = Buffer.from(body, 'latin1');
    const whole = feed(buf, []);
    const random = mulberry32(buf.length);
    for (let round = 0; round < 50; round++) {
      const cuts = Array.from({ length: 1 + Math.floor(random() * 6) }, () => Math.floor(random() * (buf.length + 1)))
        .sort((a, b) => a - b);
      expect(feed(buf, cuts)).toEqual(whole);
    }
  });

  it('gives the same answer fed one byte at a time', () => {
    for (const [, body] of all) {
      const buf = Buffer.from(body, 'latin1');
      expect(feed(buf, Array.from({ length: buf.length }, (_, i) => i))).toEqual(feed(buf, []));
    }
  });

  it('passes the chunk data without framing to a sink, however the bytes are split', () => {
    const body = Buffer.from('5;a=b\r\nhello\r\n1\r\n,\r\n10\r\n 0123456789abcde\r\n0\r\nX: y\r\n\r\n', 'latin1');
    const random = mulberry32(7);
    for (let round = 0; round < 100; round++) {
      const cuts = Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * (body.length + 1)))
        .sort((a, b) => a - b);
      const scanner = new ChunkedScanner();
      const data: string[] = [];
      let from = 0;
      let result = CHUNKED_NEED_MORE;
      for (const to of [...cuts, body.length]) {
        result = scanner.scan(body, from, to, (buf, start, end) => data.push(buf.toString('latin1', start, end)));
        if (result !== CHUNKED_NEED_MORE) break;
        from = to;
      }
      expect(result).toBe(body.length);
      expect(data.join('')).toBe('hello, 0123456789abcde');
    }
  });

  it('needs more while the body is incomplete', () => {
    const body = Buffer.from('5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n', 'latin1');
    for (let end = 0; end < body.length; end++) {
      expect(new ChunkedScanner().scan(body, 0, end)).toBe(CHUNKED_NEED_MORE);
    }
  });

  it('skips a large chunk without reading it', () => {
    const scanner = new ChunkedScanner();
    const sizeLine = Buffer.from('40000000\r\n');
    expect(scanner.scan(sizeLine, 0, sizeLine.length)).toBe(CHUNKED_NEED_MORE);
    // 1 GiB of data announced; the same 1 MiB buffer stands in for every piece of it.
    const piece = Buffer.alloc(1 << 20);
    for (let i = 0; i < 1024; i++) expect(scanner.scan(piece, 0, piece.length)).toBe(CHUNKED_NEED_MORE);
    const tail = Buffer.from('\r\n0\r\n\r\n');
    expect(scanner.scan(tail, 0, tail.length)).toBe(tail.length);
    expect(scanner.done).toBe(true);
  });

  it('scans from an offset and reports absolute indexes', () => {
    const buf = Buffer.from(`HEAD BYTES3\r\nabc\r\n0\r\n\r\n${NEXT}`, 'latin1');
    expect(new ChunkedScanner().scan(buf, 10, buf.length)).toBe(buf.length - NEXT.length);
  });

  it('refuses to scan after the end or after an error until reset', () => {
    const scanner = new ChunkedScanner();
    const ok = Buffer.from('0\r\n\r\n');
    expect(scanner.scan(ok, 0, ok.length)).toBe(ok.length);
    expect(scanner.scan(ok, 0, ok.length)).toBe(CHUNKED_ERROR);
    expect(scanner.scan(ok, 0, ok.length)).toBe(CHUNKED_ERROR);
    scanner.reset();
    expect(scanner.error).toBeUndefined();
    expect(scanner.scan(ok, 0, ok.length)).toBe(ok.length);
    const bad = Buffer.from('z');
    scanner.reset();
    expect(scanner.scan(bad, 0, 1)).toBe(CHUNKED_ERROR);
    expect(scanner.scan(ok, 0, ok.length)).toBe(CHUNKED_ERROR);
    expect(scanner.error).toBe('chunk size is not a hex number');
  });

  it('bounds a chunk-size line, across calls too', () => {
    const line = Buffer.from(`1;${'a'.repeat(100)}\r\nx\r\n0\r\n\r\n`);
    expect(feed(line, [], { maxLineBytes: 50 })).toEqual({ error: 'chunk size line too long' });
    expect(feed(line, [20, 40, 60], { maxLineBytes: 50 })).toEqual({ error: 'chunk size line too long' });
    expect(feed(line, [20, 40, 60], { maxLineBytes: 103 })).toEqual({ end: line.length });
  });

  it('bounds trailers, across calls too, but not data', () => {
    const body = Buffer.from(`40\r\n${'d'.repeat(64)}\r\n0\r\nA: ${'a'.repeat(40)}\r\nB: ${'b'.repeat(40)}\r\n\r\n`);
    expect(feed(body, [], { maxTrailerBytes: 60, maxLineBytes: 8 })).toEqual({ error: 'trailers too large' });
    expect(feed(body, [80, 100, 120], { maxTrailerBytes: 60 })).toEqual({ error: 'trailers too large' });
    expect(feed(body, [80, 100, 120], { maxTrailerBytes: 92, maxLineBytes: 8 })).toEqual({ end: body.length });
  });
});
