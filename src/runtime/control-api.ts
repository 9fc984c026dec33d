import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isScaleoutError } from '../internal/errors.js';
import { parseChaosRequest } from './chaos/chaos-request.js';
import type { ChaosRequest } from './chaos/chaos-request.js';
import type { ChaosFault } from './chaos/chaos.js';
import type { DeployStrategy } from './config.js';
import { parseEventId, streamEvents } from './event-stream.js';
import type { EventFeed } from './event-stream.js';
import type { RuntimeEvent } from './events.js';
import type { RuntimeStatus } from './status.js';

/** Largest request body the control API reads. @defaultValue 16384 */
export const CONTROL_MAX_BODY_BYTES = 16 * 1024;
const BAD_REQUEST = 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST';

/** What the control API calls; each operation reports progress through `report`. */
export interface ControlHandlers {
  status(): RuntimeStatus;
  build(report: (event: RuntimeEvent) => void): Promise<unknown>;
  deploy(strategy: DeployStrategy | undefined, report: (event: RuntimeEvent) => void): Promise<unknown>;
  scale(role: string, count: number, report: (event: RuntimeEvent) => void): Promise<unknown>;
  /** Data-tier operations: `scaleout db rebuild|failover`, `scaleout reshard`. */
  db(request: DbRequest, report: (event: RuntimeEvent) => void): Promise<unknown>;
  /** `POST /processes/<id>/kill|restart|drain`: one process, through supervision. */
  processAction?(id: string, action: 'kill' | 'restart' | 'drain', report: (event: RuntimeEvent) => void): Promise<unknown>;
  /** The supervisor's event ring, for `GET /events`. */
  events: EventFeed;
  /** `GET /chaos`, `POST /chaos`, `POST /chaos/heal`: fault injection. */
  chaos?: {
    list(): ChaosFault[];
    inject(request: ChaosRequest, report: (event: RuntimeEvent) => void): Promise<unknown>;
    heal(report: (event: RuntimeEvent) => void): Promise<unknown>;
  };
}

/** A data-tier operation, as the control API takes it. */
export type DbRequest =
  | { action: 'rebuild'; node: string }
  | { action: 'failover' }
  | {
    action: 'reshard';
    /** The shard (database name) the buckets move to; created when missing. */
    to: string;
    /** How many buckets to move; with neither this nor `fraction`, the target's fair share. */
    buckets?: number;
    /** The share of all buckets to move, above 0 and at most 1. */
    fraction?: number;
  };

/** One line of an operation's answer (newline-delimited JSON). */
export type ControlStreamLine =
  | { event: RuntimeEvent }
  | { result: unknown }
  | { error: { code: string; message: string } };

/**
 * Routes served next to the API that do their own authentication (the dashboard,
 * whose browser cannot send a bearer header on an EventSource).
 */
export interface ExtraRoutes {
  matches(req: http.IncomingMessage): boolean;
  handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;
}

export interface ControlApi {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * The supervisor's control API, on loopback, `Authorization: Bearer <token>` on
 * every request:
 *
 *   GET  /status                          the runtime status (RuntimeStatus)
 *   GET  /events                          Server-Sent Events: the ring, then live (resume by Last-Event-ID)
 *   GET  /events?since=<id>               JSON { events, lastId }: the events after <id> (polling)
 *   POST /build                           build an image of the app folder
 *   POST /deploy  { strategy? }           build and deploy (rolling or blue-green)
 *   POST /scale   { role: "app", count }  start or stop instances
 *   POST /db/rebuild  { node }             rebuild an embedded node as a replica
 *   POST /db/failover                     planned failover of the embedded primary
 *   POST /reshard { to, buckets?, fraction? }  move shard buckets to `to`
 *   POST /processes/<id>/kill|restart|drain   SIGKILL / SIGTERM one process (supervision restarts it), or drain an instance
 *   GET  /chaos                           JSON { faults }: the faults in force
 *   POST /chaos  { fault, target, ms? }   inject kill | stop | slow | partition into a process (by id or role)
 *   POST /chaos/heal                      undo every fault in force
 *
 * Operations answer 200 with newline-delimited JSON: progress lines `{ event }`, then
 * one `{ result }` or `{ error: { code, message } }`. A deploy can take minutes; the
 * stream shows where it is.
 */
export async function startControlApi(handlers: ControlHandlers, options: { token: string; host?: string; extraRoutes?: ExtraRoutes }): Promise<ControlApi> {
  const expected = Buffer.from(`Bearer ${options.token}`);
  const server = http.createServer((req, res) => {
    const extra = options.extraRoutes;
    const done = extra?.matches(req) === true ? extra.handle(req, res) : handle(handlers, expected, req, res);
    done.catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, errorBody(err));
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  // Long operations stream for as long as they take.
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.address}:${bound.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function handle(handlers: ControlHandlers, expected: Buffer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const given = Buffer.from(req.headers.authorization ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    req.resume();
    sendJson(res, 401, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_UNAUTHORIZED', message: 'send Authorization: Bearer <token> from .scaleout/supervisor.json' } });
    return;
  }
  const url = new URL(req.url ?? '/', 'http://control');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (method === 'GET' && path === '/status') {
    req.resume();
    sendJson(res, 200, handlers.status());
    return;
  }
  if (method === 'GET' && path === '/events') {
    req.resume();
    const since = url.searchParams.get('since');
    const afterId = parseEventId(since ?? req.headers['last-event-id'] as string | undefined);
    if (afterId instanceof Error) {
      sendJson(res, 400, { error: { code: BAD_REQUEST, message: afterId.message } });
      return;
    }
    if (since !== null) sendJson(res, 200, handlers.events.since(afterId ?? 0));
    else streamEvents(handlers.events, afterId, res);
    return;
  }
  if (method === 'GET' && path === '/chaos') {
    req.resume();
    if (handlers.chaos === undefined) sendJson(res, 404, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_NOT_FOUND', message: 'this control API has no fault injection' } });
    else sendJson(res, 200, { faults: handlers.chaos.list() });
    return;
  }
  if (method === 'POST' && (OPERATIONS.has(path) || PROCESS_ACTION.test(path))) {
    const body = await readBody(req);
    if (body instanceof Error) {
      sendJson(res, 400, { error: { code: BAD_REQUEST, message: body.message } });
      return;
    }
    let run: (report: (event: RuntimeEvent) => void) => Promise<unknown>;
    const processAction = PROCESS_ACTION.exec(path);
    if (path === '/chaos' || path === '/chaos/heal') {
      const chaos = handlers.chaos;
      if (chaos === undefined) {
        sendJson(res, 404, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_NOT_FOUND', message: 'this control API has no fault injection' } });
        return;
      }
      if (path === '/chaos/heal') run = (report) => chaos.heal(report);
      else {
        let request: ChaosRequest;
        try {
          request = parseChaosRequest(body);
        } catch (err) {
          sendJson(res, 400, errorBody(err));
          return;
        }
        run = (report) => chaos.inject(request, report);
      }
    } else if (processAction !== null) {
      const act = handlers.processAction;
      if (act === undefined) {
        sendJson(res, 404, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_NOT_FOUND', message: 'this control API has no process actions' } });
        return;
      }
      const [, id, action] = processAction as unknown as [string, string, 'kill' | 'restart' | 'drain'];
      run = (report) => act(decodeURIComponent(id), action, report);
    } else if (path === '/build') run = (report) => handlers.build(report);
    else if (path === '/deploy') {
      const strategy = body.strategy;
      if (strategy !== undefined && strategy !== 'rolling' && strategy !== 'blue-green') {
        sendJson(res, 400, { error: { code: BAD_REQUEST, message: `strategy must be rolling or blue-green, not ${JSON.stringify(strategy)}` } });
        return;
      }
      run = (report) => handlers.deploy(strategy, report);
    } else if (path !== '/scale') {
      const request = dbRequest(path, body);
      if (typeof request === 'string') {
        sendJson(res, 400, { error: { code: BAD_REQUEST, message: request } });
        return;
      }
      run = (report) => handlers.db(request, report);
    } else {
      const { role, count } = body;
      if (typeof role !== 'string' || typeof count !== 'number') {
        sendJson(res, 400, { error: { code: BAD_REQUEST, message: 'send { role: "app", count: <number> }' } });
        return;
      }
      run = (report) => handlers.scale(role, count, report);
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const write = (line: ControlStreamLine): void => {
      if (!res.destroyed) res.write(`${JSON.stringify(line)}\n`);
    };
    try {
      const result = await run((event) => write({ event }));
      write({ result: result ?? null });
    } catch (err) {
      write(errorBody(err));
    }
    res.end();
    return;
  }
  req.resume();
  sendJson(res, 404, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_NOT_FOUND', message: `no ${method} ${path}; see GET /status, GET /events, POST /build, /deploy, /scale, /db/rebuild, /db/failover, /reshard, /processes/<id>/kill|restart|drain, GET|POST /chaos, POST /chaos/heal` } });
}

const PROCESS_ACTION = /^\/processes\/([^/]{1,200})\/(kill|restart|drain)$/;
const OPERATIONS = new Set(['/build', '/deploy', '/scale', '/db/rebuild', '/db/failover', '/reshard', '/chaos', '/chaos/heal']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The request of a data-tier path, or what is wrong with its body. */
function dbRequest(path: string, body: Record<string, unknown>): DbRequest | string {
  if (path === '/db/failover') return { action: 'failover' };
  if (path === '/db/rebuild') {
    return typeof body.node === 'string' && NAME.test(body.node) ? { action: 'rebuild', node: body.node } : 'send { node: "<name>" }, e.g. { "node": "pg0" }';
  }
  const { to, buckets, fraction } = body;
  if (typeof to !== 'string' || !NAME.test(to)) return 'send { to: "<shard database name>" } (letters, digits and _, at most 63)';
  if (buckets !== undefined && fraction !== undefined) return 'send buckets or fraction, not both';
  if (buckets !== undefined && (typeof buckets !== 'number' || !Number.isInteger(buckets) || buckets < 1)) return 'buckets must be a whole number of at least 1';
  if (fraction !== undefined && (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 1))) return 'fraction must be a number above 0 and at most 1';
  return { action: 'reshard', to, ...(buckets === undefined ? {} : { buckets }), ...(fraction === undefined ? {} : { fraction }) };
}

function errorBody(err: unknown): { error: { code: string; message: string } } {
  const code = isScaleoutError(err) ? err.code : 'SCALEOUT_RUNTIME_INTERNAL';
  return { error: { code, message: (err as Error)?.message ?? String(err) } };
}

async function readBody(req: http.IncomingMessage): Promise<Record<string, unknown> | Error> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > CONTROL_MAX_BODY_BYTES) return new Error(`request body over ${CONTROL_MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return new Error('send a JSON object');
    return parsed as Record<string, unknown>;
  } catch {
    return new Error('the body is not valid JSON');
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
