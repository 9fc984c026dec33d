import http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import { isScaleoutError } from '../internal/errors.js';
import { describeIssues } from '../internal/zod-issues.js';
import { authorized, bearer, listenAdmin } from './admin-listener.js';
import type { AdminListener } from './admin-listener.js';
import { parsePeerPush } from './affinity/stick-peers.js';
import type { Balancer } from './balancer.js';
import {
  AdminBodyTooLargeError, AdminInvalidInputError, AdminRequestError, AdminUnsupportedMediaTypeError, BALANCER_RESPONSES, BalancerConfigError, BalancerError,
} from './errors.js';
import { adminOptionsSchema, nameSchema, routeSchema, weightSchema } from './options.js';
import type { ServerOptionsInput } from './options.js';

/**
 * The balancer's admin API: its own listener, `Authorization: Bearer <token>` on every
 * path (401 without it), JSON in and out, Prometheus text on `/metrics`.
 *
 *   GET    /servers                               pools, servers, state, in-flight, load, counters, latency
 *   GET    /pools/:pool                           one pool: latency {p50Ms, p99Ms, count, windowMs}, servers[] (each with its latency)
 *   GET    /pools/:pool/stick/:key                {serverId, expiresInMs} of a stick table entry (404: none)
 *   POST   /pools/:pool/servers                   {id, address, weight?}       add a server
 *   DELETE /pools/:pool/servers/:id                                            remove a server
 *   POST   /pools/:pool/servers/:id/drain         {stickyMs?}                  drain
 *   POST   /pools/:pool/servers/:id/undrain                                    undrain
 *   PUT    /pools/:pool/servers/:id/weight        {weight}                     change weight
 *   POST   /pools                                 {name, ...pool options}      add a pool
 *   DELETE /pools/:pool                                                        remove a pool
 *   GET    /config                                                             pools with their servers now, routes, drains
 *   GET    /routes, PUT /routes                   [{host?, pathPrefix?, pool}] read, replace routes
 *   GET    /metrics                                                            Prometheus text format
 *                                                                             (JSON with Accept: application/json)
 *   POST   /peers/stick                           {from, updates}              stick table entries from a peer balancer
 *   POST   /pools/:pool/cache/purge               {pathPrefix?}                empty the pool's response cache (or a path's answers)
 */
export type AdminApi = AdminListener;

/** Largest admin request body: a pool with its servers fits many times over. @defaultValue 65536 */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024;
const MAX_BODY_BYTES = MAX_ADMIN_BODY_BYTES;
/** The same for every refused token, so a wrong guess costs nothing to answer. */
/** A drain may keep sticky clients at most a day. */
const MAX_STICKY_MS = 86_400_000;

/** Start the admin API; its options are validated as `admin` of the balancer options is. */
export async function startAdminApi(balancer: Balancer, input: { address: string; token: string }): Promise<AdminApi> {
  const parsed = adminOptionsSchema.safeParse(input);
  if (!parsed.success) throw new BalancerConfigError(describeIssues(parsed.error.issues.map((i) => ({ ...i, path: ['admin', ...i.path] })), { admin: input }));
  const options = parsed.data;
  const token = bearer(options.token);
  const registry = metricsRegistry(balancer);
  const server = http.createServer((req, res) => {
    handle(balancer, registry, token, req, res).catch((err: unknown) => sendError(res, err));
  });
  return listenAdmin(server, options.address);
}

async function handle(balancer: Balancer, registry: Registry, token: Buffer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (!authorized(req, res, token)) return;
  const url = requestUrl(req.url ?? '/');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeSegment);
  const method = req.method ?? 'GET';

  if (method === 'GET' && url.pathname === '/metrics') {
    // JSON for a balancer's primary, which sums its workers' metrics (prom-client's AggregatorRegistry).
    if (req.headers.accept === 'application/json') return sendJson(res, 200, await registry.getMetricsAsJSON());
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(await registry.metrics());
    return;
  }
  if (method === 'GET' && url.pathname === '/servers') return sendJson(res, 200, balancer.snapshot());
  if (method === 'GET' && url.pathname === '/config') return sendJson(res, 200, balancer.liveConfig());
  if (method === 'POST' && url.pathname === '/peers/stick') {
    const push = parsePeerPush(await readJson(req));
    if (typeof push === 'string') throw new AdminInvalidInputError(push);
    return sendJson(res, 200, balancer.applyPeerPush(push));
  }
  if (method === 'GET' && url.pathname === '/routes') return sendJson(res, 200, balancer.snapshot().routes);
  if (method === 'PUT' && url.pathname === '/routes') {
    const rules = validate(routesBody, await readJson(req));
    balancer.setRoutes(rules);
    return sendJson(res, 200, balancer.snapshot().routes);
  }
  if (method === 'POST' && parts.length === 1 && parts[0] === 'pools') {
    const body = validate(poolBody, await readJson(req));
    const { name, ...rest } = body;
    const named = nameSchema.safeParse(name);
    if (!named.success) throw new AdminInvalidInputError(describeIssues(named.error.issues.map((i) => ({ ...i, path: ['name'] })), body));
    asInvalidInput(() => balancer.addPool(name, rest));
    return sendJson(res, 201, balancer.snapshot().pools[name]);
  }
  if (parts[0] === 'pools' && parts.length === 2 && method === 'GET') {
    balancer.pool(parts[1]!);
    return sendJson(res, 200, balancer.snapshot().pools[parts[1]!]);
  }
  if (parts[0] === 'pools' && parts.length === 2 && method === 'DELETE') {
    await balancer.removePool(parts[1]!);
    return sendJson(res, 200, { removed: parts[1] });
  }
  if (parts[0] === 'pools' && parts[2] === 'stick' && parts.length === 4 && method === 'GET') {
    // HAProxy's `show table <pool> key <key>`: where a client is stuck, without refreshing it.
    const pool = balancer.pool(parts[1]!);
    if (pool.stickTable === undefined) throw new AdminRequestError(404, `pool ${pool.name} has no stick table (affinity: 'table')`);
    const now = Date.now();
    const entry = pool.stickTable.peek(parts[3]!, now);
    if (entry === undefined) throw new AdminRequestError(404, `pool ${pool.name} has no live entry for that key`);
    return sendJson(res, 200, { pool: pool.name, key: parts[3], serverId: entry.serverId, expiresInMs: entry.expiresAtMs - now });
  }
  if (parts[0] === 'pools' && parts.length === 4 && parts[2] === 'cache' && parts[3] === 'purge' && method === 'POST') {
    const body = validate(purgeBody, (await readJson(req, true)) ?? {});
    const purged = balancer.purgeCache(parts[1]!, body.pathPrefix);
    return sendJson(res, 200, { pool: parts[1], purged });
  }
  if (parts[0] === 'pools' && parts[2] === 'servers') {
    const pool = balancer.pool(parts[1]!);
    if (parts.length === 3 && method === 'POST') {
      const body = await readJson(req);
      const server = asInvalidInput(() => balancer.addServer(pool.name, body as ServerOptionsInput));
      return sendJson(res, 201, { pool: pool.name, id: server.id, address: server.address, weight: server.configuredWeight });
    }
    const id = parts[3];
    if (id !== undefined && parts.length === 4 && method === 'DELETE') {
      pool.removeServer(id);
      return sendJson(res, 200, { pool: pool.name, removed: id });
    }
    if (id !== undefined && parts.length === 5) {
      const action = parts[4];
      if (method === 'POST' && action === 'drain') {
        const body = validate(drainBody, (await readJson(req, true)) ?? {});
        const server = pool.drain(id, body.stickyMs);
        return sendJson(res, 200, { pool: pool.name, id, state: server.state(Date.now()) });
      }
      if (method === 'POST' && action === 'undrain') {
        const server = pool.undrain(id);
        return sendJson(res, 200, { pool: pool.name, id, state: server.state(Date.now()) });
      }
      if (method === 'PUT' && action === 'weight') {
        const body = validate(weightBody, await readJson(req));
        pool.setWeight(id, body.weight);
        return sendJson(res, 200, { pool: pool.name, id, weight: body.weight });
      }
    }
  }
  throw new AdminRequestError(404, `no admin endpoint ${method} ${url.pathname}; see GET /servers, /routes, /metrics`);
}

// Admin bodies reuse the config's schemas, so a value refused in a config file is refused here too.
const routesBody = z.array(routeSchema);
const poolBody = z.looseObject({ name: z.string() });
const STICKY_HELP = `use whole milliseconds from 0 to ${MAX_STICKY_MS}`;
const drainBody = z.object({ stickyMs: z.number({ error: STICKY_HELP }).int(STICKY_HELP).min(0, STICKY_HELP).max(MAX_STICKY_MS, STICKY_HELP).optional() }).strict();
const weightBody = z.object({ weight: weightSchema }).strict();
const purgeBody = z.object({ pathPrefix: z.string().startsWith('/', "use a path starting with '/', e.g. /products").optional() }).strict();

function validate<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw new AdminInvalidInputError(describeIssues(result.error.issues, body));
}

/** The balancer's own validation errors become 400s of the admin API. */
function asInvalidInput<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BalancerConfigError) throw new AdminInvalidInputError(err.message, { cause: err });
    throw err;
  }
}

function requestUrl(target: string): URL {
  try {
    return new URL(target, 'http://admin');
  } catch (err) {
    throw new AdminRequestError(400, `request target "${target.slice(0, 80)}" is not a valid path`, { cause: err });
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch (err) {
    throw new AdminRequestError(400, `path segment "${segment.slice(0, 80)}" is not valid percent-encoding; encode names with encodeURIComponent`, { cause: err });
  }
}

async function readJson(req: http.IncomingMessage, optional = false): Promise<unknown> {
  const type = req.headers['content-type'];
  // A missing type is taken as JSON (what curl -d without -H would otherwise break on is its own default).
  if (type !== undefined && !/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type)) throw new AdminUnsupportedMediaTypeError(type);
  const declared = Number(req.headers['content-length'] ?? 0);
  // Refuse before reading a byte: a client announcing a huge body gets its answer at once.
  if (declared > MAX_BODY_BYTES) throw new AdminBodyTooLargeError(MAX_BODY_BYTES);
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new AdminBodyTooLargeError(MAX_BODY_BYTES);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    if (optional) return null;
    throw new AdminRequestError(400, 'send a JSON body');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new AdminRequestError(400, 'the body is not valid JSON');
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: http.ServerResponse, err: unknown): void {
  const status = err instanceof BalancerError ? err.status : BALANCER_RESPONSES.adminInternal.status;
  // An unread request body would be taken for the next request on this connection.
  if (status === 413 || status === 415) res.setHeader('connection', 'close');
  const code = isScaleoutError(err) ? err.code : BALANCER_RESPONSES.adminInternal.code;
  const message = err instanceof Error ? err.message : String(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error: { code, message } });
}

/** Metrics read the live counters at scrape time: nothing is counted twice on the hot path. */
function metricsRegistry(balancer: Balancer): Registry {
  const registry = new Registry();
  const labels = ['pool', 'server'] as const;
  const snapshotServers = (): Array<{ pool: string; s: ReturnType<Balancer['snapshot']>['pools'][string]['servers'][number] }> =>
    Object.entries(balancer.snapshot().pools).flatMap(([pool, p]) => p.servers.map((s) => ({ pool, s })));

  new Counter({
    name: 'scaleout_balancer_server_requests_total', help: 'Requests sent to a server', labelNames: labels, registers: [registry],
    collect() {
      this.reset();
      for (const { pool, s } of snapshotServers()) this.inc({ pool, server: s.id }, s.counters.requests);
    },
  });
  new Counter({
    name: 'scaleout_balancer_server_responses_total', help: 'Responses from a server by status class', labelNames: [...labels, 'class'], registers: [registry],
    collect() {
      this.reset();
      for (const { pool, s } of snapshotServers()) {
        const c = s.counters;
        this.inc({ pool, server: s.id, class: '2xx' }, c.responses2xx);
        this.inc({ pool, server: s.id, class: '3xx' }, c.responses3xx);
        this.inc({ pool, server: s.id, class: '4xx' }, c.responses4xx);
        this.inc({ pool, server: s.id, class: '5xx' }, c.responses5xx);
      }
    },
  });
  new Counter({
    name: 'scaleout_balancer_server_failures_total', help: 'Connect failures, retries and timeouts per server', labelNames: [...labels, 'kind'], registers: [registry],
    collect() {
      this.reset();
      for (const { pool, s } of snapshotServers()) {
        this.inc({ pool, server: s.id, kind: 'failure' }, s.counters.failures);
        this.inc({ pool, server: s.id, kind: 'retry' }, s.counters.retries);
        this.inc({ pool, server: s.id, kind: 'timeout' }, s.counters.timeouts);
      }
    },
  });
  new Gauge({
    name: 'scaleout_balancer_server_in_flight', help: 'Requests in flight per server', labelNames: labels, registers: [registry],
    collect() {
      this.reset();
      for (const { pool, s } of snapshotServers()) this.set({ pool, server: s.id }, s.inFlight);
    },
  });
  new Gauge({
    name: 'scaleout_balancer_server_load', help: 'Last load reported by the server (0..1)', labelNames: labels, registers: [registry], aggregator: 'max',
    collect() {
      this.reset();
      for (const { pool, s } of snapshotServers()) this.set({ pool, server: s.id }, s.load);
    },
  });
  new Gauge({
    name: 'scaleout_balancer_server_up', help: '1 when the server takes new clients', labelNames: labels, registers: [registry], aggregator: 'min',
    collect() {
      this.reset();
      for (const { pool, s } of snapshotServers()) this.set({ pool, server: s.id }, s.state === 'up' ? 1 : 0);
    },
  });
  const quantiles = [['0.5', 'p50Ms'], ['0.99', 'p99Ms']] as const;
  // Quantiles cannot be summed: with workers, the primary reports the slowest worker's
  // (an upper bound of the merged quantile, never below the truth).
  new Gauge({
    name: 'scaleout_balancer_server_latency_seconds', help: 'Exchange time per server over the last 10 s (request sent to response end), by quantile',
    labelNames: [...labels, 'quantile'], registers: [registry], aggregator: 'max',
    collect() {
      this.reset();
      for (const { pool, s } of snapshotServers()) {
        for (const [quantile, key] of quantiles) this.set({ pool, server: s.id, quantile }, s.latency[key] / 1000);
      }
    },
  });
  new Gauge({
    name: 'scaleout_balancer_pool_latency_seconds', help: 'Exchange time per pool over the last 10 s, by quantile', labelNames: ['pool', 'quantile'], registers: [registry], aggregator: 'max',
    collect() {
      this.reset();
      for (const [pool, p] of Object.entries(balancer.snapshot().pools)) {
        for (const [quantile, key] of quantiles) this.set({ pool, quantile }, p.latency[key] / 1000);
      }
    },
  });
  new Counter({
    name: 'scaleout_balancer_exchanges_total', help: 'Client exchanges by pool and status class (incl. the balancer\'s own errors)', labelNames: ['pool', 'class'], registers: [registry],
    collect() {
      this.reset();
      const classes = ['other', '2xx', '3xx', '4xx', '5xx'];
      for (const [pool, counts] of balancer.exchanges) {
        counts.forEach((count, i) => this.inc({ pool, class: classes[i]! }, count));
      }
    },
  });
  const caches = (): Array<[string, NonNullable<ReturnType<Balancer['snapshot']>['pools'][string]['cache']>]> =>
    Object.entries(balancer.snapshot().pools).flatMap(([pool, p]) => (p.cache === undefined ? [] : [[pool, p.cache] as [string, typeof p.cache]]));
  new Counter({
    name: 'scaleout_balancer_cache_requests_total', help: 'Requests of a caching pool by cache result (hit, miss, bypass)', labelNames: ['pool', 'result'], registers: [registry],
    collect() {
      this.reset();
      for (const [pool, c] of caches()) {
        this.inc({ pool, result: 'hit' }, c.hits);
        this.inc({ pool, result: 'miss' }, c.misses);
        this.inc({ pool, result: 'bypass' }, c.bypasses);
      }
    },
  });
  new Counter({
    name: 'scaleout_balancer_cache_stores_total', help: 'Answers stored in a pool\'s response cache', labelNames: ['pool'], registers: [registry],
    collect() {
      this.reset();
      for (const [pool, c] of caches()) this.inc({ pool }, c.stores);
    },
  });
  new Gauge({
    name: 'scaleout_balancer_cache_bytes', help: 'Bytes held by a pool\'s response cache', labelNames: ['pool'], registers: [registry],
    collect() {
      this.reset();
      for (const [pool, c] of caches()) this.set({ pool }, c.bytes);
    },
  });
  new Gauge({
    name: 'scaleout_balancer_client_connections', help: 'Open client connections', registers: [registry],
    collect() {
      this.set(balancer.snapshot().connections);
    },
  });
  return registry;
}
