import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait-for.js';
import { RestartTimer } from './restart-timer.js';

describe('RestartTimer', () => {
  it('restarts after the backoff delay, keeps one restart pending, and cancels it', async () => {
    const timer = new RestartTimer({ initialMs: 20, maxMs: 1000, immediate: 1 });
    const restarted: string[] = [];
    expect(timer.schedule(() => restarted.push('first'))).toBe(0);
    expect(timer.pending).toBe(true);
    await waitFor('the first restart', () => restarted.length === 1);
    expect(timer.pending).toBe(false);
    expect(timer.schedule(() => restarted.push('second'))).toBe(20);
    // A second schedule replaces the pending restart: one process, one restart.
    expect(timer.schedule(() => restarted.push('third'))).toBe(40);
    expect(timer.crashesInARow).toBe(3);
    await waitFor('the replacing restart', () => restarted.length === 2);
    expect(restarted).toEqual(['first', 'third']);
    timer.schedule(() => restarted.push('cancelled'));
    timer.cancel();
    expect(timer.pending).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(restarted).toEqual(['first', 'third']);
  });
});
