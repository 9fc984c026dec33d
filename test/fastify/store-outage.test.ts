import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../../src/session/index.js';
import { RedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { baseUrl, shopApp, TEST_KEYS } from './shop-app.js';
import { request } from '../support/http-client.js';

// A Redis of the test's own, so it can be killed and restarted.
describe('scaleout plugin while the session store is down', () => {
  let redis: RedisServer;
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    redis = await RedisServer.start();
    app = await shopApp({ instanceId: 'outage', session: { store: new RedisSessionStore({ url: redis.url }), keys: TEST_KEYS } });
    base = baseUrl(app);
  });
  afterAll(async () => {
    await app?.close();
    await redis?.kill();
  });

  it('answers 503 with the error code and Retry-After at once, and recovers when Redis is back', async () => {
    const login = await request('POST', `${base}/login/zoe`);
    expect(login.status).toBe(200);

    await redis.kill();
    const latencies: number[] = [];
    for (const [method, path] of [['GET', '/me'], ['POST', '/cart/1'], ['POST', '/login/zoe'], ['POST', '/logout'], ['GET', '/me']] as const) {
      const started = performance.now();
      const res = await request(method, `${base}${path}`, { cookie: login.cookie });
      latencies.push(Math.round(performance.now() - started));
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toMatchObject({ code: 'SCALEOUT_SESSION_STORE_UNAVAILABLE', statusCode: 503 });
      expect(res.headers['x-scaleout-instance']).toBe('outage');
    }
    console.log(`redis down: 503 answers took ${latencies.join(', ')} ms`);
    // The instance itself is healthy: a store outage hits every instance alike, so
    // taking them out of the balancer would not help.
    expect((await request('GET', `${base}/healthz`)).status).toBe(200);
    expect((await request('GET', `${base}/static`)).status).toBe(200);

    const restartedAt = performance.now();
    await redis.restart();
    // This redis-server keeps nothing on disk, so the old session is gone: the cart
    // click starts a new one.
    const cart = await waitFor('the app to reach Redis again', async () => {
      const res = await request('POST', `${base}/cart/1`, { cookie: login.cookie });
      return res.status === 200 ? res : undefined;
    });
    console.log(`redis back: first 200 after ${Math.round(performance.now() - restartedAt)} ms`);
    expect(cart.body).toEqual({ quantity: 1 });
    expect((await request('GET', `${base}/me`, { cookie: cart.cookie })).body).toMatchObject({ fields: { 'cart:1': 1 } });
  });

  it('an app that starts while Redis is down answers 503 and works once Redis comes up', async () => {
    await redis.kill();
    const late = await shopApp({ instanceId: 'late', session: { store: new RedisSessionStore({ url: redis.url }), keys: TEST_KEYS } });
    try {
      const lateBase = baseUrl(late);
      expect((await request('POST', `${lateBase}/cart/5`)).status).toBe(503);
      await redis.restart();
      const ok = await waitFor('the late app to reach Redis', async () => {
        const res = await request('POST', `${lateBase}/cart/5`);
        return res.status === 200 ? res : undefined;
      });
      expect(ok.body).toEqual({ quantity: 1 });
    } finally {
      await late.close();
    }
  });
});
