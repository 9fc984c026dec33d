import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, currentReadScope, DB_CONSISTENCY_FIELD, readYourWritesDatabase } from '../../src/db/index.js';
import type { Database } from '../../src/db/index.js';
import { scaleout, ScaleoutPluginOptionsError } from '../../src/fastify/index.js';
import type { ScaleoutPluginOptions } from '../../src/fastify/index.js';
import { RedisSessionStore } from '../../src/session/index.js';
import type { SessionStore } from '../../src/session/index.js';
import { TEST_KEYS } from './shop-app.js';

const DATABASE_URL = process.env.SCALEOUT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = randomBytes(4).toString('hex');
const table = `db_option_${run}`;

/** One instance of a deployment: its own plugin and database handles, the shared session store. */
async function instance(store: SessionStore, options: Partial<ScaleoutPluginOptions>): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(scaleout, { shutdown: false, closeStore: false, session: { store, keys: TEST_KEYS }, ...options });
  app.post<{ Params: { item: string } }>('/orders/:item', async (request) => {
    const { rows } = await request.db.query<{ id: number }>(`INSERT INTO ${table} (item) VALUES ($1) RETURNING id`, [request.params.item]);
    return { id: rows[0]!.id };
  });
  // What the tokens are while the route's code runs: what its database calls honour.
  app.get('/scope', (request) => request.db.run(async () => ({ tokens: currentReadScope()?.tokens?.toJSON() ?? null })));
  app.get('/session', async (request) => ({ field: (await request.session.get(DB_CONSISTENCY_FIELD)) ?? null }));
  return app;
}

function cookieOf(setCookie: string | string[] | undefined): string {
  const first = Array.isArray(setCookie) ? setCookie[0] : setCookie;
  return first!.split(';')[0]!;
}

describe('the plugin wires the data tier in: db', () => {
  let db: Database;
  let store: SessionStore;

  beforeAll(async () => {
    db = createDatabase({ primary: DATABASE_URL });
    await db.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, item text NOT NULL)`);
    store = new RedisSessionStore({ url: REDIS_URL, keyPrefix: `scaleout-test:${run}:` });
  });

  afterAll(async () => {
    await db?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await db?.close();
    await store?.close();
  });

  it('keeps the consistency token of a write in the session, and any instance applies it to the next request', async () => {
    const a = await instance(store, { db, instanceId: 'a' });
    const b = await instance(store, { db: { database: db }, instanceId: 'b' });
    try {
      const placed = await a.inject({ method: 'POST', url: '/orders/book' });
      expect(placed.statusCode).toBe(200);
      const cookie = cookieOf(placed.headers['set-cookie']);
      const saved = (await b.inject({ url: '/session', headers: { cookie } })).json<{ field: Record<string, string> }>().field;
      expect(Object.keys(saved)).toEqual(['default']);
      expect(saved.default).toMatch(/^t\d+\.[0-9a-f]+$/);
      // Instance b, which made no write, reads with the token instance a's write left.
      expect((await b.inject({ url: '/scope', headers: { cookie } })).json()).toEqual({ tokens: saved });
      // A visitor without a session has no tokens, and gets no session from a read.
      const anonymous = await b.inject({ url: '/scope' });
      expect(anonymous.json()).toEqual({ tokens: {} });
      expect(anonymous.headers['set-cookie']).toBeUndefined();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('carries the tokens to databases the app made itself, under their own names', async () => {
    const orders = readYourWritesDatabase('orders', db);
    const app = await instance(store, { db: {} });
    app.post('/own', (request) => request.db.run(async () => {
      await orders.query(`INSERT INTO ${table} (item) VALUES ('pen')`);
      return { ok: true };
    }));
    try {
      const placed = await app.inject({ method: 'POST', url: '/own' });
      const cookie = cookieOf(placed.headers['set-cookie']);
      const field = (await app.inject({ url: '/session', headers: { cookie } })).json<{ field: Record<string, string> }>().field;
      expect(Object.keys(field)).toEqual(['orders']);
      // Without a database in the option, request.db.query says what is missing.
      const refused = await app.inject({ method: 'POST', url: '/orders/cup' });
      expect(refused.statusCode).toBe(500);
      expect(refused.json().code).toBe('SCALEOUT_FASTIFY_INVALID_OPTIONS');
    } finally {
      await app.close();
    }
  });

  it('refuses a db option it cannot use, at registration', async () => {
    for (const bad of [42, 'postgres://x', { database: {} }, { name: 'has space' }]) {
      const app = Fastify({ logger: false });
      await expect(app.register(scaleout, { shutdown: false, db: bad as never }).ready(), JSON.stringify(bad)).rejects.toBeInstanceOf(ScaleoutPluginOptionsError);
      await app.close();
    }
  });
});
