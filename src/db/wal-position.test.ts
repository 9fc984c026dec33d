import { describe, expect, it } from 'vitest';
import { ReadAfterCall } from './wal-position.js';

describe('ReadAfterCall', () => {
  it('answers every caller from a read started after it called, sharing reads among callers', async () => {
    const started: { n: number; resolve: () => void }[] = [];
    let reads = 0;
    const shared = new ReadAfterCall<number>(() => {
      const n = ++reads;
      return new Promise<number>((resolve) => started.push({ n, resolve: () => resolve(n) }));
    });
    const a = shared.after();
    expect(started.map((s) => s.n)).toEqual([1]);
    // Called while read 1 runs: read 1 may have started before their writes committed.
    const b = shared.after();
    const c = shared.after();
    expect(b).toBe(c);
    expect(started).toHaveLength(1);
    started[0]?.resolve();
    expect(await a).toBe(1);
    await Promise.resolve();
    expect(started.map((s) => s.n)).toEqual([1, 2]);
    const d = shared.after();
    started[1]?.resolve();
    expect(await b).toBe(2);
    expect(await c).toBe(2);
    await Promise.resolve();
    expect(started.map((s) => s.n)).toEqual([1, 2, 3]);
    started[2]?.resolve();
    expect(await d).toBe(3);
    // Idle again: a new call starts a read at once.
    const e = shared.after();
    expect(started).toHaveLength(4);
    started[3]?.resolve();
    expect(await e).toBe(4);
  });
});
