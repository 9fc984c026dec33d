import { describe, expect, it } from 'vitest';
import { parseResponseHead } from '../http/index.js';
import { writeHead } from './head-writer.js';

function parsed(text: string) {
  const buf = Buffer.from(text, 'latin1');
  const head = parseResponseHead(buf, 0, buf.length, 'GET');
  if (head.kind !== 'response') throw new Error(`fixture does not parse: ${JSON.stringify(head)}`);
  return { buf, head };
}

describe('writeHead', () => {
  it('leaves out dropped fields, appends the extra fields and keeps the rest byte for byte', () => {
    const { buf, head } = parsed('HTTP/1.1 200 OK\r\nA: 1\r\nConnection: keep-alive\r\nB: 2\r\nscaleout-load: 0.5\r\nC: 3\r\n\r\n');
    const out = writeHead(buf, 0, head.statusLineEnd, head, 'x-added: yes\r\n\r\n');
    expect(out).toBe('HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nx-added: yes\r\n\r\n');
  });

  it('copies the body bytes that followed the head, including bytes above 0x7f, unchanged', () => {
    const body = Buffer.from([0xe2, 0x82, 0xac, 0x00, 0xff, 0x0a]);
    const headText = `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-name: caf\u00e9\r\n\r\n`;
    const buf = Buffer.concat([Buffer.from(headText, 'latin1'), body]);
    const head = parseResponseHead(buf, 0, buf.length, 'GET');
    if (head.kind !== 'response') throw new Error('fixture does not parse');
    const out = Buffer.from(writeHead(buf, 0, head.statusLineEnd, head, '\r\n', head.headEnd, buf.length), 'latin1');
    expect(out.equals(buf)).toBe(true);
  });

  it('starts at the given offset, so a head behind an interim response is rewritten alone', () => {
    const { buf } = parsed('HTTP/1.1 200 OK\r\n\r\n');
    const padded = Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), buf]);
    const head = parseResponseHead(padded, 25, padded.length, 'GET');
    if (head.kind !== 'response') throw new Error('fixture does not parse');
    expect(writeHead(padded, 25, head.statusLineEnd, head, 'connection: close\r\n\r\n')).toBe('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n');
  });
});
