import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { buildApp } from '../../examples/shop/src/app.js';
import { answerOf, CookieJar, requestBody, requestHeaders } from '../support/http-client.js';
import type { Answer, RequestOptions } from '../support/http-client.js';

/** The local PostgreSQL the in-process tests create their databases on. */
export const ADMIN_URL = process.env.SCALEOUT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.SCALEOUT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Keys every test instance shares, as the instances of one deployment do. */
export const TEST_SESSION_KEYS = [{ id: 'k1', secret: 'shop-test-secret-0123456789abcdef' }];
/** The same keys in the form of SCALEOUT_SESSION_KEYS. */
export const TEST_SESSION_KEYS_ENV = 'k1:shop-test-secret-0123456789abcdef';

/** A uniquely named catalogue database, the shard prefix next to it, and a way to drop all of it. */
export interface ShopDatabase {
  name: string;
  url: string;
  shardPrefix: string;
  drop(): Promise<void>;
}

async function admin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates `shop_test_<random>`; the shop creates `<name>_shard_0` and `_1` itself, and `drop()` removes all three. */
export async function createShopDatabase(adminUrl = ADMIN_URL): Promise<ShopDatabase> {
  const name = `shop_test_${randomBytes(5).toString('hex')}`;
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    shardPrefix: `${name}_shard`,
    drop: () => admin(adminUrl, async (c) => {
      for (const db of [`${name}_shard_0`, `${name}_shard_1`, name]) await c.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
    }),
  };
}

/** A unique Redis key prefix and a way to delete everything written under it. */
export function redisScratch(): { prefix: string; clean(): Promise<void> } {
  const prefix = `shoptest:${randomBytes(5).toString('hex')}:`;
  return {
    prefix,
    async clean() {
      const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** A browser-like client of an app built in process (`app.inject`): JSON by default, with a cookie jar. */
export class InjectClient {
  readonly jar: CookieJar;
  readonly #app: FastifyInstance;

  /** Pass another client's jar to be the same browser on another instance. */
  constructor(app: FastifyInstance, jar = new CookieJar()) {
    this.#app = app;
    this.jar = jar;
  }

  async request(method: string, url: string, options: RequestOptions = {}): Promise<Answer> {
    const payload = requestBody(options);
    const res = await this.#app.inject({
      method: method as 'GET',
      url,
      headers: requestHeaders(this.jar, options),
      ...(payload === undefined ? {} : { payload }),
    });
    const setCookie = res.headers['set-cookie'];
    const lines = typeof setCookie === 'string' ? [setCookie] : setCookie ?? [];
    this.jar.update(lines);
    return answerOf(res.statusCode, res.headers as Answer['headers'], res.body, lines);
  }

  login(username: string, password: string): Promise<Answer> {
    return this.request('POST', '/login', { json: { username, password } });
  }
}

/**
 * One shop app for a test file, on databases and a Redis prefix of its own: built
 * before the file's tests, closed and dropped after them. Read `app` inside tests.
 */
export function shopForTests(instanceId: string): { readonly app: FastifyInstance } {
  let db: ShopDatabase | undefined;
  let app: FastifyInstance | undefined;
  const redis = redisScratch();
  beforeAll(async () => {
    db = await createShopDatabase();
    app = await buildApp({
      databaseUrl: db.url,
      redisUrl: REDIS_URL,
      redisKeyPrefix: redis.prefix,
      sessionKeys: TEST_SESSION_KEYS,
      shardPrefix: db.shardPrefix,
      instanceId,
      buildId: 'build-test',
      poolMax: 2,
    });
  });
  afterAll(async () => {
    await app?.close();
    await redis.clean();
    await db?.drop();
  });
  return { get app(): FastifyInstance { return app!; } };
}
