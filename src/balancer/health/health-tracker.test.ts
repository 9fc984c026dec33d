import { describe, expect, it } from 'vitest';
import { BalancerConfigError } from '../errors.js';
import { DEFAULT_FALL, DEFAULT_RISE, HealthTracker } from './health-tracker.js';
import { resolveHealthTrackerOptions } from '../options.js';

function run(tracker: HealthTracker, results: string): (string | undefined)[] {
  return [...results].map((r) => tracker.record(r === '+'));
}

describe('HealthTracker', () => {
  it('has HAProxy-like defaults', () => {
    expect(DEFAULT_RISE).toBe(2);
    expect(DEFAULT_FALL).toBe(3);
  });

  it('starts up, and the first failed check takes it down', () => {
    const t = new HealthTracker(resolveHealthTrackerOptions());
    expect(t.state).toBe('up');
    expect(t.record(false)).toBe('down');
    expect(t.state).toBe('down');
  });

  it('needs rise successes in a row to come back up', () => {
    const t = new HealthTracker(resolveHealthTrackerOptions({ rise: 2 }));
    t.record(false);
    expect(run(t, '+-+')).toEqual([undefined, undefined, undefined]);
    expect(t.state).toBe('down');
    expect(run(t, '+')).toEqual(['up']);
  });

  it('once confirmed up, needs fall failures in a row to go down', () => {
    const t = new HealthTracker(resolveHealthTrackerOptions({ fall: 3 }));
    t.record(true);
    expect(run(t, '--+--')).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(t.state).toBe('up');
    expect(t.consecutiveFailures).toBe(2);
    expect(t.record(false)).toBe('down');
    expect(run(t, '---')).toEqual([undefined, undefined, undefined]);
  });

  it('after coming back up, is confirmed and needs fall failures again', () => {
    const t = new HealthTracker(resolveHealthTrackerOptions({ rise: 1, fall: 2 }));
    expect(run(t, '-+-')).toEqual(['down', 'up', undefined]);
    expect(t.record(false)).toBe('down');
  });

  it('can start down', () => {
    const t = new HealthTracker(resolveHealthTrackerOptions({ initialState: 'down', rise: 3 }));
    expect(t.state).toBe('down');
    expect(run(t, '+++')).toEqual([undefined, undefined, 'up']);
  });

  it('rejects invalid options', () => {
    expect(() => new HealthTracker(resolveHealthTrackerOptions({ rise: 0 }))).toThrow(BalancerConfigError);
    expect(() => new HealthTracker(resolveHealthTrackerOptions({ fall: 1.5 }))).toThrow(/whole number/);
    expect(() => new HealthTracker(resolveHealthTrackerOptions({ initialState: 'maybe' as 'up' }))).toThrow(BalancerConfigError);
  });
});

describe('HealthTracker.forceDown', () => {
  it('takes an up server down at once; it needs rise successes to come back', () => {
    const tracker = new HealthTracker(resolveHealthTrackerOptions({ rise: 2, fall: 3 }));
    tracker.record(true);
    expect(tracker.forceDown()).toBe(true);
    expect(tracker.state).toBe('down');
    expect(tracker.forceDown()).toBe(false);
    expect(tracker.record(true)).toBeUndefined();
    expect(tracker.changing).toBe(true);
    expect(tracker.record(true)).toBe('up');
    expect(tracker.changing).toBe(false);
    tracker.record(false);
    expect(tracker.changing).toBe(true);
  });
});
