import { describe, expect, it } from 'vitest';
import { decide, freshMemory, SCALE_IN_AFTER_SAMPLES, SCALE_OUT_AFTER_SAMPLES } from './autoscale-policy.js';
import type { AutoscaleBounds, Decision } from './autoscale-policy.js';

const bounds: AutoscaleBounds = { min: 1, max: 4, target: 50, cooldownMs: 10_000 };

/** Feeds samples one second apart; returns the decisions. */
function run(samples: Array<[count: number, value: number]>, b = bounds, startMs = 100_000): Decision[] {
  const memory = freshMemory();
  return samples.map(([count, value], i) => decide(b, memory, count, value, startMs + i * 1_000));
}

describe('autoscale policy', () => {
  it('scales out only after the target is exceeded for a few samples, proportionally, capped at max', () => {
    const d = run([[1, 90], [1, 90]]);
    expect(d[0]!.action).toBe('steady');
    expect(SCALE_OUT_AFTER_SAMPLES).toBe(2);
    expect(d[1]).toMatchObject({ action: 'scale-out', to: 2 });
    expect(run([[1, 180], [1, 180]])[1]).toMatchObject({ action: 'scale-out', to: 4 });
    expect(run([[2, 400], [2, 400]])[1]).toMatchObject({ action: 'scale-out', to: 4 });
    // A single busy sample between calm ones does nothing.
    expect(run([[1, 90], [1, 10], [1, 90]]).map((x) => x.action)).toEqual(['steady', 'steady', 'steady']);
  });

  it('holds at max, and says so', () => {
    expect(run([[4, 99], [4, 99]])[1]).toMatchObject({ action: 'hold-at-max', to: 4, reason: expect.stringMatching(/4 is max/) });
  });

  it('scales in one at a time, only when the rest would stay well under the target (no flapping)', () => {
    // 2 × 30 → 60 on one: above the target, so no scale-in.
    expect(run(Array.from({ length: 6 }, () => [2, 30] as [number, number])).every((x) => x.action === 'steady')).toBe(true);
    // 2 × 15 → 30 on one: under 80 % of 50.
    const d = run(Array.from({ length: SCALE_IN_AFTER_SAMPLES }, () => [3, 10] as [number, number]));
    expect(d.at(-1)).toMatchObject({ action: 'scale-in', to: 2 });
    expect(d.slice(0, -1).every((x) => x.action === 'steady')).toBe(true);
    expect(run(Array.from({ length: 6 }, () => [1, 0] as [number, number])).every((x) => x.action === 'steady')).toBe(true);
  });

  it('waits for the cooldown after a change, in both directions', () => {
    const memory = freshMemory();
    const at = (s: number): number => 100_000 + s * 1_000;
    expect(decide(bounds, memory, 1, 90, at(0)).action).toBe('steady');
    expect(decide(bounds, memory, 1, 90, at(1))).toMatchObject({ action: 'scale-out', to: 2 });
    expect(decide(bounds, memory, 2, 90, at(2)).action).toBe('steady');
    expect(decide(bounds, memory, 2, 90, at(3))).toMatchObject({ action: 'cooldown', reason: expect.stringMatching(/cooling down 8000 ms more/) });
    expect(decide(bounds, memory, 2, 90, at(11))).toMatchObject({ action: 'scale-out', to: 4 });
    for (let s = 12; s < 14; s++) expect(decide(bounds, memory, 4, 1, at(s)).action).toBe('steady');
    expect(decide(bounds, memory, 4, 1, at(14)).action).toBe('cooldown');
    expect(decide(bounds, memory, 4, 1, at(21))).toMatchObject({ action: 'scale-in', to: 3 });
  });

  it('brings a count outside the bounds back at once, and starts workers from zero on waiting jobs', () => {
    expect(run([[6, 10]])[0]).toMatchObject({ action: 'scale-in', to: 4 });
    const workers = { min: 0, max: 3, target: 10, cooldownMs: 0 };
    expect(run([[0, 5], [0, 5]], workers)[1]).toMatchObject({ action: 'scale-out', to: 1 });
    expect(run([[0, 0], [0, 0], [0, 0]], workers).every((x) => x.action === 'steady')).toBe(true);
    expect(run([[1, 0], [1, 0], [1, 0]], workers)[2]).toMatchObject({ action: 'scale-in', to: 0 });
  });
});
