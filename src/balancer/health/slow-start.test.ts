import { describe, expect, it } from 'vitest';
import { DEFAULT_SLOW_START_WINDOW_MS, isSlowStartOver, slowStartWeight } from './slow-start.js';

describe('slowStartWeight', () => {
  it('ramps linearly from 10% to 100% over the window', () => {
    expect(slowStartWeight(100, 1_000, 1_000, 10_000)).toBeCloseTo(10);
    expect(slowStartWeight(100, 1_000, 6_000, 10_000)).toBeCloseTo(55);
    expect(slowStartWeight(100, 1_000, 10_000, 10_000)).toBeCloseTo(91);
    expect(slowStartWeight(100, 1_000, 11_000, 10_000)).toBe(100);
    expect(slowStartWeight(100, 1_000, 1_000_000, 10_000)).toBe(100);
  });

  it('uses the default window', () => {
    expect(DEFAULT_SLOW_START_WINDOW_MS).toBe(10_000);
    expect(slowStartWeight(10, 0, 5_000)).toBeCloseTo(5.5);
  });

  it('is never 0 for a positive weight, also when the clock stepped back', () => {
    expect(slowStartWeight(1, 5_000, 0, 10_000)).toBeCloseTo(0.1);
    expect(slowStartWeight(1e-9, 0, 0, 10_000)).toBeGreaterThan(0);
  });

  it('is disabled by a window of 0 and leaves non-positive weights alone', () => {
    expect(slowStartWeight(7, 0, 0, 0)).toBe(7);
    expect(slowStartWeight(0, 0, 0, 10_000)).toBe(0);
    expect(slowStartWeight(7, Number.NaN, 0, 10_000)).toBe(7);
  });

  it('says when the ramp is over', () => {
    expect(isSlowStartOver(0, 9_999, 10_000)).toBe(false);
    expect(isSlowStartOver(0, 10_000, 10_000)).toBe(true);
    expect(isSlowStartOver(0, 0, 0)).toBe(true);
  });
});
