import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newSessionId, SessionFieldNotIntegerError, SessionInputError, SessionStoreUnavailableError,
} from '../../src/session/index.js';
import type { SessionFields, SessionStore } from '../../src/session/index.js';
import { waitFor } from '../support/wait-for.js';

/** Two stores on one engine (two app instances) and a way to remove what the run wrote. */
export interface StoreFixture {
  a: SessionStore;
  b: SessionStore;
  /** A store of the same kind pointed at an address where nothing listens. */
  unreachable(): SessionStore;
  cleanup(): Promise<void>;
}

const HOUR_MS = 3_600_000;

/**
 * The behaviour every SessionStore must have, run against a real engine. Both stores of
 * the fixture share one engine, like two app instances do.
 */
export function describeStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name} session store contract`, () => {
    let f: StoreFixture;
    beforeAll(async () => { f = await open(); });
    afterAll(async () => { await f?.cleanup(); });

    async function fresh(fields: SessionFields = {}, ttlMs = HOUR_MS, userId?: string): Promise<string> {
      const id = newSessionId();
      await f.a.create(id, fields, ttlMs, userId);
      return id;
    }

    it('creates a session and reads back its fields, user and remaining life', async () => {
      const id = await fresh({ s: 'text', n: 42, o: { nested: [1, 'two', { three: true }] }, b: false, z: null }, HOUR_MS, 'u-1');
      const stored = await f.b.getAll(id);
      expect(stored?.fields).toEqual({ s: 'text', n: 42, o: { nested: [1, 'two', { three: true }] }, b: false, z: null });
      expect(stored?.userId).toBe('u-1');
      expect(stored?.expiresInMs).toBeGreaterThan(HOUR_MS - 60_000);
      expect(stored?.expiresInMs).toBeLessThanOrEqual(HOUR_MS);
    });

    it('keeps a session that has no fields, and has no user when none was given', async () => {
      const id = await fresh();
      expect(await f.a.getAll(id)).toMatchObject({ fields: {}, userId: undefined });
    });

    it('returns undefined for an id it never saw', async () => {
      expect(await f.a.getAll(newSessionId())).toBeUndefined();
    });

    it('round-trips awkward names and values', async () => {
      const fields: SessionFields = {
        'cart:42': 3, 'a.b c': 'x', 'ключ': 'значение ✓ 🛒', '{}': '"quoted" \\ back', big: 'x'.repeat(100_000),
        literal: '\\u0000 is text here', neg: -7, float: 0.25, list: [], empty: '',
      };
      const id = await fresh(fields);
      expect((await f.a.getAll(id))?.fields).toEqual(fields);
    });

    it('setFields changes only the given fields; deleteFields removes', async () => {
      const id = await fresh({ keep: 1, change: 'old', gone: true });
      expect(await f.a.setFields(id, { change: 'new', added: [1] })).toBe(true);
      expect(await f.b.deleteFields(id, ['gone', 'never-there'])).toBe(true);
      expect((await f.a.getAll(id))?.fields).toEqual({ keep: 1, change: 'new', added: [1] });
      expect(await f.a.setFields(id, {})).toBe(true);
      expect(await f.a.deleteFields(id, [])).toBe(true);
    });

    it('incrementField counts from 0, goes negative, and reads back as a number', async () => {
      const id = await fresh({ n: 5 });
      expect(await f.a.incrementField(id, 'n', 2)).toBe(7);
      expect(await f.a.incrementField(id, 'fresh', -3)).toBe(-3);
      expect((await f.b.getAll(id))?.fields).toEqual({ n: 7, fresh: -3 });
    });

    it('50 concurrent increments of one field through two store instances give exactly 50', async () => {
      const id = await fresh();
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? f.a : f.b).incrementField(id, 'cart:1', 1)));
      expect((await f.a.getAll(id))?.fields['cart:1']).toBe(50);
      // Each increment saw a distinct value: none was lost or applied twice.
      expect(new Set(results).size).toBe(50);
    });

    it('concurrent setFields of different fields through two instances all survive', async () => {
      const id = await fresh();
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? f.a : f.b).setFields(id, { [`f${i}`]: i })));
      const fields = (await f.a.getAll(id))?.fields ?? {};
      expect(Object.keys(fields)).toHaveLength(40);
      for (let i = 0; i < 40; i++) expect(fields[`f${i}`]).toBe(i);
    });

    it('incrementField refuses a field that holds something other than an integer', async () => {
      const id = await fresh({ s: 'abc', f: 1.5, o: { a: 1 }, z: null, numText: '5' });
      for (const key of ['s', 'f', 'o', 'z', 'numText']) {
        await expect(f.a.incrementField(id, key, 1)).rejects.toBeInstanceOf(SessionFieldNotIntegerError);
      }
      expect((await f.a.getAll(id))?.fields).toEqual({ s: 'abc', f: 1.5, o: { a: 1 }, z: null, numText: '5' });
    });

    it('writes to a destroyed session change nothing and do not recreate it', async () => {
      const id = await fresh({ a: 1 });
      await f.b.destroy(id);
      expect(await f.a.setFields(id, { a: 2 })).toBe(false);
      expect(await f.a.deleteFields(id, ['a'])).toBe(false);
      expect(await f.a.incrementField(id, 'n', 1)).toBeUndefined();
      expect(await f.a.touch(id, HOUR_MS)).toBe(false);
      expect(await f.a.regenerate(id, newSessionId(), { ttlMs: HOUR_MS })).toBe(false);
      expect(await f.a.getAll(id)).toBeUndefined();
      await f.a.destroy(id); // destroying twice is fine
    });

    it('a destroy racing many writes from another instance wins: the session stays gone', async () => {
      for (let round = 0; round < 5; round++) {
        const id = await fresh({ a: 0 });
        const writes = Array.from({ length: 30 }, (_, i) => {
          const s = i % 2 === 0 ? f.a : f.b;
          switch (i % 4) {
            case 0: return s.setFields(id, { [`w${i}`]: i });
            case 1: return s.incrementField(id, 'n', 1);
            case 2: return s.touch(id, HOUR_MS);
            default: return s.deleteFields(id, ['a']);
          }
        });
        await Promise.all([...writes.slice(0, 15), f.b.destroy(id), ...writes.slice(15)]);
        expect(await f.a.getAll(id)).toBeUndefined();
        expect(await f.b.setFields(id, { late: true })).toBe(false);
        expect(await f.a.getAll(id)).toBeUndefined();
      }
    });

    it('destroyAllForUser deletes every session of that user and no other', async () => {
      const user = `user-${newSessionId()}`;
      const mine = [await fresh({}, HOUR_MS, user), await fresh({}, HOUR_MS, user), await fresh({}, HOUR_MS, user)];
      const other = await fresh({}, HOUR_MS, `other-${newSessionId()}`);
      const anonymous = await fresh();
      expect(await f.b.destroyAllForUser(user)).toBe(3);
      for (const id of mine) expect(await f.a.getAll(id)).toBeUndefined();
      expect(await f.a.getAll(other)).toBeDefined();
      expect(await f.a.getAll(anonymous)).toBeDefined();
      expect(await f.a.destroyAllForUser(user)).toBe(0);
    });

    it('destroyAllForUser does not count sessions already destroyed one by one', async () => {
      const user = `user-${newSessionId()}`;
      const first = await fresh({}, HOUR_MS, user);
      await fresh({}, HOUR_MS, user);
      await f.a.destroy(first);
      expect(await f.a.destroyAllForUser(user)).toBe(1);
    });

    it('regenerate moves the fields to the new id and the old id stops working', async () => {
      const oldId = await fresh({ cart: 2 });
      const newId = newSessionId();
      expect(await f.a.regenerate(oldId, newId, { ttlMs: HOUR_MS, fields: { step: 'paid' } })).toBe(true);
      expect(await f.b.getAll(oldId)).toBeUndefined();
      expect((await f.b.getAll(newId))?.fields).toEqual({ cart: 2, step: 'paid' });
      expect(await f.b.setFields(oldId, { cart: 99 })).toBe(false);
      expect(await f.b.getAll(oldId)).toBeUndefined();
      expect(await f.a.regenerate(oldId, newSessionId(), { ttlMs: HOUR_MS })).toBe(false);
    });

    it('regenerate with a user indexes the new id under it and keeps the user when none is given', async () => {
      const first = `user-${newSessionId()}`;
      const second = `user-${newSessionId()}`;
      const id1 = await fresh({ cart: 1 });
      const id2 = newSessionId();
      expect(await f.a.regenerate(id1, id2, { ttlMs: HOUR_MS, userId: first, fields: { userId: first } })).toBe(true);
      expect(await f.a.getAll(id2)).toMatchObject({ userId: first, fields: { cart: 1, userId: first } });
      const id3 = newSessionId();
      expect(await f.a.regenerate(id2, id3, { ttlMs: HOUR_MS })).toBe(true);
      expect((await f.a.getAll(id3))?.userId).toBe(first);
      // Log in as someone else: the session leaves the first user's index.
      const id4 = newSessionId();
      expect(await f.a.regenerate(id3, id4, { ttlMs: HOUR_MS, userId: second })).toBe(true);
      expect(await f.b.destroyAllForUser(first)).toBe(0);
      expect(await f.a.getAll(id4)).toBeDefined();
      expect(await f.b.destroyAllForUser(second)).toBe(1);
      expect(await f.a.getAll(id4)).toBeUndefined();
    });

    it('sessions expire after their TTL', async () => {
      const id = await fresh({ a: 1 }, 300);
      expect(await f.a.getAll(id)).toBeDefined();
      await waitFor('the session to expire', async () => (await f.b.getAll(id)) === undefined);
      expect(await f.a.setFields(id, { a: 2 })).toBe(false);
      expect(await f.a.getAll(id)).toBeUndefined();
    });

    it('touch extends the life without touching the fields', async () => {
      const id = await fresh({ a: 1 }, 5_000);
      expect((await f.a.getAll(id))?.expiresInMs).toBeLessThanOrEqual(5_000);
      expect(await f.b.touch(id, HOUR_MS)).toBe(true);
      const stored = await f.a.getAll(id);
      expect(stored?.expiresInMs).toBeGreaterThan(5_000);
      expect(stored?.fields).toEqual({ a: 1 });
      // And shortens it, when asked to: the session then expires.
      expect(await f.a.touch(id, 200)).toBe(true);
      await waitFor('the touched session to expire', async () => (await f.a.getAll(id)) === undefined);
    });

    it('refuses bad input with SessionInputError before reaching the engine', async () => {
      const id = await fresh();
      const bad: Array<() => Promise<unknown>> = [
        () => f.a.setFields(id, { '': 1 }),
        () => f.a.setFields(id, { 'a\u0000b': 1 }),
        () => f.a.setFields(id, { a: undefined as never }),
        () => f.a.setFields(id, { a: (() => 1) as never }),
        () => f.a.setFields(id, { a: 10n as never }),
        () => f.a.setFields(id, { a: Number.NaN }),
        () => f.a.setFields(id, { a: 'nul \u0000 inside' }),
        () => f.a.setFields(id, { ['x'.repeat(300)]: 1 }),
        () => f.a.incrementField(id, 'n', 1.5),
        () => f.a.incrementField(id, 'n', Number.MAX_SAFE_INTEGER + 2),
        () => f.a.deleteFields(id, ['']),
        () => f.a.create(newSessionId(), {}, 0),
        () => f.a.create('', {}, 1000),
        () => f.a.touch(id, -1),
        () => f.a.destroyAllForUser(''),
      ];
      for (const op of bad) await expect(op()).rejects.toBeInstanceOf(SessionInputError);
      expect((await f.a.getAll(id))?.fields).toEqual({});
    });

    it('fails fast with SessionStoreUnavailableError when the engine cannot be reached', async () => {
      const store = f.unreachable();
      try {
        const id = newSessionId();
        const ops: Array<() => Promise<unknown>> = [
          () => store.getAll(id), () => store.create(id, {}, 1000), () => store.setFields(id, { a: 1 }),
          () => store.incrementField(id, 'a', 1), () => store.touch(id, 1000), () => store.destroy(id),
          () => store.destroyAllForUser('u'), () => store.regenerate(id, newSessionId(), { ttlMs: 1000 }),
        ];
        for (const op of ops) {
          const err = await op().then(() => undefined, (e: unknown) => e);
          expect(err).toBeInstanceOf(SessionStoreUnavailableError);
          expect(err).toMatchObject({ code: 'SCALEOUT_SESSION_STORE_UNAVAILABLE', retriable: true, status: 503 });
        }
      } finally {
        await store.close();
      }
    }, 20_000);
  });
}
