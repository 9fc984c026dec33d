import { describe, expect, it } from 'vitest';
import { BalancerConfigError } from '../errors.js';
import { StallDetector, type StallSample } from './stall-detector.js';
import { resolveStallDetectorOptions } from '../options.js';

function server(id: string): StallSample & { awaiting: number; requests: number; answers: number } {
  return { id, awaiting: 0, requests: 0, answers: 0 };
}

describe('StallDetector', () => {
  it('reports a server with requests in flight that has said nothing for stallMs, once', () => {
    const detector = new StallDetector(resolveStallDetectorOptions({ stallMs: 500 }));
    const a = server('a');
    expect(detector.observe([a], 0)).toEqual([]);
    a.requests = 3; a.awaiting = 3;
    expect(detector.observe([a], 100)).toEqual([]);
    expect(detector.observe([a], 599)).toEqual([]);
    expect(detector.observe([a], 600)).toEqual(['a']);
    a.requests = 5; a.awaiting = 5;
    expect(detector.observe([a], 800)).toEqual([]);
  });

  it('counts answers given before its first look: such a server stands in for a silent one', () => {
    const detector = new StallDetector(resolveStallDetectorOptions({ stallMs: 500 }));
    const a = server('a');
    a.requests = 40; a.answers = 40;
    detector.observe([a], 1000);
    expect(detector.answering('a')).toBe(true);
    const b = server('b');
    detector.observe([b], 1000);
    expect(detector.answering('b')).toBe(false);
  });

  it('notices the silence even when the last requests went out with the last answers', () => {
    const detector = new StallDetector(resolveStallDetectorOptions({ stallMs: 500 }));
    const a = server('a');
    detector.observe([a], 0);
    a.requests = 10; a.answers = 4; a.awaiting = 6; // then nothing more is sent: every client waits on it
    expect(detector.observe([a], 100)).toEqual([]);
    expect(detector.observe([a], 200)).toEqual([]);
    expect(detector.observe([a], 700)).toEqual(['a']);
  });

  it('an answer, or nothing left in flight, ends the silence', () => {
    const detector = new StallDetector(resolveStallDetectorOptions({ stallMs: 500 }));
    const a = server('a');
    detector.observe([a], 0);
    a.requests = 1; a.awaiting = 1;
    detector.observe([a], 100);
    a.answers = 1; a.requests = 2;
    expect(detector.observe([a], 400)).toEqual([]);
    a.awaiting = 0;
    expect(detector.observe([a], 1000)).toEqual([]);
    expect(detector.answeredSince('a', 400)).toBe(true);
    expect(detector.answeredSince('a', 401)).toBe(false);
    expect(detector.answering('a')).toBe(true);
    a.awaiting = 1; a.requests = 4;
    detector.observe([a], 1100);
    expect(detector.answering('a')).toBe(false);
    expect(detector.answering('never-seen')).toBe(false);
  });

  it('a long request on a server that keeps answering others is not silence', () => {
    const detector = new StallDetector(resolveStallDetectorOptions({ stallMs: 500 }));
    const a = server('a');
    detector.observe([a], 0);
    a.requests = 1; a.awaiting = 1; // the long poll
    for (let t = 100, n = 1; t < 3000; t += 100, n++) {
      a.requests = n + 1; a.answers = n; a.awaiting = 2; // short requests come and go
      expect(detector.observe([a], t)).toEqual([]);
    }
  });

  it('after a passed probe (heard), only a request sent after it starts a new silence', () => {
    const detector = new StallDetector(resolveStallDetectorOptions({ stallMs: 500 }));
    const a = server('a');
    detector.observe([a], 0);
    a.requests = 1; a.awaiting = 1;
    detector.observe([a], 100);
    expect(detector.observe([a], 600)).toEqual(['a']);
    detector.heard('a', 700);
    expect(detector.observe([a], 800)).toEqual([]);
    expect(detector.observe([a], 1500)).toEqual([]);
    a.requests = 2; a.awaiting = 2;
    detector.observe([a], 1600);
    expect(detector.observe([a], 2100)).toEqual(['a']);
  });

  it('0 disables; invalid values are refused', () => {
    const detector = new StallDetector(resolveStallDetectorOptions({ stallMs: 0 }));
    const a = server('a');
    detector.observe([a], 0);
    a.requests = 1; a.awaiting = 1;
    detector.observe([a], 1);
    expect(detector.observe([a], 100_000)).toEqual([]);
    expect(() => new StallDetector(resolveStallDetectorOptions({ stallMs: -1 }))).toThrow(BalancerConfigError);
    expect(new StallDetector(resolveStallDetectorOptions({ stallMs: 500 })).sampleIntervalMs).toBe(100);
  });
});
