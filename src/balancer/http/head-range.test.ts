import { describe, expect, it } from 'vitest';
import { findHeadEnd, headTerminatorEnd } from './head-range.js';

describe('findHeadEnd', () => {
  it('ends a complete head just after its first CRLFCRLF', () => {
    const buf = Buffer.from('xxGET / HTTP/1.1\r\n\r\nbody\r\n\r\n');
    const range = findHeadEnd(buf, 2, buf.length);
    expect(range).toMatchObject({ buf, start: 2, end: 20, complete: true });
  });

  it('copies an incomplete head and puts a NUL stop byte after it', () => {
    const buf = Buffer.from('GET / HTTP/1.1\r\nHost: a');
    const range = findHeadEnd(buf, 4, buf.length);
    expect(range.complete).toBe(false);
    expect(range.buf).not.toBe(buf);
    expect(range.buf.toString('latin1', range.start, range.end)).toBe('/ HTTP/1.1\r\nHost: a');
    expect(range.buf[range.end]).toBe(0);
  });

  it('ignores a CRLFCRLF beyond the end it is given', () => {
    const buf = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    const range = findHeadEnd(buf, 0, buf.length - 1);
    expect(range).toMatchObject({ start: 0, end: buf.length - 1, complete: false });
  });

  it('grows its scratch buffer for large partial heads', () => {
    const buf = Buffer.alloc(20_000, 'a');
    const range = findHeadEnd(buf, 0, buf.length);
    expect(range.end).toBe(20_000);
    expect(range.buf[20_000]).toBe(0);
  });
});

describe('headTerminatorEnd', () => {
  it('finds the same CRLFCRLF as indexOf in random runs of CR, LF and other bytes', () => {
    const alphabet = [0x0d, 0x0a, 0x61];
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let round = 0; round < 5000; round++) {
      const buf = Buffer.alloc(1 + (next() % 40));
      for (let i = 0; i < buf.length; i++) buf[i] = alphabet[next() % 3]!;
      const start = next() % buf.length;
      const end = start + (next() % (buf.length - start + 1));
      const at = buf.subarray(0, end).indexOf('\r\n\r\n', start);
      expect(headTerminatorEnd(buf, start, end), buf.toString('hex')).toBe(at < 0 ? -1 : at + 4);
    }
  });
});
