import http from 'node:http';
import { AggregatorRegistry, Gauge } from 'prom-client';
import { splitAddress } from '../address.js';
import type { BalancerLiveConfig, BalancerSnapshot } from '../balancer.js';
import { MAX_ADMIN_BODY_BYTES } from '../admin-api.js';
import { AdminBodyTooLargeError, AdminInvalidInputError, BALANCER_RESPONSES, BalancerError, BalancerWorkersError } from '../errors.js';
import type { BalancerWorkers } from './balancer-workers.js';
import { authorized, bearer, listenAdmin } from '../admin-listener.js';
import type { AdminListener } from '../admin-listener.js';

/** A worker's admin API must answer the primary within this time. @defaultValue 10000 */
const WORKER_ADMIN_TIMEOUT_MS = 10_000;

export type WorkersAdmin = AdminListener;

interface Answer {
  status: number;
  type: string;
  body: string;
}

/** What `GET /servers` adds with workers: one line per worker process. */
export interface WorkerSnapshot {
  index: number;
  pid: number | undefined;
  restarts: number;
  connections: number;
  /** Requests this worker sent to servers, all pools together. */
  requests: number;
}

/**
 * The admin API of a balancer with workers: the same paths and token as a single
 * balancer's (see `admin-api.ts`), answered by asking every worker's own admin API.
 *
 *  - A change (any method but GET) goes to every running worker, one change at a time,
 *    and is answered once all of them answered: when the answer comes, every worker
 *    applies it. The primary then keeps the live config, for workers started later.
 *  - `GET /servers` sums the workers' counters, connections and in-flight requests (a
 *    server's state is the first worker's) and lists the workers; `GET /metrics` sums
 *    their metrics (prom-client's AggregatorRegistry); other reads ask one worker.
 */
export async function startWorkersAdmin(workers: BalancerWorkers, options: { address: string; token: string }): Promise<WorkersAdmin> {
  const token = bearer(options.token);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const server = http.createServer((req, res) => {
    handle(workers, agent, token, req, res).catch((err: unknown) => sendError(res, err));
  });
  return listenAdmin(server, options.address, () => agent.destroy());
}

async function handle(workers: BalancerWorkers, agent: http.Agent, token: Buffer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (!authorized(req, res, token)) return;
  const method = req.method ?? 'GET';
  const target = req.url ?? '/';
  const body = await readBody(req);
  const path = target.split('?')[0];
  const ask = (admin: string, accept?: string): Promise<Answer | undefined> =>
    askWorker(agent, admin, workers.token, method, target, req.headers['content-type'], body, accept);

  if (method === 'GET') {
    const admins = running(workers);
    if (path === '/metrics') {
      const answers = await Promise.all(admins.map((a) => ask(a, 'application/json')));
      const parts = answers.filter((a): a is Answer => a?.status === 200).map((a) => JSON.parse(a.body) as unknown);
      if (parts.length === 0) throw noWorker();
      const registry = AggregatorRegistry.aggregate(parts as never);
      new Gauge({ name: 'scaleout_balancer_workers', help: 'Balancer worker processes serving', registers: [registry] }).set(parts.length);
      send(res, { status: 200, type: registry.contentType, body: await registry.metrics() });
      return;
    }
    if (path === '/servers') {
      const list = workers.workers().filter((w) => w.admin !== undefined);
      const answers = await Promise.all(list.map((w) => ask(w.admin!)));
      const snapshots = answers.map((a, i) => ({ worker: list[i]!, snapshot: a?.status === 200 ? JSON.parse(a.body) as BalancerSnapshot : undefined }));
      const ok = snapshots.filter((s): s is typeof s & { snapshot: BalancerSnapshot } => s.snapshot !== undefined);
      if (ok.length === 0) throw noWorker();
      send(res, { status: 200, type: 'application/json', body: JSON.stringify(mergeSnapshots(ok)) });
      return;
    }
    const first = admins[0];
    const answer = first === undefined ? undefined : await ask(first);
    if (answer === undefined) throw noWorker();
    send(res, answer);
    return;
  }
  if (method === 'POST' && path === '/pools' && hasTableFile(body)) {
    // Every worker would write it: the primary is the one writer, for the tables of the config.
    throw new AdminInvalidInputError('with balancer workers, a stick table with a file is set in the config, not added over the admin API; remove affinity.file');
  }
  // A change: one at a time, and never while a worker starts (it gets the live config or the change, never neither).
  const answer = await workers.serially(async () => {
    const admins = running(workers);
    const answers = (await Promise.all(admins.map((a) => ask(a)))).filter((a): a is Answer => a !== undefined);
    if (answers.length === 0) throw noWorker();
    const first = answers[0]!;
    if (answers.some((a) => a.status !== first.status)) {
      throw new BalancerWorkersError(500, `the balancer workers answered differently (${answers.map((a) => a.status).join(', ')}); GET /servers shows where they stand`);
    }
    if (first.status < 300) {
      const config = await askWorker(agent, admins[0]!, workers.token, 'GET', '/config', undefined, Buffer.alloc(0));
      if (config?.status === 200) workers.setLiveConfig(JSON.parse(config.body) as BalancerLiveConfig);
    }
    return first;
  });
  send(res, answer);
}

function hasTableFile(body: Buffer): boolean {
  try {
    const pool = JSON.parse(body.toString('utf8')) as { affinity?: { type?: unknown; file?: unknown } } | null;
    return pool?.affinity?.type === 'table' && pool.affinity.file !== undefined;
  } catch {
    // Not JSON: the workers refuse it with their own answer.
    return false;
  }
}

function running(workers: BalancerWorkers): string[] {
  return workers.workers().flatMap((w) => (w.admin === undefined ? [] : [w.admin]));
}

function noWorker(): BalancerWorkersError {
  return new BalancerWorkersError(503, 'no balancer worker is running right now (one is being restarted); retry in a moment');
}

/** Counters, in-flight and connections summed; everything else (state, weights, routes) from the first worker. */
function mergeSnapshots(parts: Array<{ worker: { index: number; pid: number | undefined; restarts: number }; snapshot: BalancerSnapshot }>): BalancerSnapshot & { workers: WorkerSnapshot[] } {
  const merged = structuredClone(parts[0]!.snapshot);
  merged.connections = 0;
  for (const pool of Object.values(merged.pools)) {
    for (const server of pool.servers) {
      server.inFlight = 0;
      for (const key of Object.keys(server.counters) as Array<keyof typeof server.counters>) server.counters[key] = 0;
    }
  }
  const workerLines: WorkerSnapshot[] = [];
  for (const { worker, snapshot } of parts) {
    merged.connections += snapshot.connections;
    let requests = 0;
    for (const [name, pool] of Object.entries(snapshot.pools)) {
      for (const server of pool.servers) {
        requests += server.counters.requests;
        const into = merged.pools[name]?.servers.find((s) => s.id === server.id);
        if (into === undefined) continue;
        into.inFlight += server.inFlight;
        for (const key of Object.keys(into.counters) as Array<keyof typeof into.counters>) into.counters[key] += server.counters[key];
      }
      // Each worker has its own cache: counters and bytes add up.
      const cache = merged.pools[name]?.cache;
      if (cache !== undefined && pool.cache !== undefined && snapshot !== parts[0]!.snapshot) {
        for (const key of ['hits', 'notModified', 'misses', 'bypasses', 'stores', 'refused', 'purged', 'entries', 'bytes', 'maxBytes'] as const) cache[key] += pool.cache[key];
      }
    }
    workerLines.push({ index: worker.index, pid: worker.pid, restarts: worker.restarts, connections: snapshot.connections, requests });
  }
  return { ...merged, workers: workerLines };
}

function askWorker(agent: http.Agent, admin: string, token: string, method: string, target: string, contentType: string | undefined, body: Buffer, accept?: string): Promise<Answer | undefined> {
  const { host, port } = splitAddress(admin);
  return new Promise((resolve) => {
    const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${token}`, 'content-length': body.length };
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (accept !== undefined) headers.accept = accept;
    // A worker that dies meanwhile has no say: it is restarted from the live config.
    const req = http.request({ agent, host, port, method, path: target, headers, timeout: WORKER_ADMIN_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 500, type: String(res.headers['content-type'] ?? 'application/json'), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end(body);
  });
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_ADMIN_BODY_BYTES) throw new AdminBodyTooLargeError(MAX_ADMIN_BODY_BYTES);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_ADMIN_BODY_BYTES) throw new AdminBodyTooLargeError(MAX_ADMIN_BODY_BYTES);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(res: http.ServerResponse, answer: Answer, extra: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(answer.status, { ...extra, 'content-type': answer.type, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

function sendError(res: http.ServerResponse, err: unknown): void {
  const status = err instanceof BalancerError ? err.status : BALANCER_RESPONSES.adminInternal.status;
  const code = err instanceof BalancerError ? err.code : BALANCER_RESPONSES.adminInternal.code;
  const message = err instanceof Error ? err.message : String(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 413) res.setHeader('connection', 'close');
  send(res, { status, type: 'application/json', body: JSON.stringify({ error: { code, message } }) });
}
