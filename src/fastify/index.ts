import { hostname } from 'node:os';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { INSTANCE_ENV } from '../internal/instance-env.js';
import { DEFAULT_HEALTH_PATH, INSTANCE_HEADER, LOAD_HEADER } from '../internal/wire.js';
import type { HealthReport } from '../internal/wire.js';
import { SessionManager, SessionOptionsError } from '../session/index.js';
import type { Session, SessionOptions } from '../session/index.js';
import type { Cache } from '../cache/index.js';
import type { Database } from '../db/index.js';
import { crossOriginCheck } from './cross-origin.js';
import type { CrossOriginOptions } from './cross-origin.js';
import { ScaleoutPluginOptionsError } from './errors.js';
import {
  DEFAULT_DRAIN_DELAY_MS, DEFAULT_SHUTDOWN_SIGNALS, DEFAULT_SHUTDOWN_TIMEOUT_MS, GracefulShutdown,
} from './graceful-shutdown.js';
import type { ShutdownOptions } from './graceful-shutdown.js';
import { DEFAULT_LOAD_SAMPLE_INTERVAL_MS, LoadSampler } from './load-sampler.js';
import { dbTier } from './tiers/db-tier.js';
import type { ScaleoutDbOptions } from './tiers/db-tier.js';
import { cacheTier } from './tiers/cache-tier.js';
import type { ScaleoutCacheOptions } from './tiers/cache-tier.js';
import { jobsTier } from './tiers/jobs-tier.js';
import type { ScaleoutJobsOptions } from './tiers/jobs-tier.js';
import type { Tier } from './tiers/tier.js';

export { crossOriginCheck, ownOrigin } from './cross-origin.js';
export type { CrossOriginOptions } from './cross-origin.js';
export { CrossOriginRequestError, FASTIFY_ERRORS, ScaleoutPluginOptionsError } from './errors.js';
export {
  DEFAULT_DRAIN_DELAY_MS, DEFAULT_SHUTDOWN_SIGNALS, DEFAULT_SHUTDOWN_TIMEOUT_MS,
} from './graceful-shutdown.js';
export type { ShutdownOptions } from './graceful-shutdown.js';
export { DEFAULT_LOAD_SAMPLE_INTERVAL_MS } from './load-sampler.js';
export { DEFAULT_DB_NAME } from './tiers/db-tier.js';
export type { RequestDb, ScaleoutDbOptions } from './tiers/db-tier.js';
export type { ScaleoutCacheOptions } from './tiers/cache-tier.js';
export { DEFAULT_POLL_WAIT_MS, DEFAULT_SSE_KEEP_ALIVE_MS, MAX_POLL_WAIT_MS, sseFrame } from './tiers/jobs-tier.js';
export type { AppJobs, JobEventsPage, ScaleoutJobsOptions } from './tiers/jobs-tier.js';

/** The health path, the instance and load headers and the health body: the wire contract. */
export { DEFAULT_HEALTH_PATH, INSTANCE_HEADER, LOAD_HEADER };
export type { HealthReport };
/** Used when neither the option nor `SCALEOUT_BUILD_ID` gives one. */
export const DEFAULT_BUILD_ID = 'dev';

/**
 * The tiers the plugin wires into every request, one option each. `cache` and `jobs`
 * join here, each with a file in `tiers/` (see `Tier`).
 */
export interface ScaleoutTierOptions {
  /**
   * The data tier on `request.db`, carrying the session's consistency tokens:
   * read-your-writes across instances without glue in routes. A `Database` (then
   * `request.db.query()` runs on it), or `{ database?, name? }`.
   */
  db?: Database | ScaleoutDbOptions;
  /**
   * The cache on `app.cache` and `request.cache`, closed when the app closes: a
   * `Cache` of `scaleout/cache`, or `{ cache, close }` with what else to close then.
   */
  cache?: Cache | ScaleoutCacheOptions;
  /**
   * The async tier on `app.jobs` and `request.jobs`: the queues by name, an SSE
   * stream of a job's events that resumes by `Last-Event-ID`, and polling.
   */
  jobs?: ScaleoutJobsOptions;
}

/** Every tier, in the order they are installed. */
const TIERS: readonly Tier<unknown>[] = [dbTier, cacheTier, jobsTier as Tier<unknown>];

export interface ScaleoutPluginOptions extends ScaleoutTierOptions {
  /**
   * Central sessions: `request.session`. Options (store, keys, ...) or a
   * `SessionManager` to share. Without it, `request.session` throws.
   */
  session?: SessionOptions | SessionManager;
  /**
   * Names this instance in /healthz and the `x-scaleout-instance` header.
   * @defaultValue `process.env.INSTANCE_ID`, else `<hostname>:<pid>`
   */
  instanceId?: string;
  /**
   * The build this instance runs.
   * @defaultValue `process.env.SCALEOUT_BUILD_ID`, else {@link DEFAULT_BUILD_ID}
   */
  buildId?: string;
  /**
   * Where the health endpoint answers; false for none.
   * @defaultValue {@link DEFAULT_HEALTH_PATH}
   */
  healthPath?: string | false;
  /** @defaultValue {@link DEFAULT_LOAD_SAMPLE_INTERVAL_MS} */
  loadSampleIntervalMs?: number;
  /** Graceful shutdown on signals; false installs no signal handler. */
  shutdown?: ShutdownOptions | false;
  /**
   * Close the session store when the app closes.
   * @defaultValue true
   */
  closeStore?: boolean;
  /**
   * Refuse POST, PUT, PATCH, DELETE (any method but GET, HEAD, OPTIONS) that a browser
   * sends from another site: 403 `SCALEOUT_FASTIFY_CROSS_ORIGIN`. Decided from
   * `Sec-Fetch-Site` and `Origin`; requests with neither (curl, servers) pass. See
   * {@link crossOriginCheck}. `false` turns the check off.
   * @defaultValue `{ allowedOrigins: [] }`: only this site's own origin
   */
  crossOrigin?: CrossOriginOptions | false;
}

/** What the plugin adds to the app as `app.scaleout`. */
export interface ScaleoutApp {
  readonly instanceId: string;
  readonly buildId: string;
  /** The instance's load, 0..1, as last measured. */
  readonly load: number;
  /** True once shutdown (or `drain()`) has begun: /healthz answers 503. */
  readonly draining: boolean;
  /** The session manager, when sessions are configured. */
  readonly sessions: SessionManager | undefined;
  /** Report draining without closing. */
  drain(): void;
  /** Drain, wait `drainDelayMs`, close the app (in-flight requests finish). Does not exit the process. */
  shutdown(): Promise<void>;
  /** The health report as /healthz would send it. */
  health(): HealthReport;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's session (created on first use; no cost until then). */
    readonly session: Session;
  }
  interface FastifyInstance {
    readonly scaleout: ScaleoutApp;
  }
}

const kSession = Symbol('scaleout.session');
type WithSession = { [kSession]: Session | null };
const HEADER_SAFE = /^[\x21-\x7E]{1,128}$/;

/** Whether the request came over https: a TLS socket, or the balancer says so. */
function isHttps(request: FastifyRequest): boolean {
  if ((request.raw.socket as TLSSocket | undefined)?.encrypted === true) return true;
  const proto = request.headers['x-forwarded-proto'];
  const first = Array.isArray(proto) ? proto[0] : proto;
  return first !== undefined && /^\s*https\s*(,|$)/i.test(first);
}

/**
 * The scaleout Fastify plugin: central sessions on `request.session`, the data tier
 * with the session's consistency tokens on `request.db` (read-your-writes across
 * instances), a health endpoint, load and instance headers on every response,
 * graceful shutdown, and refusal of cross-site state-changing requests.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { scaleout } from 'scaleout/fastify';
 * import { RedisSessionStore } from 'scaleout/session';
 * import { createDatabase } from 'scaleout/db';
 *
 * const app = Fastify();
 * await app.register(scaleout, {
 *   session: { store: new RedisSessionStore({ url: process.env.REDIS_URL }), keys: [{ id: 'k1', secret: process.env.SESSION_SECRET! }] },
 *   db: createDatabase({ primary: process.env.DATABASE_URL!, replicas }), // request.db
 * });
 * app.post('/cart/:id', async (request) => ({ quantity: await request.session.increment(`cart:${(request.params as { id: string }).id}`) }));
 * app.get('/orders', async (request) => (await request.db.query('SELECT * FROM orders WHERE user_id = $1', [userId])).rows);
 * ```
 */
async function scaleoutPlugin(app: FastifyInstance, options: ScaleoutPluginOptions = {}): Promise<void> {
  const settings = resolve(options);
  const sessions = settings.session === undefined ? undefined
    : settings.session instanceof SessionManager ? settings.session : new SessionManager(settings.session);
  const sampler = new LoadSampler(settings.loadSampleIntervalMs);
  const shutdown = new GracefulShutdown(app, settings.shutdown);

  const cache = (settings.tiers.find(([tier]) => tier === cacheTier)?.[1] as ScaleoutCacheOptions | undefined)?.cache;
  const health = (): HealthReport => {
    const report: HealthReport = { status: shutdown.draining ? 'draining' : 'ok', instance: settings.instanceId, buildId: settings.buildId, load: sampler.load };
    if (cache !== undefined) {
      const stats = cache.stats();
      report.cache = { hits: stats.l1Hits + stats.l2Hits, misses: stats.misses };
    }
    return report;
  };
  const runtime: ScaleoutApp = {
    instanceId: settings.instanceId,
    buildId: settings.buildId,
    get load() { return sampler.load; },
    get draining() { return shutdown.draining; },
    sessions,
    drain: () => shutdown.drain(),
    shutdown: () => shutdown.shutdown(),
    health,
  };
  app.decorate('scaleout', runtime);

  app.decorateRequest(kSession, null);
  app.decorateRequest('session', {
    getter(this: FastifyRequest): Session {
      const self = this as unknown as WithSession;
      if (self[kSession] !== null) return self[kSession];
      if (sessions === undefined) {
        throw new SessionOptionsError('request.session needs sessions: register the scaleout plugin with session: { store, keys }');
      }
      return (self[kSession] = sessions.forRequest(this.headers.cookie, isHttps(this)));
    },
  });

  // Before the body is parsed or the session loaded: a forged request costs nothing.
  if (settings.crossOrigin !== false) app.addHook('onRequest', crossOriginCheck(settings.crossOrigin));

  // The hot path: headers are strings prepared outside the request; the only branch
  // per request is whether a session was used and changed its cookie.
  const instanceHeader = settings.instanceId;
  app.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) => {
    reply.header(INSTANCE_HEADER, instanceHeader);
    reply.header(LOAD_HEADER, sampler.header);
    const session = (request as unknown as WithSession)[kSession];
    if (session !== null) {
      const cookie = session.setCookieHeader;
      if (cookie !== undefined) reply.header('set-cookie', cookie);
    }
    // Keep-alive connections would keep bringing requests to an instance on its way out.
    if (shutdown.draining) reply.header('connection', 'close');
    done(null, payload);
  });

  if (settings.healthPath !== false) {
    app.get(settings.healthPath, { logLevel: 'warn' }, async (_request, reply) => {
      const report = health();
      reply.code(report.status === 'ok' ? 200 : 503).header('cache-control', 'no-store');
      return report;
    });
  }

  for (const [tier, value] of settings.tiers) await tier.install(app, value, { sessions });

  sampler.start();
  shutdown.install();
  app.addHook('onClose', async () => {
    shutdown.drain();
    shutdown.uninstall();
    sampler.stop();
    if (sessions !== undefined && settings.closeStore) await sessions.store.close();
  });
}

// Fastify runs each plugin in its own encapsulated context, so decorations and hooks
// would apply only inside it. This symbol (what the fastify-plugin package sets)
// registers the plugin in the parent context instead: `request.session`, the headers
// and the health route then apply to every route of the app.
const meta = scaleoutPlugin as unknown as Record<symbol, unknown>;
meta[Symbol.for('skip-override')] = true;
meta[Symbol.for('fastify.display-name')] = 'scaleout';
meta[Symbol.for('plugin-meta')] = { name: 'scaleout', fastify: '5.x' };

/** The plugin: `await app.register(scaleout, options)`. */
export const scaleout: FastifyPluginAsync<ScaleoutPluginOptions> = scaleoutPlugin;
export default scaleout;

interface Resolved {
  session: SessionOptions | SessionManager | undefined;
  instanceId: string;
  buildId: string;
  healthPath: string | false;
  loadSampleIntervalMs: number;
  shutdown: Required<ShutdownOptions>;
  closeStore: boolean;
  crossOrigin: CrossOriginOptions | false;
  tiers: [Tier<unknown>, unknown][];
}

function resolve(options: ScaleoutPluginOptions): Resolved {
  if (typeof options !== 'object' || options === null) throw new ScaleoutPluginOptionsError('options must be an object');
  const instanceId = options.instanceId ?? process.env[INSTANCE_ENV.instanceId] ?? `${hostname()}:${process.pid}`;
  const buildId = options.buildId ?? process.env[INSTANCE_ENV.buildId] ?? DEFAULT_BUILD_ID;
  for (const [name, value] of [['instanceId', instanceId], ['buildId', buildId]] as const) {
    if (typeof value !== 'string' || !HEADER_SAFE.test(value)) {
      throw new ScaleoutPluginOptionsError(`${name} "${String(value)}" is invalid; use 1-128 visible ASCII characters (it is sent in headers)`);
    }
  }
  const healthPath = options.healthPath ?? DEFAULT_HEALTH_PATH;
  if (healthPath !== false && (typeof healthPath !== 'string' || !healthPath.startsWith('/'))) {
    throw new ScaleoutPluginOptionsError(`healthPath "${String(healthPath)}" is invalid; use a path starting with "/" or false`);
  }
  const loadSampleIntervalMs = options.loadSampleIntervalMs ?? DEFAULT_LOAD_SAMPLE_INTERVAL_MS;
  if (!Number.isSafeInteger(loadSampleIntervalMs) || loadSampleIntervalMs < 10) {
    throw new ScaleoutPluginOptionsError(`loadSampleIntervalMs must be an integer of at least 10, got ${String(loadSampleIntervalMs)}`);
  }
  const s = options.shutdown === false ? { signals: [] } : options.shutdown ?? {};
  const shutdown: Required<ShutdownOptions> = {
    signals: s.signals ?? DEFAULT_SHUTDOWN_SIGNALS,
    drainDelayMs: s.drainDelayMs ?? DEFAULT_DRAIN_DELAY_MS,
    timeoutMs: s.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    exit: s.exit ?? true,
  };
  if (!Array.isArray(shutdown.signals) || !shutdown.signals.every((x) => typeof x === 'string' && /^SIG[A-Z0-9]+$/.test(x))) {
    throw new ScaleoutPluginOptionsError('shutdown.signals must be a list of signal names such as ["SIGTERM", "SIGINT"]');
  }
  for (const name of ['drainDelayMs', 'timeoutMs'] as const) {
    if (!Number.isSafeInteger(shutdown[name]) || shutdown[name] < 0) {
      throw new ScaleoutPluginOptionsError(`shutdown.${name} must be a non-negative integer of milliseconds, got ${String(shutdown[name])}`);
    }
  }
  if (options.session !== undefined && (typeof options.session !== 'object' || options.session === null)) {
    throw new ScaleoutPluginOptionsError('session must be { store, keys, ... } or a SessionManager');
  }
  const crossOrigin = options.crossOrigin ?? {};
  if (crossOrigin !== false && (typeof crossOrigin !== 'object' || crossOrigin === null)) {
    throw new ScaleoutPluginOptionsError('crossOrigin must be { allowedOrigins? } or false');
  }
  const tiers: [Tier<unknown>, unknown][] = [];
  for (const tier of TIERS) {
    const value = (options as Record<string, unknown>)[tier.option];
    if (value !== undefined) tiers.push([tier, tier.validate(value)]);
  }
  return {
    session: options.session, instanceId, buildId, healthPath, loadSampleIntervalMs, shutdown,
    closeStore: options.closeStore ?? true, crossOrigin, tiers,
  };
}
