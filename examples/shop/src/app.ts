import formbody from '@fastify/formbody';
import Fastify, { LogController } from 'fastify';
import type { Server } from 'node:http';
import type {
  FastifyBaseLogger, FastifyError, FastifyHttpOptions, FastifyInstance, FastifyReply, FastifyRequest,
} from 'fastify';
import { scaleout } from 'scaleout/fastify';
import type { ShutdownOptions } from 'scaleout/fastify';
import { PostgresSessionStore, RedisSessionStore } from 'scaleout/session';
import type { SessionKey, SessionStore } from 'scaleout/session';
import { openShopData } from './data/shop-data.js';
import { openShopCache } from './shop-cache.js';
import type { ShopCache } from './shop-cache.js';
import type { ShopData } from './data/shop-data.js';
import { userDocuments } from './data/user-documents.js';
import { DEFAULT_SHARD_PREFIX } from './env.js';
import { BadInputError, BodyTooLargeError, CrossSiteRequestError, InternalError, NotFoundError, NotLoggedInError, ShopError, UnavailableError } from './errors.js';
import { pageContext, redirect, sendHtml, visitor, wantsJson } from './http.js';
import { authRoutes } from './routes/auth-routes.js';
import { cartRoutes } from './routes/cart-routes.js';
import type { ShopContext } from './routes/context.js';
import { orderRoutes } from './routes/order-routes.js';
import { exportRoutes } from './routes/export-routes.js';
import { OrderExports } from './exports/order-export.js';
import { productRoutes } from './routes/product-routes.js';
import { ProductPages } from './prerender/product-pages.js';
import { addSecurityHeaders } from './security-headers.js';
import { errorPage } from './views/pages.js';

/** Largest request body accepted: logins and cart changes are tiny. @defaultValue 16384 */
export const MAX_BODY_BYTES = 16 * 1024;

/** Options of {@link buildApp}; `src/server.ts` fills them from the environment. */
export interface ShopOptions {
  /** The catalogue primary; the shard databases are created next to it. */
  databaseUrl: string;
  /** Streaming replicas of that server. @defaultValue [] */
  replicaUrls?: readonly string[];
  /** Sessions in Redis when given (the `redis` profile); otherwise in PostgreSQL (the `postgres` profile). */
  redisUrl?: string;
  /** Prefix of the session keys in Redis. @defaultValue the session store's default */
  redisKeyPrefix?: string;
  /** Cookie signing keys, the same on every instance. */
  sessionKeys: readonly SessionKey[];
  /** @defaultValue {@link DEFAULT_SHARD_PREFIX} */
  shardPrefix?: string;
  /** @defaultValue `INSTANCE_ID`, else host and pid (see the scaleout plugin) */
  instanceId?: string;
  /** @defaultValue `SCALEOUT_BUILD_ID`, else 'dev' */
  buildId?: string;
  /** A pino logger, or true for Fastify's own, or false for none. @defaultValue false */
  logger?: boolean | FastifyBaseLogger;
  /** Graceful shutdown on signals. @defaultValue false (the caller owns the process) */
  shutdown?: ShutdownOptions | false;
  /** Connections per database node. @defaultValue 4 */
  poolMax?: number;
  /** Unix milliseconds. @defaultValue Date.now */
  now?: () => number;
  /** The cache's own Redis (`CACHE_REDIS_URL`): the cache's L2 and bus. */
  cacheRedisUrl?: string;
  /** Memcached (`MEMCACHED_URL`): the cache's L2 when there is no cache Redis. */
  memcachedUrl?: string;
  /** Prefix of the cache's keys and channel. @defaultValue 'shop:cache:' */
  cacheKeyPrefix?: string;
  /** The cache's L2 call timeout: a slower call counts as a miss. @defaultValue the cache's own (250 ms) */
  cacheL2TimeoutMs?: number;
  /** false: no cache (every product page from the database). @defaultValue true */
  cache?: boolean;
  /** Orders of demo customers seeded on a fresh start, for "bought together". @defaultValue 0 */
  demoOrders?: number;
  /**
   * Order exports (BullMQ with `redisUrl`, else pg-boss in the catalogue database). `worker: true`
   * runs them in this process too (tests, one-process development); under
   * `scaleout up` the `exports` workers (src/worker.ts) run them.
   */
  exports?: { worker?: boolean; batchDelayMs?: number; batchSize?: number };
  /**
   * The static tier's folder (`STATIC_DIR`, with `static:` in scaleout.config): a product
   * change purges its pre-rendered page and enqueues its render (needs `redisUrl`).
   */
  staticDir?: string;
}

/**
 * Builds the shop without listening: opens (and on first start creates, migrates and
 * seeds) its databases, connects the session store, and registers every route.
 * `app.close()` closes all of it.
 */
export async function buildApp(options: ShopOptions): Promise<FastifyInstance> {
  const logger = options.logger ?? false;
  const common: FastifyHttpOptions<Server> = {
    bodyLimit: MAX_BODY_BYTES,
    logController: new LogController({ disableRequestLogging: true }),
    // The balancer sets x-forwarded-*; request.ip and request.protocol then describe the client.
    trustProxy: true,
  };
  const app: FastifyInstance = typeof logger === 'boolean'
    ? Fastify({ ...common, logger })
    : Fastify({ ...common, loggerInstance: logger });
  const dbLogger = {
    info: (obj: object, msg?: string) => app.log.info(obj, msg),
    warn: (obj: object, msg?: string) => app.log.warn(obj, msg),
    error: (obj: object, msg?: string) => app.log.error(obj, msg),
  };
  let data: ShopData | undefined;
  let store: SessionStore | undefined;
  let shopCache: ShopCache | undefined;
  let orderExports: OrderExports | undefined;
  let productPages: ProductPages | undefined;
  try {
    data = await openShopData({
      databaseUrl: options.databaseUrl,
      replicaUrls: options.replicaUrls ?? [],
      shardPrefix: options.shardPrefix ?? DEFAULT_SHARD_PREFIX,
      logger: dbLogger,
      ...(options.poolMax === undefined ? {} : { poolMax: options.poolMax }),
      ...(options.demoOrders === undefined ? {} : { demoOrders: options.demoOrders }),
    });
    store = options.redisUrl !== undefined
      ? new RedisSessionStore({ url: options.redisUrl, ...(options.redisKeyPrefix === undefined ? {} : { keyPrefix: options.redisKeyPrefix }) })
      : new PostgresSessionStore({ connectionString: options.databaseUrl });
    if (options.cache !== false) {
      shopCache = await openShopCache({
        databaseUrl: options.databaseUrl,
        ...(options.cacheRedisUrl === undefined ? {} : { cacheRedisUrl: options.cacheRedisUrl }),
        ...(options.memcachedUrl === undefined ? {} : { memcachedUrl: options.memcachedUrl }),
        ...(options.cacheKeyPrefix === undefined ? {} : { keyPrefix: options.cacheKeyPrefix }),
        ...(options.cacheL2TimeoutMs === undefined ? {} : { l2TimeoutMs: options.cacheL2TimeoutMs }),
      });
    }
    await app.register(formbody);
    // A POST without a body but with a JSON content type (what many clients send for
    // POST /orders or /logout) means "no fields", not a malformed request.
    const json = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = body.toString();
      if (text.trim() === '') done(null, undefined);
      else json(request, text, done);
    });
    // The redis profile's queue when there is a Redis, else the postgres profile's.
    orderExports = new OrderExports({
      ...(options.redisUrl !== undefined ? { redisUrl: options.redisUrl } : { databaseUrl: options.databaseUrl }),
      ...(options.redisKeyPrefix === undefined ? {} : { prefix: options.redisKeyPrefix }),
    });
    // Pre-rendered product pages ride on the Redis queue (the redis profile).
    if (options.redisUrl !== undefined && options.staticDir !== undefined) {
      productPages = new ProductPages({ redisUrl: options.redisUrl, staticDir: options.staticDir, ...(options.redisKeyPrefix === undefined ? {} : { prefix: options.redisKeyPrefix }) });
    }
    await app.register(scaleout, {
      session: { store, keys: options.sessionKeys },
      ...(orderExports === undefined ? {} : { jobs: { queues: { exports: orderExports.queue } } }),
      // request.db: the session's consistency tokens reach every shard (replicatedShard)
      // called inside request.db.run(), and request.db.query() reads the catalogue.
      db: { database: data.catalogue, name: 'catalogue' },
      // app.cache: product page objects and the catalogue query (see shop-cache.ts).
      ...(shopCache === undefined ? {} : { cache: { cache: shopCache.cache, close: shopCache.close } }),
      shutdown: options.shutdown ?? false,
      ...(options.instanceId === undefined ? {} : { instanceId: options.instanceId }),
      ...(options.buildId === undefined ? {} : { buildId: options.buildId }),
    });
  } catch (err) {
    await store?.close().catch(() => undefined);
    await shopCache?.close().catch(() => undefined);
    await orderExports?.close().catch(() => undefined);
    await productPages?.close().catch(() => undefined);
    await data?.close().catch(() => undefined);
    await app.close().catch(() => undefined);
    throw err;
  }
  const ctx: ShopContext = {
    data, now: options.now ?? Date.now, userDocuments: userDocuments(data.shards), ...(shopCache === undefined ? {} : { cache: shopCache.cache }),
    ...(productPages === undefined ? {} : { productPages }),
  };
  const pages = productPages;
  const opened = data;
  const exporting = orderExports;
  const worker = exporting !== undefined && options.exports?.worker === true
    ? exporting.work(data, { ...(options.exports.batchDelayMs === undefined ? {} : { batchDelayMs: options.exports.batchDelayMs }), ...(options.exports.batchSize === undefined ? {} : { batchSize: options.exports.batchSize }) })
    : undefined;
  app.addHook('onClose', async () => {
    await worker?.close({ graceMs: 1000 });
    await exporting?.close();
    await pages?.close();
    await opened.close();
  });

  addSecurityHeaders(app);
  app.setErrorHandler((err: FastifyError, request, reply) => answerError(app, toShopError(err), request, reply));
  app.setNotFoundHandler((request, reply) => answerError(app, new NotFoundError('this page'), request, reply));

  authRoutes(app, ctx);
  productRoutes(app, ctx);
  cartRoutes(app, ctx);
  orderRoutes(app, ctx);
  if (exporting !== undefined) exportRoutes(app, exporting);
  return app;
}

/** The scaleout plugin's answer to a change sent from another site's page. */
const CROSS_ORIGIN_CODE = 'SCALEOUT_FASTIFY_CROSS_ORIGIN';

/** Any error as the shop error the client gets. */
export function toShopError(err: unknown): ShopError {
  if (err instanceof ShopError) return err;
  const e = err as { statusCode?: unknown; retriable?: unknown; code?: unknown; message?: unknown } | null;
  if (e?.code === CROSS_ORIGIN_CODE) return new CrossSiteRequestError(CROSS_ORIGIN_CODE, String(e.message));
  if (e?.statusCode === 413) return new BodyTooLargeError(`the request body is over the ${MAX_BODY_BYTES / 1024} KiB limit; send less`);
  // Fastify's own 4xx: malformed JSON, unsupported content type.
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new BadInputError(`the request could not be read (${String(e.message ?? 'bad request')}); send JSON or a form`);
  }
  if (e?.retriable === true || e?.statusCode === 503) return new UnavailableError(err);
  return new InternalError(err);
}

async function answerError(app: FastifyInstance, err: ShopError, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  if (err.statusCode >= 500) request.log.error({ err: err.cause ?? err, url: request.url }, err.message);
  if (err.statusCode === 503) reply.header('retry-after', '1');
  if (wantsJson(request)) return reply.code(err.statusCode).send({ error: { code: err.code, message: err.message } });
  if (err instanceof NotLoggedInError && request.method === 'GET') {
    return redirect(reply, `/login?next=${encodeURIComponent(request.url)}`);
  }
  // The page frame needs the session; when that is what failed, show the page without it.
  const v = err.statusCode >= 500 ? undefined : await visitor(request).catch(() => undefined);
  return sendHtml(reply, errorPage(pageContext(app, request, v), err.statusCode, err.code, err.message), err.statusCode);
}
