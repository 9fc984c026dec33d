import { describe, expect, it } from 'vitest';
import { ProgressWriter } from './progress-writer.js';

describe('ProgressWriter', () => {
  it('writes the first value at once and only the last of those set while it was in flight', async () => {
    const written: unknown[] = [];
    let release: (() => void) | undefined;
    const writer = new ProgressWriter(async (value) => {
      written.push(value);
      await new Promise<void>((resolve) => { release = resolve; });
    });
    const calls = [1, 2, 3, 4].map((n) => writer.set(n));
    await Promise.resolve();
    expect(written).toEqual([1]);
    release!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(written).toEqual([1, 4]);
    release!();
    await Promise.all(calls);
    await writer.flush();
    expect(written).toEqual([1, 4]);
  });

  it('rejects the calls whose write failed and goes on with later values', async () => {
    const written: unknown[] = [];
    const writer = new ProgressWriter(async (value) => {
      if (value === 'bad') throw new Error('engine away');
      written.push(value);
    });
    await expect(writer.set('bad')).rejects.toThrow('engine away');
    await writer.set('good');
    await writer.flush();
    expect(written).toEqual(['good']);
  });
});
