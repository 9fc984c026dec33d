import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/index.js';
import { scaleout, ScaleoutPluginOptionsError } from '../../src/fastify/index.js';

describe('the plugin wires the cache in: cache', () => {
  it('gives routes the cache on request.cache and app.cache, and closes it and what it was built on with the app', async () => {
    const cache = new Cache();
    let closedStore = 0;
    const app = Fastify({ logger: false });
    await app.register(scaleout, { shutdown: false, healthPath: false, cache: { cache, close: () => { closedStore++; } } });
    let loads = 0;
    app.get('/page', async (request) => {
      const { value, source } = await request.cache.getOrSetWithSource('page:1', () => ({ n: ++loads }), { ttlMs: 60_000 });
      return { value, source };
    });
    await app.ready();
    expect(app.cache).toBe(cache);

    expect((await app.inject('/page')).json()).toEqual({ value: { n: 1 }, source: 'loader' });
    expect((await app.inject('/page')).json()).toEqual({ value: { n: 1 }, source: 'l1' });
    expect(loads).toBe(1);

    await app.close();
    expect(closedStore).toBe(1);
    // The closed cache dropped what its L1 held.
    expect(cache.stats().l1Entries).toBe(0);
  });

  it('reports the cache\'s hits and misses in the health body, for hit ratios', async () => {
    const cache = new Cache();
    const app = Fastify({ logger: false });
    await app.register(scaleout, { shutdown: false, cache });
    app.get('/page', async (request) => request.cache.getOrSet('page:1', () => ({ n: 1 }), { ttlMs: 60_000 }));
    await app.ready();
    expect((await app.inject('/healthz')).json().cache).toEqual({ hits: 0, misses: 0 });
    for (let i = 0; i < 4; i++) await app.inject('/page');
    expect((await app.inject('/healthz')).json()).toMatchObject({ status: 'ok', cache: { hits: 3, misses: 1 } });
    await app.close();

    const without = Fastify({ logger: false });
    await without.register(scaleout, { shutdown: false });
    expect((await without.inject('/healthz')).json()).not.toHaveProperty('cache');
    await without.close();
  });

  it('takes a bare Cache, and refuses anything else at registration', async () => {
    const cache = new Cache();
    const app = Fastify({ logger: false });
    await app.register(scaleout, { shutdown: false, healthPath: false, cache });
    await app.ready();
    expect(app.cache).toBe(cache);
    await app.close();

    for (const bad of [42, {}, { cache: {} }, { cache, close: 'no' }]) {
      const other = Fastify({ logger: false });
      await expect(other.register(scaleout, { shutdown: false, healthPath: false, cache: bad as never }))
        .rejects.toBeInstanceOf(ScaleoutPluginOptionsError);
      await other.close().catch(() => undefined);
    }
  });
});
