import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TurnClock } from './turn-clock.js';

describe('TurnClock', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('reads the clock once per turn, again after 256 calls, and anew in the next turn', async () => {
    let now = 1_000;
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => now);
    const clock = new TurnClock();
    expect(clock.now()).toBe(1_000);
    now = 2_000;
    for (let i = 0; i < 255; i++) expect(clock.now()).toBe(1_000);
    expect(clock.now()).toBe(2_000);
    expect(spy).toHaveBeenCalledTimes(2);
    now = 3_000;
    await nextTurn();
    expect(clock.now()).toBe(3_000);
  });
});
