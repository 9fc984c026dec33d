import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheL2UnavailableError } from '../../src/cache/index.js';
import type { L2Store } from '../../src/cache/index.js';
import { waitFor } from '../support/wait-for.js';

/** Two stores on one engine (two app instances) and a way to remove what the run wrote. */
export interface L2Fixture {
  a: L2Store;
  b: L2Store;
  /** A store of the same kind pointed at an address where nothing listens. */
  unreachable(): L2Store;
  cleanup(): Promise<void>;
}

const HOUR_MS = 3_600_000;

/** The behaviour every L2Store must have, run against a real engine. */
export function describeL2Contract(name: string, open: () => Promise<L2Fixture>): void {
  describe(`${name} cache L2 contract`, () => {
    let f: L2Fixture;
    beforeAll(async () => { f = await open(); });
    afterAll(async () => { await f?.cleanup(); });
    const key = (): string => `k-${randomBytes(6).toString('hex')}`;

    it('stores a value that another instance reads back, and reports missing keys as undefined', async () => {
      const [k1, k2] = [key(), key()];
      await f.a.set(k1, 'one', HOUR_MS);
      expect(await f.b.getMany([k1, k2, k1])).toEqual(['one', undefined, 'one']);
      expect(await f.b.getMany([])).toEqual([]);
    });

    it('answers many concurrent one-key reads each with its own key\'s value (get, when the store has it, and getMany)', async () => {
      const keys = Array.from({ length: 64 }, () => key());
      await Promise.all(keys.map((k, i) => f.a.set(k, `value ${i}`, HOUR_MS)));
      const missing = key();
      const reads = keys.flatMap((k) => [
        f.b.get !== undefined ? f.b.get(k) : f.b.getMany([k]).then((r) => r[0]),
        f.b.getMany([k]).then((r) => r[0]),
        f.b.get !== undefined ? f.b.get(missing) : f.b.getMany([missing]).then((r) => r[0]),
      ]);
      const answers = await Promise.all(reads);
      keys.forEach((_, i) => {
        expect(answers.slice(i * 3, i * 3 + 2)).toEqual([`value ${i}`, `value ${i}`]);
        expect(answers[i * 3 + 2] ?? undefined).toBeUndefined();
      });
    });

    it('round-trips awkward keys and values', async () => {
      const keys = [`ключ ${key()} with spaces`, `${key()}:${'x'.repeat(400)}`, `${key()}\n\t{}`];
      const value = `{"v":"значение ✓ 🛒","q":"\\"quoted\\""} ${'y'.repeat(100_000)}`;
      for (const k of keys) await f.a.set(k, value, HOUR_MS);
      expect(await f.b.getMany(keys)).toEqual([value, value, value]);
    });

    it('set replaces, delete removes, and deleting a missing key is fine', async () => {
      const k = key();
      await f.a.set(k, 'old', HOUR_MS);
      await f.b.set(k, 'new', HOUR_MS);
      expect(await f.a.getMany([k])).toEqual(['new']);
      await f.b.delete(k);
      expect(await f.a.getMany([k])).toEqual([undefined]);
      await f.a.delete(k);
    });

    it('an entry disappears once its TTL has passed; one without TTL stays', async () => {
      const [short, forever] = [key(), key()];
      await f.a.set(short, 'x', 300);
      await f.a.set(forever, 'y', undefined);
      expect(await f.b.getMany([short])).toEqual(['x']);
      await waitFor('the short entry to expire', async () => (await f.b.getMany([short]))[0] === undefined, { timeoutMs: 5_000, intervalMs: 50 });
      expect(await f.b.getMany([forever])).toEqual(['y']);
    });

    it('add stores only when the key is missing: exactly one of 20 racing instances wins', async () => {
      const k = key();
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? f.a : f.b).add(k, `holder-${i}`, HOUR_MS)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect(await f.a.getMany([k])).toEqual([`holder-${winner}`]);
    });

    it('add succeeds again once the previous value expired (a dead lease holder blocks no one for long)', async () => {
      const k = key();
      expect(await f.a.add(k, 'first', 300)).toBe(true);
      expect(await f.b.add(k, 'second', 300)).toBe(false);
      await waitFor('the lease to expire and be taken again', () => f.b.add(k, 'second', HOUR_MS), { timeoutMs: 5_000, intervalMs: 50 });
      expect(await f.a.getMany([k])).toEqual(['second']);
    });

    it('add succeeds after delete, and add without TTL keeps the value', async () => {
      const k = key();
      expect(await f.a.add(k, 'v1', undefined)).toBe(true);
      await f.a.delete(k);
      expect(await f.b.add(k, 'v2', undefined)).toBe(true);
      expect(await f.a.getMany([k])).toEqual(['v2']);
    });

    it('fails fast with CacheL2UnavailableError when the engine is unreachable', async () => {
      const store = f.unreachable();
      try {
        const started = performance.now();
        await expect(store.getMany([key()])).rejects.toBeInstanceOf(CacheL2UnavailableError);
        await expect(store.set(key(), 'x', HOUR_MS)).rejects.toBeInstanceOf(CacheL2UnavailableError);
        await expect(store.add(key(), 'x', HOUR_MS)).rejects.toBeInstanceOf(CacheL2UnavailableError);
        expect(performance.now() - started).toBeLessThan(10_000);
      } finally {
        await store.close();
      }
    });
  });
}
