import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../internal/clock.js';
import { BalancerConfigError } from '../errors.js';
import { OutlierEjector, type FailureKind, type OutlierEjectorOptions } from './outlier-ejector.js';
import { resolveOutlierEjectorOptions } from '../options.js';

function setup(members: string[], options: OutlierEjectorOptions = {}) {
  const clock = new ManualClock(1_000_000);
  const ejector = new OutlierEjector(resolveOutlierEjectorOptions({ clock, ...options }));
  ejector.setMembers(members);
  // Every server has answered fine once: 5xx then count as a server standing out.
  for (const id of members) ejector.recordSuccess(id);
  const fail = (id: string, n: number, kind: FailureKind = 'server-error'): boolean[] =>
    Array.from({ length: n }, () => ejector.recordFailure(id, kind));
  return { clock, ejector, fail };
}

describe('OutlierEjector', () => {
  it('ejects after 5 server errors in a row', () => {
    const { ejector, fail, clock } = setup(['a', 'b', 'c']);
    expect(fail('a', 5)).toEqual([false, false, false, false, true]);
    expect(ejector.isEjected('a')).toBe(true);
    expect(ejector.ejectedUntil('a')).toBe(clock.now() + 30_000);
    expect(ejector.isEjected('b')).toBe(false);
    expect(ejector.ejectedUntil('b')).toBeUndefined();
  });

  it('ejects after 3 connect failures or timeouts in a row', () => {
    const { ejector, fail } = setup(['a', 'b', 'c']);
    fail('a', 2, 'connect');
    expect(ejector.recordFailure('a', 'timeout')).toBe(true);
  });

  it('a success ends both failure runs', () => {
    const { ejector, fail } = setup(['a', 'b']);
    fail('a', 4);
    fail('a', 2, 'connect');
    ejector.recordSuccess('a');
    expect(fail('a', 4)).toEqual([false, false, false, false]);
    expect(fail('a', 2, 'connect')).toEqual([false, false]);
    expect(ejector.status('a')).toMatchObject({ consecutiveServerErrors: 4, consecutiveConnectFailures: 2 });
    expect(ejector.recordFailure('a', 'server-error')).toBe(true);
  });

  it('returns the server after the ejection time, reported once by releaseExpired', () => {
    const { ejector, fail, clock } = setup(['a', 'b']);
    fail('a', 5);
    expect(ejector.nextReleaseMs()).toBe(clock.now() + 30_000);
    clock.advance(29_999);
    expect(ejector.releaseExpired()).toEqual([]);
    expect(ejector.isEjected('a')).toBe(true);
    clock.advance(1);
    expect(ejector.isEjected('a')).toBe(false);
    expect(ejector.releaseExpired()).toEqual(['a']);
    expect(ejector.releaseExpired()).toEqual([]);
    expect(ejector.nextReleaseMs()).toBeUndefined();
  });

  it('ignores reports about an ejected server', () => {
    const { ejector, fail, clock } = setup(['a', 'b']);
    fail('a', 5);
    const until = ejector.ejectedUntil('a');
    expect(fail('a', 10)).toEqual(Array(10).fill(false));
    ejector.recordSuccess('a');
    expect(ejector.ejectedUntil('a')).toBe(until);
    clock.advance(30_000);
    expect(ejector.status('a')).toMatchObject({ ejected: false, consecutiveServerErrors: 0 });
  });

  it('grows the ejection time with each ejection, up to the maximum', () => {
    const { ejector, fail, clock } = setup(['a', 'b'], { baseEjectionMs: 1_000, maxEjectionMs: 3_500 });
    const lengths: number[] = [];
    for (let i = 0; i < 6; i++) {
      fail('a', 5);
      const until = ejector.ejectedUntil('a')!;
      lengths.push(until - clock.now());
      clock.advance(until - clock.now()); // failing again right after returning
    }
    expect(lengths).toEqual([1_000, 2_000, 3_000, 3_500, 3_500, 3_500]);
  });

  it('decays the multiplier by one per base ejection time spent healthy', () => {
    const { ejector, fail, clock } = setup(['a', 'b'], { baseEjectionMs: 1_000, maxEjectionMs: 10_000 });
    for (let i = 0; i < 3; i++) {
      fail('a', 5);
      clock.advance(ejector.ejectedUntil('a')! - clock.now());
    }
    expect(ejector.status('a')!.ejections).toBe(3);
    clock.advance(1_999);
    expect(ejector.status('a')!.ejections).toBe(2);
    clock.advance(1);
    expect(ejector.status('a')!.ejections).toBe(1);
    fail('a', 5);
    expect(ejector.ejectedUntil('a')! - clock.now()).toBe(2_000);
    clock.advance(2_000 + 10_000);
    expect(ejector.status('a')!.ejections).toBe(0);
    fail('a', 5);
    expect(ejector.ejectedUntil('a')! - clock.now()).toBe(1_000);
  });

  it('caps the multiplier so a long streak is forgotten in bounded time', () => {
    const { ejector, fail, clock } = setup(['a', 'b'], { baseEjectionMs: 1_000, maxEjectionMs: 2_000 });
    for (let i = 0; i < 20; i++) {
      fail('a', 5);
      clock.advance(ejector.ejectedUntil('a')! - clock.now());
    }
    expect(ejector.status('a')!.ejections).toBe(2);
    clock.advance(2_000);
    expect(ejector.status('a')!.ejections).toBe(0);
  });

  it('never ejects the only server of a pool', () => {
    const { ejector, fail } = setup(['a']);
    expect(fail('a', 50).some(Boolean)).toBe(false);
    expect(fail('a', 50, 'connect').some(Boolean)).toBe(false);
    expect(ejector.isEjected('a')).toBe(false);
  });

  it('keeps at most maxEjectionPercent ejected, but one of two or more may always go', () => {
    const { ejector, fail } = setup(['a', 'b', 'c', 'd'], { maxEjectionPercent: 50 });
    expect(fail('a', 5).at(-1)).toBe(true);
    expect(fail('b', 5).at(-1)).toBe(true);
    expect(fail('c', 5).at(-1)).toBe(false);
    expect(ejector.ejectedCount()).toBe(2);

    const low = setup(['a', 'b', 'c'], { maxEjectionPercent: 10 });
    expect(low.fail('a', 5).at(-1)).toBe(true);
    expect(low.fail('b', 5).at(-1)).toBe(false);
  });

  it('never ejects the last non-ejected member, even at 100 %', () => {
    const { ejector, fail } = setup(['a', 'b', 'c'], { maxEjectionPercent: 100 });
    expect(fail('a', 5).at(-1)).toBe(true);
    expect(fail('b', 5).at(-1)).toBe(true);
    expect(fail('c', 5).at(-1)).toBe(false);
    expect(ejector.ejectedCount()).toBe(2);
  });

  it('a refused ejection keeps the count, so the server goes once room frees up', () => {
    const { ejector, fail, clock } = setup(['a', 'b']);
    fail('a', 5);
    expect(fail('b', 5).at(-1)).toBe(false);
    clock.advance(30_000);
    ejector.recordSuccess('a');
    expect(ejector.recordFailure('b', 'server-error')).toBe(true);
  });

  it('does not eject for 5xx while no other server answers without error', () => {
    const { ejector, fail } = setup(['a', 'b', 'c']);
    // A shared engine is down: every server answers 500.
    for (let i = 0; i < 10; i++) for (const id of ['a', 'b', 'c']) ejector.recordFailure(id, 'server-error');
    expect(ejector.ejectedCount()).toBe(0);
    // One recovers: the others now stand out.
    ejector.recordSuccess('c');
    expect(ejector.recordFailure('a', 'server-error')).toBe(true);
    expect(fail('b', 1)).toEqual([false]); // 50 % of 3: one may go
  });

  it('never ejects a server no other eligible server could stand in for', () => {
    const { ejector } = setup(['a', 'b']);
    ejector.recordFailure('a', 'connect', 0);
    ejector.recordFailure('a', 'connect', 0);
    expect(ejector.recordFailure('a', 'connect', 0)).toBe(false);
    expect(ejector.recordFailure('a', 'connect', 1)).toBe(true);
  });

  it('ejects a stalled server at once, within the cap', () => {
    const { ejector } = setup(['a', 'b', 'c', 'd']);
    expect(ejector.recordFailure('a', 'stall')).toBe(true);
    expect(ejector.recordFailure('b', 'stall')).toBe(true);
    expect(ejector.recordFailure('c', 'stall')).toBe(false);
  });

  it('maxEjectionPercent 0 and limits of 0 disable ejection', () => {
    expect(setup(['a', 'b'], { maxEjectionPercent: 0 }).fail('a', 20).some(Boolean)).toBe(false);
    const noServerErrors = setup(['a', 'b'], { consecutiveServerErrors: 0 });
    expect(noServerErrors.fail('a', 20).some(Boolean)).toBe(false);
    expect(noServerErrors.fail('a', 3, 'connect').at(-1)).toBe(true);
  });

  it('tracks only members, and forgets removed ones', () => {
    const { ejector, fail } = setup(['a', 'b', 'c']);
    expect(fail('x', 10).some(Boolean)).toBe(false);
    expect(ejector.status('x')).toBeUndefined();
    fail('a', 5);
    fail('b', 3);
    ejector.setMembers(['b', 'c', 'd']);
    expect(ejector.isEjected('a')).toBe(false);
    expect(ejector.status('b')!.consecutiveServerErrors).toBe(3);
    expect(ejector.status('d')).toMatchObject({ ejected: false, ejections: 0 });
  });

  it('rejects invalid options with a clear error', () => {
    expect(() => new OutlierEjector(resolveOutlierEjectorOptions({ consecutiveServerErrors: -1 }))).toThrow(BalancerConfigError);
    expect(() => new OutlierEjector(resolveOutlierEjectorOptions({ consecutiveConnectFailures: 1.5 }))).toThrow(/whole number/);
    expect(() => new OutlierEjector(resolveOutlierEjectorOptions({ baseEjectionMs: 0 }))).toThrow(/baseEjectionMs/);
    expect(() => new OutlierEjector(resolveOutlierEjectorOptions({ baseEjectionMs: 10, maxEjectionMs: 5 }))).toThrow(/below/);
    expect(() => new OutlierEjector(resolveOutlierEjectorOptions({ maxEjectionPercent: 101 }))).toThrow(/0 to 100/);
    expect(() => new OutlierEjector(resolveOutlierEjectorOptions({ maxEjectionPercent: Number.NaN }))).toThrow(BalancerConfigError);
  });
});
