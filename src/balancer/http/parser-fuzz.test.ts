/**
 * No input may crash the balancer: mutated and random heads and bodies must produce an
 * answer (never an exception), and every accepted head must describe bytes inside the
 * range it was given.
 */
import { describe, expect, it } from 'vitest';
import { CHUNKED_ERROR, CHUNKED_NEED_MORE, ChunkedScanner } from './chunked-scanner.js';
import { headerValue } from './head-fields.js';
import { parseRequestHead } from './request-head.js';
import { parseResponseHead } from './response-head.js';

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x3a, 0x3b, 0x3d, 0x30, 0x66, 0x7f, 0x80, 0xff];

function mutate(seed: Buffer, random: () => number): Buffer {
  const bytes = [...seed];
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (bytes.length + 1));
    const byte = random() < 0.6 ? INTERESTING[Math.floor(random() * INTERESTING.length)]! : Math.floor(random() * 256);
    const op = random();
    if (op < 0.4) bytes[at] = byte;
    else if (op < 0.7) bytes.splice(at, 0, byte);
    else bytes.splice(at, 1);
  }
  return Buffer.from(bytes);
}

const requestSeeds = [
  'GET /a?b HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-a\r\nX-A: 1\r\nCookie: c=1\r\n\r\n',
  'POST /u HTTP/1.1\r\nHost: a:80\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n',
  'PUT http://a/b HTTP/1.0\r\nContent-Length: 12\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n',
].map((s) => Buffer.from(s, 'latin1'));

const responseSeeds = [
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nscaleout-load: 0.5\r\n\r\n',
  'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
  'HTTP/1.0 204\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
].map((s) => Buffer.from(s, 'latin1'));

const bodySeeds = ['5;a="b"\r\nhello\r\n0\r\nX: y\r\n\r\n', 'a\r\n0123456789\r\n000;x=y\r\n\r\n']
  .map((s) => Buffer.from(s, 'latin1'));

describe('parsers under garbage', () => {
  it('answer every mutated request head without throwing', () => {
    const random = mulberry32(1);
    for (let n = 0; n < 10_000; n++) {
      const buf = mutate(requestSeeds[n % requestSeeds.length]!, random);
      const result = parseRequestHead(buf, 0, buf.length);
      if (result.kind !== 'request') continue;
      expect(result.headEnd).toBeLessThanOrEqual(buf.length);
      expect(result.drop.length * 3).toBe(result.fields.length);
      for (const offset of result.fields) expect(offset).toBeLessThan(result.headEnd);
      headerValue(buf, result, 'x-a');
    }
  });

  it('answer every mutated response head without throwing', () => {
    const random = mulberry32(2);
    for (let n = 0; n < 10_000; n++) {
      const buf = mutate(responseSeeds[n % responseSeeds.length]!, random);
      const result = parseResponseHead(buf, 0, buf.length, n % 7 === 0 ? 'HEAD' : 'GET');
      if (result.kind === 'error') expect(result.status).toBe(502);
      if (result.kind === 'response') expect(result.headEnd).toBeLessThanOrEqual(buf.length);
    }
  });

  it('answer random bytes without throwing', () => {
    const random = mulberry32(3);
    const scanner = new ChunkedScanner();
    for (let n = 0; n < 5_000; n++) {
      const buf = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
      parseRequestHead(buf, 0, buf.length);
      parseResponseHead(buf, 0, buf.length, 'GET');
      scanner.reset();
      const end = scanner.scan(buf, 0, buf.length);
      expect(end === CHUNKED_ERROR || end === CHUNKED_NEED_MORE || (end > 0 && end <= buf.length)).toBe(true);
    }
  });

  it('scan every mutated chunked body without throwing', () => {
    const random = mulberry32(4);
    const scanner = new ChunkedScanner();
    for (let n = 0; n < 10_000; n++) {
      const buf = mutate(bodySeeds[n % bodySeeds.length]!, random);
      scanner.reset();
      const end = scanner.scan(buf, 0, buf.length);
      expect(end === CHUNKED_ERROR || end === CHUNKED_NEED_MORE || (end > 0 && end <= buf.length)).toBe(true);
    }
  });
});
