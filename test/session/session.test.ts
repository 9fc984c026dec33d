import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  RedisSessionStore, SessionInputError, SessionManager, SessionOptionsError,
} from '../../src/session/index.js';
import type { Session, SessionStore } from '../../src/session/index.js';

// The session core against a real Redis; a counting wrapper (not a fake) shows how
// many round trips each request makes.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `scaleout-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
const keys = [{ id: 'k1', secret: 'a'.repeat(32) }];
const TTL_MS = 60_000;

type Calls = Record<string, number>;
function counting(store: SessionStore): { store: SessionStore; calls: Calls } {
  const calls: Calls = {};
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        calls[prop] = (calls[prop] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: wrapped, calls };
}

const redisA = new RedisSessionStore({ url: REDIS_URL, keyPrefix: prefix });
const redisB = new RedisSessionStore({ url: REDIS_URL, keyPrefix: prefix });
afterAll(async () => {
  await redisA.close();
  await redisB.close();
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (found.length > 0) await redis.del(...found);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
});

/** Two instances (two managers, two store connections) sharing one Redis. */
function instances(options: { touchIntervalMs?: number; persistent?: boolean } = {}) {
  const a = counting(redisA);
  const b = counting(redisB);
  const make = (store: SessionStore) => new SessionManager({
    store, keys, ttlMs: TTL_MS, touchIntervalMs: options.touchIntervalMs ?? 10_000,
    cookie: { persistent: options.persistent ?? false },
  });
  return { a: make(a.store), b: make(b.store), callsA: a.calls, callsB: b.calls };
}

/** The Cookie request header a browser would send back after `session`'s response. */
function cookieFrom(session: Session): string {
  const header = session.setCookieHeader;
  if (header === undefined) throw new Error('no Set-Cookie');
  return header.split(';')[0]!;
}

describe('Session', () => {
  it('costs nothing when a request never uses it', () => {
    const { a, callsA } = instances();
    const session = a.forRequest('scaleout_sid=whatever; other=1', false);
    expect(session.setCookieHeader).toBeUndefined();
    expect(callsA).toEqual({});
  });

  it('starts a session on the first write and sets a signed, HttpOnly, SameSite=Lax cookie', async () => {
    const { a, callsA } = instances();
    const session = a.forRequest(undefined, false);
    expect(session.id).toBeUndefined();
    await session.set('theme', 'dark');
    expect(session.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.setCookieHeader).toMatch(/^scaleout_sid=[A-Za-z0-9_-]{43}\.k1\.[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(callsA).toEqual({ create: 1 });
  });

  it('adds Secure only for https requests, and Max-Age only for persistent cookies', async () => {
    const { a } = instances({ persistent: true });
    const https = a.forRequest(undefined, true);
    await https.set('x', 1);
    expect(https.setCookieHeader).toMatch(/; Max-Age=60; Secure$/);
    const plain = instances().a.forRequest(undefined, false);
    await plain.set('x', 1);
    expect(plain.setCookieHeader).not.toMatch(/Secure|Max-Age/);
  });

  it('loads once per request with one getAll and serves later reads from memory', async () => {
    const { a, b, callsB } = instances();
    const first = a.forRequest(undefined, false);
    await first.setMany({ a: 1, b: { c: [2] } });
    const second = b.forRequest(cookieFrom(first), false);
    expect(await second.get('a')).toBe(1);
    expect(await second.get('b')).toEqual({ c: [2] });
    expect(await second.all()).toEqual({ a: 1, b: { c: [2] } });
    expect(await second.get('missing')).toBeUndefined();
    expect(callsB).toEqual({ getAll: 1 });
    // Writes update the copy in memory: no second load.
    await second.set('a', 2);
    expect(await second.increment('n', 5)).toBe(5);
    await second.delete('b');
    expect(await second.all()).toEqual({ a: 2, n: 5 });
    expect(callsB).toEqual({ getAll: 1, setFields: 1, incrementField: 1, deleteFields: 1 });
    expect(second.setCookieHeader).toBeUndefined();
  });

  it('keeps values as JSON gives them back, in memory too', async () => {
    const { a } = instances();
    const session = a.forRequest(undefined, false);
    const when = new Date(0);
    await session.set('when', when);
    await session.get('when');
    expect(await session.get('when')).toBe(when.toISOString());
    await expect(session.set('bad', () => 1)).rejects.toBeInstanceOf(SessionInputError);
    await expect(session.set('bad', undefined)).rejects.toBeInstanceOf(SessionInputError);
  });

  it('ignores a forged, tampered or garbled cookie and starts a fresh session when needed', async () => {
    const { a, callsA } = instances();
    const real = a.forRequest(undefined, false);
    await real.set('secret', 's3cret');
    const realCookie = cookieFrom(real);
    const forger = new SessionManager({ store: redisA, keys: [{ id: 'k1', secret: 'b'.repeat(32) }] });
    const forgedSession = forger.forRequest(undefined, false);
    await forgedSession.set('x', 1);
    const bad = [
      cookieFrom(forgedSession),
      realCookie.slice(0, -1) + (realCookie.endsWith('A') ? 'B' : 'A'),
      `scaleout_sid=${real.id}`,
      'scaleout_sid=%E0%A4%A',
      'scaleout_sid="unterminated',
      'scaleout_sid=a.b.c',
      `scaleout_sid=${'x'.repeat(5000)}`,
      ';;;==;scaleout_sid',
      '\u0000\u00ff',
    ];
    for (const header of bad) {
      const session = a.forRequest(header, false);
      expect(session.id).toBeUndefined();
      expect(await session.all()).toEqual({});
      await session.set('fresh', true);
      expect(session.id).not.toBe(real.id);
      expect(await session.get('secret')).toBeUndefined();
    }
    expect(callsA.getAll ?? 0).toBe(0);
  });

  it('slides expiry with at most one touch per touch interval', async () => {
    const { a, b, callsB } = instances({ touchIntervalMs: 10_000 });
    const first = a.forRequest(undefined, false);
    await first.set('a', 1);
    const cookie = cookieFrom(first);
    await b.forRequest(cookie, false).all();
    expect(callsB.touch ?? 0).toBe(0);
    // As if 20 s had passed since the last touch: the next read touches, once.
    await redisA.touch(first.id!, TTL_MS - 20_000);
    const late = b.forRequest(cookie, false);
    await late.all();
    await late.get('a');
    expect(callsB.touch).toBe(1);
    await expect.poll(async () => (await redisA.getAll(first.id!))?.expiresInMs).toBeGreaterThan(TTL_MS - 10_000);
    await b.forRequest(cookie, false).all();
    expect(callsB.touch).toBe(1);
  });

  it('serialises one request\'s concurrent calls: two writes on a fresh visitor make one session', async () => {
    const { a, callsA } = instances();
    const session = a.forRequest(undefined, false);
    await Promise.all([session.set('a', 1), session.increment('n'), session.get('a'), session.set('b', 2)]);
    expect(callsA.create).toBe(1);
    expect(await redisA.getAll(session.id!)).toMatchObject({ fields: { a: 1, n: 1, b: 2 } });
  });

  it('login moves the session to a new id, keeps the cart and sets userId', async () => {
    const { a, b } = instances();
    const anonymous = a.forRequest(undefined, false);
    await anonymous.increment('cart:42', 2);
    const before = anonymous.id!;
    const loginRequest = b.forRequest(cookieFrom(anonymous), false);
    await loginRequest.login('user-7');
    expect(loginRequest.id).not.toBe(before);
    expect(loginRequest.setCookieHeader).toBeDefined();
    expect(await redisA.getAll(before)).toBeUndefined();
    const next = a.forRequest(cookieFrom(loginRequest), false);
    expect(await next.all()).toEqual({ 'cart:42': 2, userId: 'user-7' });
    // The old cookie now leads nowhere.
    expect(await a.forRequest(cookieFrom(anonymous), false).get('userId')).toBeUndefined();
  });

  it('login without a session creates one; numeric user ids stay numbers in the field', async () => {
    const { a } = instances();
    const session = a.forRequest(undefined, false);
    await session.login(42);
    expect(await session.get('userId')).toBe(42);
    expect((await redisA.getAll(session.id!))?.userId).toBe('42');
    await expect(session.set('userId', 43)).rejects.toBeInstanceOf(SessionInputError);
    await expect(session.delete('userId')).rejects.toBeInstanceOf(SessionInputError);
    await expect(session.login('')).rejects.toBeInstanceOf(SessionInputError);
  });

  it('logout deletes the session and clears the cookie', async () => {
    const { a, b } = instances();
    const s = a.forRequest(undefined, false);
    await s.login('u-logout');
    const cookie = cookieFrom(s);
    const out = b.forRequest(cookie, true);
    await out.logout();
    expect(out.id).toBeUndefined();
    expect(out.setCookieHeader).toBe('scaleout_sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure');
    expect(await a.forRequest(cookie, false).all()).toEqual({});
  });

  it('a slow request that writes after a logout does not bring the session back', async () => {
    const { a, b } = instances();
    const s = a.forRequest(undefined, false);
    await s.login('u-slow');
    const cookie = cookieFrom(s);
    const slow = a.forRequest(cookie, false);
    expect(await slow.get('userId')).toBe('u-slow');
    await b.forRequest(cookie, false).logout();
    await slow.increment('cart:1', 1);
    // The write landed in a new anonymous session, never in the logged-out one.
    expect(slow.id).not.toBe(s.id);
    expect(await redisA.getAll(s.id!)).toBeUndefined();
    expect(await slow.all()).toEqual({ 'cart:1': 1 });
    expect(await a.forRequest(cookieFrom(slow), false).get('userId')).toBeUndefined();
  });

  it('logoutEverywhere ends the user\'s sessions on every device', async () => {
    const { a, b } = instances();
    const user = `u-${randomBytes(4).toString('hex')}`;
    const phone = a.forRequest(undefined, false);
    await phone.login(user);
    const laptop = b.forRequest(undefined, false);
    await laptop.login(user);
    const other = a.forRequest(undefined, false);
    await other.login(`${user}-other`);
    const fromLaptop = b.forRequest(cookieFrom(laptop), false);
    expect(await fromLaptop.logoutEverywhere()).toBe(2);
    expect(await a.forRequest(cookieFrom(phone), false).get('userId')).toBeUndefined();
    expect(await a.forRequest(cookieFrom(other), false).get('userId')).toBe(`${user}-other`);
    expect(fromLaptop.setCookieHeader).toMatch(/Max-Age=0/);
  });

  it('a cookie for an expired session reads as empty and is cleared', async () => {
    const { a } = instances();
    const s = a.forRequest(undefined, false);
    await s.set('a', 1);
    await redisA.destroy(s.id!);
    const again = a.forRequest(cookieFrom(s), false);
    expect(await again.get('a')).toBeUndefined();
    expect(again.id).toBeUndefined();
    expect(again.setCookieHeader).toMatch(/Max-Age=0/);
  });

  it('regenerate() moves to a new id and keeps fields and user', async () => {
    const { a } = instances();
    const s = a.forRequest(undefined, false);
    await s.login('u-regen');
    const before = s.id;
    await s.regenerate();
    expect(s.id).not.toBe(before);
    expect((await redisA.getAll(s.id!))?.userId).toBe('u-regen');
  });

  it('refuses invalid options with clear errors', () => {
    expect(() => new SessionManager({ store: redisA, keys: [] })).toThrow(SessionOptionsError);
    expect(() => new SessionManager({ store: undefined as never, keys })).toThrow(/store/);
    expect(() => new SessionManager({ store: redisA, keys, ttlMs: 10 })).toThrow(/ttlMs/);
    expect(() => new SessionManager({ store: redisA, keys, ttlMs: 5000, touchIntervalMs: 5000 })).toThrow(/touchIntervalMs/);
    expect(() => new SessionManager({ store: redisA, keys, cookie: { name: 'bad name' } })).toThrow(/cookie name/);
    expect(() => new SessionManager({ store: redisA, keys, cookie: { sameSite: 'none', secure: false } })).toThrow(/SameSite=None/);
    expect(() => new SessionManager({ store: redisA, keys: [{ id: 'k', secret: 'short' }] })).toThrow(/16 bytes/);
  });
});
