import { describe, expect, it } from 'vitest';
import { ManualClock } from '../internal/clock.js';
import { RestartBackoff } from './restart-backoff.js';

describe('RestartBackoff', () => {
  it('doubles the delay per crash in a row up to the cap', () => {
    const backoff = new RestartBackoff({ initialMs: 100, maxMs: 1000, clock: new ManualClock() });
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.nextDelayMs())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoff.crashesInARow).toBe(6);
  });

  it('keeps backing off when the instance crashes soon after becoming healthy', () => {
    const clock = new ManualClock();
    const backoff = new RestartBackoff({ initialMs: 100, maxMs: 10_000, stableMs: 5000, clock });
    backoff.nextDelayMs();
    backoff.markHealthy();
    clock.advance(4999);
    expect(backoff.nextDelayMs()).toBe(200);
  });

  it('starts over after the instance stayed healthy for stableMs', () => {
    const clock = new ManualClock();
    const backoff = new RestartBackoff({ initialMs: 100, maxMs: 10_000, stableMs: 5000, clock });
    backoff.nextDelayMs();
    backoff.nextDelayMs();
    backoff.markHealthy();
    clock.advance(5000);
    expect(backoff.nextDelayMs()).toBe(100);
    expect(backoff.crashesInARow).toBe(1);
  });

  it('never waits less than the initial delay when the cap is below it', () => {
    const backoff = new RestartBackoff({ initialMs: 500, maxMs: 100, clock: new ManualClock() });
    expect(backoff.nextDelayMs()).toBe(500);
    expect(backoff.nextDelayMs()).toBe(500);
  });

  it('restarts the first crashes of a series at once, then backs off, and starts over once stable', () => {
    const clock = new ManualClock();
    const backoff = new RestartBackoff({ initialMs: 100, maxMs: 1000, stableMs: 5000, immediate: 3, clock });
    expect([1, 2, 3, 4, 5].map(() => backoff.nextDelayMs())).toEqual([0, 0, 0, 100, 200]);
    backoff.markHealthy();
    clock.advance(5000);
    expect(backoff.nextDelayMs()).toBe(0);
  });
});
