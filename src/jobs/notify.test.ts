import { describe, expect, it } from 'vitest';
import { formatSseEvent } from './notify.js';

describe('formatSseEvent', () => {
  it('puts the event id where EventSource takes Last-Event-ID from, and the data on one line', () => {
    const frame = formatSseEvent({ id: '17-0', jobId: 'j1', type: 'progress', data: { text: 'a\nb' }, atMs: 5 });
    expect(frame).toBe('id: 17-0\nevent: progress\ndata: {"jobId":"j1","data":{"text":"a\\nb"},"atMs":5}\n\n');
    expect(frame.split('\n').filter((l) => l.startsWith('data:'))).toHaveLength(1);
  });
});
