import { describe, expect, it } from 'vitest';
import { SseParser } from './sse-parser.js';

describe('SseParser', () => {
  it('reads messages split anywhere across chunks, skipping comments', () => {
    const parser = new SseParser();
    const text = 'retry: 1000\n\n: keep-alive\n\nid: 1\ndata: {"a":1}\n\nid: 2\r\ndata: two\r\ndata: lines\r\n\r\n';
    const messages = [];
    for (let i = 0; i < text.length; i += 3) messages.push(...parser.push(text.slice(i, i + 3)));
    expect(messages).toEqual([{ id: '1', data: '{"a":1}' }, { id: '2', data: 'two\nlines' }]);
    expect(parser.retryMs).toBe(1000);
  });
});
