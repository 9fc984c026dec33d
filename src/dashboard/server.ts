import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { fileURLToPath } from 'node:url';
import { isScaleoutError } from '../internal/errors.js';
import { parseChaosRequest, parseEventId, streamEvents } from '../runtime/index.js';
import type { ControlHost, ControlPages } from '../runtime/index.js';
import { LoadRunner } from './load-runner.js';
import { loginPage, appPage } from './pages.js';
import { StatsStream } from './stats-stream.js';
import { DASHBOARD_COOKIE, DASHBOARD_PATH, loginCookie, logoutCookie, readCookie, sameSecret, sessionValue } from './session-cookie.js';

/** Largest form or JSON body the dashboard reads. @defaultValue 4096 */
export const DASHBOARD_MAX_BODY_BYTES = 4096;

/** Only this origin's scripts, styles and connections; no frames, no inline code. */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Where `npm run build` puts the bundled client (the same folder from src/ and from dist/). */
const ASSET_DIR = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));
const ASSETS: Record<string, string> = { '/app.js': 'text/javascript; charset=utf-8', '/app.css': 'text/css; charset=utf-8' };

/** What the dashboard reads and drives: the supervisor, as the control API sees it. */
export type DashboardHost = ControlHost;

/** The dashboard's routes, mounted on the control listener under `/dashboard`. */
export type DashboardRoutes = ControlPages;

/**
 * The dashboard: a login form that trades the control token for an HttpOnly,
 * SameSite=Strict cookie (an EventSource cannot send a bearer header), then the
 * page, its bundled script, the status as JSON, the event stream and the buttons'
 * actions. Everything but the login form answers 401 without the cookie.
 */
export function createDashboard(host: DashboardHost): DashboardRoutes {
  const session = sessionValue(host.token);
  const load = new LoadRunner(host);
  const live: Live = { load, stats: new StatsStream(host, load) };
  return {
    path: DASHBOARD_PATH,
    matches: (req) => {
      const path = pathOf(req);
      return path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`);
    },
    handle: (req, res) => handle(host, live, session, req, res),
  };
}

/** The dashboard's own live parts: the load button's runner and the panels' feed. */
interface Live {
  load: LoadRunner;
  stats: StatsStream;
}

async function handle(host: DashboardHost, live: Live, session: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = pathOf(req).slice(DASHBOARD_PATH.length) || '/';
  const method = req.method ?? 'GET';
  if (path === '/login' && method === 'POST') {
    const form = new URLSearchParams(await readBody(req) ?? '');
    if (!sameSecret(form.get('token') ?? '', host.token)) {
      sendHtml(res, 401, loginPage('That is not the token. It is `token` in .scaleout/supervisor.json.'));
      return;
    }
    res.writeHead(303, { ...securityHeaders(), location: DASHBOARD_PATH, 'set-cookie': loginCookie(session) });
    res.end();
    return;
  }
  const authed = sameSecret(readCookie(req.headers.cookie, DASHBOARD_COOKIE) ?? '', session);
  if (!authed) {
    req.resume();
    if (path === '/' && method === 'GET') sendHtml(res, 200, loginPage());
    else sendJson(res, 401, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_UNAUTHORIZED', message: `log in at ${DASHBOARD_PATH} with the token from .scaleout/supervisor.json` } });
    return;
  }
  if (method === 'GET') {
    req.resume();
    if (path === '/') return sendHtml(res, 200, appPage());
    if (path in ASSETS) return sendAsset(res, path);
    if (path === '/api/status') return sendJson(res, 200, await live.stats.frame());
    if (path === '/api/stats') {
      res.setHeader('content-security-policy', DASHBOARD_CSP);
      live.stats.attach(res);
      return;
    }
    if (path === '/api/events') {
      const afterId = parseEventId(req.headers['last-event-id'] as string | undefined);
      if (afterId instanceof Error) return sendJson(res, 400, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST', message: afterId.message } });
      res.setHeader('content-security-policy', DASHBOARD_CSP);
      streamEvents(host.events, afterId, res);
      return;
    }
  }
  if (method === 'POST') {
    if (path === '/logout') {
      req.resume();
      res.writeHead(303, { ...securityHeaders(), location: DASHBOARD_PATH, 'set-cookie': logoutCookie() });
      res.end();
      return;
    }
    return runAction(host, live, path, req, res);
  }
  req.resume();
  sendJson(res, 404, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_NOT_FOUND', message: `no dashboard route ${method} ${path}` } });
}

const PROCESS_ACTION = /^\/api\/processes\/([^/]{1,200})\/(kill|restart|drain)$/;

/**
 * The buttons. Besides the SameSite=Strict cookie, a JSON content type is required:
 * a cross-site form cannot send one without a CORS preflight, which this never grants.
 */
async function runAction(host: DashboardHost, live: Live, path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
    req.resume();
    return sendJson(res, 415, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST', message: 'send application/json' } });
  }
  const text = await readBody(req);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text === undefined || text === '' ? '{}' : text) as Record<string, unknown>;
  } catch {
    return sendJson(res, 400, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST', message: 'the body is not valid JSON' } });
  }
  let run: (() => Promise<unknown>) | undefined;
  const processAction = PROCESS_ACTION.exec(path);
  if (processAction !== null) {
    const id = safeDecode(processAction[1]!);
    if (id === undefined) return sendJson(res, 400, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST', message: 'the process id is not valid percent-encoding' } });
    const action = processAction[2] as 'kill' | 'restart' | 'drain';
    run = () => host.processAction(id, action);
  } else if (path === '/api/scale') {
    const { role, count } = body ?? {};
    if (typeof role !== 'string' || typeof count !== 'number') return sendJson(res, 400, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST', message: 'send { role, count }' } });
    run = () => host.scale(role, count);
  } else if (path === '/api/deploy') {
    run = () => host.deploy();
  } else if (path === '/api/load') {
    run = async () => live.load.start(body);
  } else if (path === '/api/chaos' && host.chaos !== undefined) {
    const chaos = host.chaos;
    // Checked before anything runs: a bad body is a 400 with what to send.
    let request;
    try {
      request = parseChaosRequest(body ?? {});
    } catch (err) {
      return sendJson(res, 400, { error: { code: isScaleoutError(err) ? err.code : 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST', message: (err as Error).message } });
    }
    run = () => chaos.inject(request);
  } else if (path === '/api/chaos/heal' && host.chaos !== undefined) {
    const chaos = host.chaos;
    run = () => chaos.heal();
  }
  if (run === undefined) return sendJson(res, 404, { error: { code: 'SCALEOUT_RUNTIME_CONTROL_NOT_FOUND', message: `no dashboard action ${path}` } });
  try {
    sendJson(res, 200, { result: await run() ?? null });
  } catch (err) {
    const code = isScaleoutError(err) ? err.code : 'SCALEOUT_RUNTIME_INTERNAL';
    sendJson(res, isScaleoutError(err) ? 409 : 500, { error: { code, message: (err as Error)?.message ?? String(err) } });
  }
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function pathOf(req: http.IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://control').pathname;
}

/** The body as text; undefined when it is over the limit (the rest is discarded). */
async function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > DASHBOARD_MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function securityHeaders(): Record<string, string> {
  return {
    'content-security-policy': DASHBOARD_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  };
}

async function sendAsset(res: http.ServerResponse, path: string): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(`${ASSET_DIR}${path.slice(1)}`);
  } catch {
    return sendJson(res, 503, { error: { code: 'SCALEOUT_RUNTIME_INTERNAL', message: `the dashboard is not built (${ASSET_DIR}${path.slice(1)} is missing): run npm run build` } });
  }
  res.writeHead(200, { ...securityHeaders(), 'content-type': ASSETS[path]!, 'content-length': body.length });
  res.end(body);
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, { ...securityHeaders(), 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...securityHeaders(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
