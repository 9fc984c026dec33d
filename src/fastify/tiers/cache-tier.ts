import type { FastifyInstance } from 'fastify';
import type { Cache } from '../../cache/index.js';
import { ScaleoutPluginOptionsError } from '../errors.js';
import type { Tier } from './tier.js';

/** The `cache` option, when more than a `Cache` is to be said. */
export interface ScaleoutCacheOptions {
  cache: Cache;
  /**
   * Closes what the cache was built on (its L2 store's client, its bus) after the cache,
   * when the app closes: a `Cache` leaves those to its caller, who may share them.
   */
  close?: () => void | Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The app's cache (`scaleout/cache`): register the plugin with `cache`. */
    readonly cache: Cache;
  }
  interface FastifyInstance {
    /** The app's cache (`scaleout/cache`): register the plugin with `cache`. */
    readonly cache: Cache;
  }
}

function isCache(value: object): value is Cache {
  const cache = value as Partial<Cache>;
  return typeof cache.getOrSet === 'function' && typeof cache.getOrSetWithSource === 'function' && typeof cache.close === 'function';
}

/**
 * The `cache` option: `app.cache` and `request.cache`, one `Cache` per instance (its L1
 * is the instance's memory), closed with the app. The cache's Prometheus metrics are in
 * the registry it was given (`register` of its options); the plugin serves no metrics.
 */
export const cacheTier: Tier<ScaleoutCacheOptions> = {
  option: 'cache',

  validate(value) {
    if (typeof value !== 'object' || value === null) {
      throw new ScaleoutPluginOptionsError('cache must be a Cache (new Cache() of scaleout/cache) or { cache, close? }');
    }
    if (isCache(value)) return { cache: value };
    const options = value as Partial<ScaleoutCacheOptions>;
    if (typeof options.cache !== 'object' || options.cache === null || !isCache(options.cache)) {
      throw new ScaleoutPluginOptionsError('cache.cache must be a Cache made by new Cache() of scaleout/cache');
    }
    if (options.close !== undefined && typeof options.close !== 'function') {
      throw new ScaleoutPluginOptionsError('cache.close must be a function that closes the cache\'s L2 store and bus');
    }
    return { cache: options.cache, ...(options.close === undefined ? {} : { close: options.close }) };
  },

  async install(app: FastifyInstance, options: ScaleoutCacheOptions) {
    const { cache, close } = options;
    app.decorate('cache', { getter: () => cache });
    app.decorateRequest('cache', { getter: () => cache });
    app.addHook('onClose', async () => {
      await cache.close();
      await close?.();
    });
  },
};
