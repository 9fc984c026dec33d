import { describe, expect, it } from 'vitest';
import { addToCart, cartQuantities, type CartSession } from '../../examples/shop/src/cart.js';
import {
  firstOrderIdAt, isOrderId, newOrderId, nextOrderId, orderIdTimeMs,
} from '../../examples/shop/src/data/order-id.js';
import { DEFAULT_SHARD_PREFIX, devSessionKeys, readEnv } from '../../examples/shop/src/env.js';
import { ShopEnvError } from '../../examples/shop/src/errors.js';
import { safeNext } from '../../examples/shop/src/http.js';
import { hashPassword, verifyPassword } from '../../examples/shop/src/passwords.js';
import { html, money } from '../../examples/shop/src/views/html.js';

const BASE_ENV = { PORT: '8081', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/app' };

describe('env', () => {
  it('reads what the runtime gives an instance', () => {
    const env = readEnv({
      ...BASE_ENV, INSTANCE_ID: 'app-2', SCALEOUT_BUILD_ID: 'abc123', HOST: '0.0.0.0',
      DATABASE_REPLICA_URLS: 'postgres://127.0.0.1:5433/app, postgres://127.0.0.1:5434/app',
      REDIS_URL: 'redis://127.0.0.1:6379', SCALEOUT_PROFILE: 'redis', SCALEOUT_SESSION_KEYS: 'k2:0123456789abcdef0123,k1:fedcba9876543210fedc',
      CACHE_REDIS_URL: 'redis://127.0.0.1:6380', MEMCACHED_URL: '127.0.0.1:11211',
    });
    expect(env).toEqual({
      port: 8081, host: '0.0.0.0', instanceId: 'app-2', buildId: 'abc123',
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/app',
      replicaUrls: ['postgres://127.0.0.1:5433/app', 'postgres://127.0.0.1:5434/app'],
      redisUrl: 'redis://127.0.0.1:6379', profile: 'redis',
      cacheRedisUrl: 'redis://127.0.0.1:6380', memcachedUrl: '127.0.0.1:11211', cache: true, demoOrders: 0,
      sessionKeys: [{ id: 'k2', secret: '0123456789abcdef0123' }, { id: 'k1', secret: 'fedcba9876543210fedc' }],
      devSessionKey: false, shardPrefix: DEFAULT_SHARD_PREFIX, sessionPrefix: undefined,
    });
    expect(readEnv({ ...BASE_ENV, SHOP_CACHE: 'off' }).cache).toBe(false);
    expect(() => readEnv({ ...BASE_ENV, SHOP_CACHE: 'maybe' })).toThrow(/SHOP_CACHE/);
    expect(readEnv({ ...BASE_ENV, SHOP_DEMO_ORDERS: '5000' }).demoOrders).toBe(5000);
    for (const bad of ['-1', '1.5', 'many', '1000001']) expect(() => readEnv({ ...BASE_ENV, SHOP_DEMO_ORDERS: bad })).toThrow(/SHOP_DEMO_ORDERS/);
  });

  it('falls back to the postgres profile, the development key and no replicas', () => {
    const env = readEnv({ ...BASE_ENV, DATABASE_REPLICA_URLS: '', REDIS_URL: '' });
    expect(env.profile).toBe('postgres');
    expect(env.redisUrl).toBeUndefined();
    expect(env.replicaUrls).toEqual([]);
    expect(env.devSessionKey).toBe(true);
    expect(env.sessionKeys).toEqual(devSessionKeys());
    expect(env.host).toBe('127.0.0.1');
    // The postgres profile wins over a REDIS_URL when the runtime says so.
    expect(readEnv({ ...BASE_ENV, REDIS_URL: 'redis://h:1', SCALEOUT_PROFILE: 'postgres' }).redisUrl).toBeUndefined();
  });

  it('lists every problem, naming the variable', () => {
    let error: unknown;
    try {
      readEnv({ PORT: 'eighty', DATABASE_REPLICA_URLS: 'mysql://x', SCALEOUT_PROFILE: 'memcached', SCALEOUT_SESSION_KEYS: 'k1:short' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ShopEnvError);
    const message = (error as ShopEnvError).message;
    expect((error as ShopEnvError).code).toBe('SHOP_ENV_INVALID');
    for (const name of ['PORT', 'DATABASE_URL is not set', 'DATABASE_REPLICA_URLS', 'SCALEOUT_PROFILE']) expect(message).toContain(name);
    expect(() => readEnv({ ...BASE_ENV, SCALEOUT_PROFILE: 'redis' })).toThrow(/REDIS_URL is not set/);
  });

  it('takes the keys from SCALEOUT_SESSION_KEYS, as scaleout up gives them, and ignores other names', () => {
    const env = readEnv({ ...BASE_ENV, SCALEOUT_SESSION_KEYS: 's-1a2b3c:0123456789abcdef0123456789' });
    expect(env.sessionKeys).toEqual([{ id: 's-1a2b3c', secret: '0123456789abcdef0123456789' }]);
    expect(env.devSessionKey).toBe(false);
    expect(() => readEnv({ ...BASE_ENV, SCALEOUT_SESSION_KEYS: 'x:short' })).toThrow(/SCALEOUT_SESSION_KEYS: the secret/);
    expect(readEnv({ ...BASE_ENV, SESSION_KEYS: 's-1a2b3c:0123456789abcdef0123456789' }).devSessionKey).toBe(true);
  });

  it('reports its own settings with those of the runtime', () => {
    expect(() => readEnv({ PORT: 'x', SHOP_SHARD_PREFIX: 'Bad-Prefix' })).toThrow(/PORT: expected a port number.*SHOP_SHARD_PREFIX: use lower-case/);
    expect(readEnv({ ...BASE_ENV, SHOP_SHARD_PREFIX: 'shard', SHOP_SESSION_PREFIX: 'shop:' })).toMatchObject({ shardPrefix: 'shard', sessionPrefix: 'shop:' });
  });
});

describe('order ids', () => {
  it('carry their time, sort by it, and parse back', () => {
    const a = newOrderId(1_700_000_000_000);
    const b = newOrderId(1_700_000_000_001);
    expect(isOrderId(a)).toBe(true);
    expect(orderIdTimeMs(a)).toBe(1_700_000_000_000);
    expect(a < b).toBe(true);
    expect(firstOrderIdAt(1_700_000_000_001) <= b).toBe(true);
    expect(firstOrderIdAt(1_700_000_000_001) > a).toBe(true);
    expect(isOrderId(firstOrderIdAt(0))).toBe(true);
  });

  it('count up within one millisecond', () => {
    let id = newOrderId(1_700_000_000_000);
    for (let i = 0; i < 100; i++) {
      const next = nextOrderId(id);
      expect(next > id).toBe(true);
      expect(isOrderId(next)).toBe(true);
      expect(orderIdTimeMs(next)).toBe(1_700_000_000_000);
      id = next;
    }
    const last = '018bcfe5-6800-7000-bfff-ffffffffffff';
    expect(nextOrderId(last) > last).toBe(true);
    expect(isOrderId(nextOrderId(last))).toBe(true);
  });

  it('refuses what is not a lower-case UUIDv7', () => {
    for (const bad of ['', 'garbage', '018bcfe5-6800-4000-8000-000000000000', '018BCFE5-6800-7000-8000-000000000000', `${newOrderId(1)}x`]) {
      expect(isOrderId(bad), bad).toBe(false);
    }
  });
});

/** A session that keeps fields in memory: enough for the cart arithmetic. */
function memorySession(): CartSession & { fields: Record<string, number> } {
  const fields: Record<string, number> = {};
  return {
    fields,
    async increment(key: string, by = 1) {
      fields[key] = (fields[key] ?? 0) + by;
      return fields[key];
    },
    async delete(keys: string | readonly string[]) {
      for (const key of typeof keys === 'string' ? [keys] : keys) delete fields[key];
    },
  };
}

describe('cart arithmetic', () => {
  it('never leaves a line below zero', async () => {
    const session = memorySession();
    expect(await addToCart(session, 1, 2)).toBe(2);
    expect(await addToCart(session, 1, -5)).toBe(0);
    expect(session.fields['cart:1']).toBe(0);
    expect(await addToCart(session, 1, 1)).toBe(1);
  });

  it('corrects concurrent decreases once, not twice', async () => {
    const session = memorySession();
    session.fields['cart:1'] = 0;
    // Both decreases reach the store before either corrects (the memory store applies
    // each increment when called): -1, -2, then each undoes only its own part below 0.
    expect(await Promise.all([addToCart(session, 1, -1), addToCart(session, 1, -1)])).toEqual([0, 0]);
    expect(session.fields['cart:1']).toBe(0);
    session.fields['cart:1'] = 1;
    await Promise.all([addToCart(session, 1, -1), addToCart(session, 1, -1), addToCart(session, 1, 2)]);
    expect(session.fields['cart:1']).toBe(2);
  });

  it('reads only positive integer lines, in product order', () => {
    expect([...cartQuantities({ 'cart:3': 1, 'cart:1': 2, 'cart:2': 0, 'cart:4': -1, 'cart:x': 5, 'cart:5': 'many', userId: 'u', _db: {} })])
      .toEqual([[1, 2], [3, 1]]);
  });
});

describe('passwords', () => {
  it('hash with a fresh salt and verify in constant time', async () => {
    const a = await hashPassword('wonderland', 1024);
    const b = await hashPassword('wonderland', 1024);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^scrypt\$1024\$/);
    expect(await verifyPassword('wonderland', a)).toBe(true);
    expect(await verifyPassword('Wonderland', a)).toBe(false);
    for (const bad of [undefined, '', 'scrypt$abc$x$y', 'md5$1$2$3', 'scrypt$1023$c2FsdA$a2V5', `scrypt$1024$${'A'.repeat(22)}$short`]) {
      expect(await verifyPassword('wonderland', bad), String(bad)).toBe(false);
    }
  });
});

describe('HTML helpers', () => {
  it('escape interpolations and format cents', () => {
    expect(html`<p title="${'"x"'}">${'<b>&'}</p>${['<i>', html`<i>`]}${undefined}${false}`.text)
      .toBe('<p title="&quot;x&quot;">&lt;b&gt;&amp;</p>&lt;i&gt;<i>');
    expect(money(2490)).toBe('€24.90');
    expect(money(5)).toBe('€0.05');
    expect(money(-150)).toBe('-€1.50');
  });

  it('only return to paths on this site after login', () => {
    expect(safeNext('/orders?limit=5')).toBe('/orders?limit=5');
    for (const bad of ['//evil.example', 'https://evil.example', '/\\evil.example', undefined, 42, '/a b', `/${'x'.repeat(600)}`]) {
      expect(safeNext(bad), String(bad)).toBe('/products');
    }
  });
});
