import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';

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

/** One answer, with the body parsed when it is JSON. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // Tests read into answers freely; a wrong shape fails the assertion that reads it.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface RequestOptions {
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** Ask for HTML instead of JSON. */
  html?: boolean;
}

/** Keeps the cookies a browser would keep: name=value of the last Set-Cookie per name, dropped when cleared. */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  update(setCookie: string | string[] | undefined): void {
    for (const line of typeof setCookie === 'string' ? [setCookie] : setCookie ?? []) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  get header(): string | undefined {
    return this.#cookies.size === 0 ? undefined : [...this.#cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }

  clear(): void {
    this.#cookies.clear();
  }
}

function requestHeaders(jar: CookieJar, options: RequestOptions): Record<string, string> {
  const headers: Record<string, string> = { accept: options.html === true ? 'text/html' : 'application/json', ...options.headers };
  const cookie = jar.header;
  if (cookie !== undefined) headers.cookie = cookie;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  if (options.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  return headers;
}

function bodyOf(options: RequestOptions): string | undefined {
  if (options.json !== undefined) return JSON.stringify(options.json);
  if (options.form !== undefined) return new URLSearchParams(options.form).toString();
  return undefined;
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
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
    const payload = bodyOf(options);
    const res = await this.#app.inject({
      method: method as 'GET',
      url,
      headers: requestHeaders(this.jar, options),
      ...(payload === undefined ? {} : { payload }),
    });
    this.jar.update(res.headers['set-cookie'] as string | string[] | undefined);
    return { status: res.statusCode, headers: res.headers as Answer['headers'], text: res.body, body: parsed(res.body) };
  }

  login(username: string, password: string): Promise<Answer> {
    return this.request('POST', '/login', { json: { username, password } });
  }
}

/** The same over real HTTP (through the balancer in the multi-instance test). */
export class HttpClient {
  readonly jar = new CookieJar();
  readonly #base: string;

  constructor(base: string) {
    this.#base = base;
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    const payload = bodyOf(options);
    const res = await fetch(`${this.#base}${path}`, {
      method,
      headers: requestHeaders(this.jar, options),
      redirect: 'manual',
      ...(payload === undefined ? {} : { body: payload }),
    });
    const text = await res.text();
    this.jar.update(res.headers.getSetCookie());
    const headers: Answer['headers'] = {};
    res.headers.forEach((value, name) => { headers[name] = value; });
    return { status: res.status, headers, text, body: parsed(text) };
  }

  login(username: string, password: string): Promise<Answer> {
    return this.request('POST', '/login', { json: { username, password } });
  }
}
