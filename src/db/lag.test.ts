import { describe, expect, it } from 'vitest';
import { computeLag, withinLagBounds } from './lag.js';

const base = { primaryLsn: 1000n, replayLsn: 1000n, replayAgeMs: 3_600_000, caughtUpAtMs: undefined, nowMs: 10_000 };

describe('computeLag', () => {
  it('is zero for a replica that has everything, however old its last replayed commit (idle primary)', () => {
    expect(computeLag(base)).toEqual({ lagBytes: 0, lagMs: 0, caughtUp: true });
    expect(computeLag({ ...base, replayLsn: 1200n })).toEqual({ lagBytes: 0, lagMs: 0, caughtUp: true });
  });

  it('counts bytes behind the primary and bounds time by the last moment it was caught up', () => {
    const lag = computeLag({ ...base, replayLsn: 400n, caughtUpAtMs: 9_700 });
    expect(lag).toEqual({ lagBytes: 600, lagMs: 300, caughtUp: false });
  });

  it('uses the replay timestamp age when it is the tighter bound', () => {
    const lag = computeLag({ ...base, replayLsn: 400n, replayAgeMs: 120, caughtUpAtMs: 1_000 });
    expect(lag.lagMs).toBe(120);
  });

  it('grows while replay is paused and writes continue', () => {
    const at = (nowMs: number) => computeLag({ ...base, primaryLsn: BigInt(nowMs), replayLsn: 1000n, replayAgeMs: nowMs - 1_000, caughtUpAtMs: 1_000, nowMs });
    expect(at(2_000).lagMs).toBe(1_000);
    expect(at(5_000).lagMs).toBe(4_000);
    expect(at(5_000).lagBytes).toBe(4_000);
  });

  it('is unknown when the replica never reported a replay position', () => {
    expect(computeLag({ ...base, replayLsn: undefined })).toEqual({ lagBytes: undefined, lagMs: undefined, caughtUp: false });
  });

  it('falls back to the replay age when no primary has been seen', () => {
    expect(computeLag({ ...base, primaryLsn: undefined, replayAgeMs: 50 })).toEqual({ lagBytes: undefined, lagMs: 50, caughtUp: false });
    expect(computeLag({ ...base, primaryLsn: undefined, replayAgeMs: undefined }).lagMs).toBeUndefined();
  });

  it('never reports negative time from clock skew', () => {
    expect(computeLag({ ...base, replayLsn: 1n, replayAgeMs: -40, caughtUpAtMs: undefined }).lagMs).toBe(0);
    expect(computeLag({ ...base, replayLsn: 1n, replayAgeMs: undefined, caughtUpAtMs: 20_000 }).lagMs).toBe(0);
  });
});

describe('withinLagBounds', () => {
  it('applies the time bound and the optional byte bound', () => {
    expect(withinLagBounds({ lagBytes: 10, lagMs: 100, caughtUp: false }, 1000, undefined)).toBe(true);
    expect(withinLagBounds({ lagBytes: 10, lagMs: 1001, caughtUp: false }, 1000, undefined)).toBe(false);
    expect(withinLagBounds({ lagBytes: 10, lagMs: 100, caughtUp: false }, 1000, 5)).toBe(false);
    expect(withinLagBounds({ lagBytes: undefined, lagMs: 100, caughtUp: false }, 1000, 5)).toBe(false);
    expect(withinLagBounds({ lagBytes: undefined, lagMs: undefined, caughtUp: false }, 1000, undefined)).toBe(false);
  });
});
