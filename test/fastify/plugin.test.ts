import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scaleout, ScaleoutPluginOptionsError } from '../../src/fastify/index.js';
import { PostgresSessionStore, RedisSessionStore } from '../../src/session/index.js';
import type { SessionStore } from '../../src/session/index.js';
import { baseUrl, shopApp, TEST_KEYS } from './shop-app.js';
import { request } from '../support/http-client.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.SCALEOUT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = randomBytes(4).toString('hex');

interface Engine {
  name: string;
  store(): SessionStore;
  cleanup(): Promise<void>;
}

const engines: Engine[] = [
  {
    name: 'redis',
    store: () => new RedisSessionStore({ url: REDIS_URL, keyPrefix: `scaleout-test:${run}:` }),
    async cleanup() {
      const redis = new Redis(REDIS_URL);
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `scaleout-test:${run}:*`, 'COUNT', 500);
        if (found.length > 0) await redis.del(...found);
        cursor = next;
      } while (cursor !== '0');
      await redis.quit();
    },
  },
  {
    name: 'postgres',
    store: () => new PostgresSessionStore({ connectionString: DATABASE_URL, table: `sessions_plugin_${run}`, cleanupIntervalMs: 0 }),
    async cleanup() {
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      await client.query(`DROP TABLE IF EXISTS "sessions_plugin_${run}"`);
      await client.end();
    },
  },
];

for (const engine of engines) {
  describe(`scaleout plugin with ${engine.name} sessions`, () => {
    let appA: FastifyInstance;
    let appB: FastifyInstance;
    let a: string;
    let b: string;
    beforeAll(async () => {
      appA = await shopApp({ instanceId: 'app-a', buildId: 'b1', session: { store: engine.store(), keys: TEST_KEYS } });
      appB = await shopApp({ instanceId: 'app-b', buildId: 'b1', session: { store: engine.store(), keys: TEST_KEYS } });
      a = baseUrl(appA);
      b = baseUrl(appB);
    });
    afterAll(async () => {
      await appA?.close();
      await appB?.close();
      await engine.cleanup();
    });

    it('login sets an HttpOnly, SameSite=Lax, Path=/ cookie, Secure only behind https', async () => {
      const plain = await request('POST', `${a}/login/alice`);
      expect(plain.status).toBe(200);
      expect(plain.setCookie).toHaveLength(1);
      expect(plain.setCookie[0]).toMatch(/^scaleout_sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
      const https = await request('POST', `${a}/login/alice`, { headers: { 'x-forwarded-proto': 'https' } });
      expect(https.setCookie[0]).toMatch(/; HttpOnly; SameSite=Lax; Secure$/);
      const http = await request('POST', `${a}/login/alice`, { headers: { 'x-forwarded-proto': 'http' } });
      expect(http.setCookie[0]).not.toMatch(/Secure/);
    });

    it('two instances sharing the store see the same session', async () => {
      const cart = await request('POST', `${a}/cart/42`);
      expect(cart.body).toEqual({ quantity: 1 });
      const again = await request('POST', `${b}/cart/42`, { cookie: cart.cookie });
      expect(again.body).toEqual({ quantity: 2 });
      expect(again.setCookie).toEqual([]);
      const me = await request('GET', `${a}/me`, { cookie: cart.cookie });
      expect(me.body).toMatchObject({ userId: null, fields: { 'cart:42': 2 }, instance: 'app-a' });
    });

    it('login regenerates the id, keeps the cart, and the old cookie stops working', async () => {
      const cart = await request('POST', `${a}/cart/7`);
      const login = await request('POST', `${b}/login/bob`, { cookie: cart.cookie });
      expect(login.cookie).toBeDefined();
      expect(login.cookie).not.toBe(cart.cookie);
      expect((await request('GET', `${a}/me`, { cookie: login.cookie })).body).toMatchObject({ userId: 'bob', fields: { 'cart:7': 1 } });
      expect((await request('GET', `${a}/me`, { cookie: cart.cookie })).body).toMatchObject({ userId: null, fields: {} });
    });

    it('concurrent cart clicks on both instances are all counted', async () => {
      const first = await request('POST', `${a}/cart/9`);
      await Promise.all(Array.from({ length: 20 }, (_, i) => request('POST', `${i % 2 === 0 ? a : b}/cart/9`, { cookie: first.cookie })));
      expect((await request('GET', `${b}/me`, { cookie: first.cookie })).body).toMatchObject({ fields: { 'cart:9': 21 } });
    });

    it('a forged or garbled cookie means no session, never an error', async () => {
      const real = await request('POST', `${a}/login/carol`);
      const value = real.cookie!.slice('scaleout_sid='.length);
      const [id] = value.split('.');
      const forged = [
        `scaleout_sid=${id}.k1.${'A'.repeat(22)}`,
        `scaleout_sid=${id}.k9.${value.split('.')[2]}`,
        `scaleout_sid=${id}`,
        'scaleout_sid=%ZZ%',
        `scaleout_sid=${'.'.repeat(300)}`,
        'scaleout_sid=="; x=y; ;;',
      ];
      for (const cookie of forged) {
        const me = await request('GET', `${b}/me`, { cookie });
        expect(me.status).toBe(200);
        expect(me.body).toMatchObject({ userId: null, fields: {} });
        const cart = await request('POST', `${b}/cart/1`, { cookie });
        expect(cart.body).toEqual({ quantity: 1 });
        expect(cart.cookie).toBeDefined();
        expect(cart.cookie).not.toContain(id);
      }
    });

    it('logout clears the cookie and ends the session on every instance', async () => {
      const login = await request('POST', `${a}/login/dave`);
      const out = await request('POST', `${b}/logout`, { cookie: login.cookie });
      expect(out.setCookie[0]).toMatch(/^scaleout_sid=; Path=\/; HttpOnly; SameSite=Lax; Max-Age=0$/);
      expect((await request('GET', `${a}/me`, { cookie: login.cookie })).body).toMatchObject({ userId: null });
    });

    it('logout everywhere ends the sessions the user has on other devices', async () => {
      const user = `erin-${run}`;
      const phone = await request('POST', `${a}/login/${user}`);
      const laptop = await request('POST', `${b}/login/${user}`);
      expect((await request('POST', `${a}/logout-everywhere`, { cookie: laptop.cookie })).body).toEqual({ ended: 2 });
      expect((await request('GET', `${b}/me`, { cookie: phone.cookie })).body).toMatchObject({ userId: null });
    });

    it('a route that never uses the session sends no cookie', async () => {
      const res = await request('GET', `${a}/static`, { cookie: 'scaleout_sid=whatever' });
      expect(res.body).toEqual({ hello: 'world' });
      expect(res.setCookie).toEqual([]);
    });
  });
}

describe('scaleout plugin: health, headers, shutdown', () => {
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    app = await shopApp({ instanceId: 'inst-1', buildId: 'sha256-abc', loadSampleIntervalMs: 50 });
    base = baseUrl(app);
  });
  afterAll(async () => { await app?.close(); });

  it('answers /healthz with status, instance, buildId and load', async () => {
    const res = await request('GET', `${base}/healthz`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', instance: 'inst-1', buildId: 'sha256-abc', load: expect.any(Number) });
    expect(res.body.load).toBeGreaterThanOrEqual(0);
    expect(res.body.load).toBeLessThanOrEqual(1);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('adds the instance and load headers to every response, 404s and errors included', async () => {
    for (const [method, path] of [['GET', '/static'], ['GET', '/healthz'], ['GET', '/nope'], ['GET', '/me']] as const) {
      const res = await request(method, `${base}${path}`);
      expect(res.headers['x-scaleout-instance']).toBe('inst-1');
      expect(Number(res.headers['scaleout-load'])).toBeGreaterThanOrEqual(0);
      expect(Number(res.headers['scaleout-load'])).toBeLessThanOrEqual(1);
    }
  });

  it('request.session without session options is a clear error, not a crash', async () => {
    const res = await request('GET', `${base}/me`);
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: 'SCALEOUT_SESSION_INVALID_OPTIONS' });
  });

  it('reports load that rises while the event loop is busy', async () => {
    const sampler = app.scaleout;
    const end = Date.now() + 300;
    while (Date.now() < end) { /* keep the loop busy */ }
    await expect.poll(() => sampler.load, { timeout: 2_000, interval: 10 }).toBeGreaterThan(0.5);
  });

  it('reads instance and build ids from the environment by default', async () => {
    process.env.INSTANCE_ID = 'from-env';
    process.env.SCALEOUT_BUILD_ID = 'build-env';
    const envApp = Fastify();
    try {
      await envApp.register(scaleout, { shutdown: false });
      const res = await envApp.inject({ method: 'GET', url: '/healthz' });
      expect(res.json()).toMatchObject({ instance: 'from-env', buildId: 'build-env' });
    } finally {
      delete process.env.INSTANCE_ID;
      delete process.env.SCALEOUT_BUILD_ID;
      await envApp.close();
    }
  });

  it('refuses invalid options with a clear error', async () => {
    for (const options of [{ instanceId: 'has space' }, { healthPath: 'healthz' }, { loadSampleIntervalMs: 0 },
      { shutdown: { drainDelayMs: -1 } }, { shutdown: { signals: ['TERM'] } }] as const) {
      const bad = Fastify();
      await expect(bad.register(scaleout, options as never).ready()).rejects.toBeInstanceOf(ScaleoutPluginOptionsError);
      await bad.close();
    }
  });

  it('shutdown() drains, lets an in-flight request finish, then closes', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    let started!: () => void;
    const inFlight = new Promise<void>((resolve) => { started = resolve; });
    const slow = Fastify();
    await slow.register(scaleout, { instanceId: 'slow', shutdown: { signals: [], drainDelayMs: 0 } });
    slow.get('/slow', async () => {
      started();
      await released;
      return { done: true };
    });
    await slow.listen({ port: 0, host: '127.0.0.1' });
    const port = (slow.server.address() as { port: number }).port;
    const response = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
      const req = httpRequest({ port, host: '127.0.0.1', path: '/slow', agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.end();
    });
    await inFlight;
    const closing = slow.scaleout.shutdown();
    expect(slow.scaleout.draining).toBe(true);
    expect(slow.scaleout.health().status).toBe('draining');
    release();
    const answer = await response;
    expect(answer).toMatchObject({ status: 200, body: '{"done":true}', connection: 'close' });
    await closing;
    expect(slow.server.listening).toBe(false);
  });
});
