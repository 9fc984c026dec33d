import { createServer, connect } from 'node:net';

/** How long {@link waitForPort} keeps trying. @defaultValue 15000 */
export const DEFAULT_PORT_WAIT_MS = 15_000;

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read the port the kernel picked'))));
    });
  });
}

/** Resolves once `host:port` accepts a TCP connection; rejects after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs = DEFAULT_PORT_WAIT_MS, isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delayMs = 10;
  while (true) {
    if (await canConnect(host, port)) return;
    if (!isAlive()) throw new Error(`the process meant to listen on ${host}:${port} exited; see its log under bench/.work/`);
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms; see the logs under bench/.work/`);
    // Polling a port is the condition itself; the back-off only keeps it cheap.
    await new Promise((r) => setTimeout(r, delayMs));
    delayMs = Math.min(delayMs * 2, 200);
  }
}

async function canConnect(host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}

/** What {@link httpGet} read. */
export interface HttpAnswer {
  status: number;
  /** Lower-case header name -> every value it had. */
  headers: Map<string, string[]>;
  body: string;
}

/**
 * One HTTP/1.1 GET over a fresh socket with `Connection: close`. A hand-rolled
 * client keeps the probe free of any HTTP library's own pooling and header
 * rules: it sees exactly what the proxy sent. The answer ends at its
 * Content-Length or last chunk, not only at close, since some proxies keep the
 * connection open despite `Connection: close`.
 */
export async function httpGet(host: string, port: number, path: string, headers: Record<string, string> = {}, timeoutMs = 2_000): Promise<HttpAnswer> {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return await new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let settled = false;
    const finish = (err: Error | undefined, answer?: HttpAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (answer !== undefined) resolve(answer);
      else reject(err ?? new Error(`${host}:${port} sent no answer`));
    };
    const timer = setTimeout(() => finish(new Error(`no complete HTTP answer from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    let text = '';
    socket.setEncoding('latin1');
    socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n${extra}Connection: close\r\n\r\n`));
    socket.on('data', (chunk: string) => {
      text += chunk;
      const answer = parseAnswer(text, false);
      if (answer !== undefined) finish(undefined, answer);
    });
    socket.once('error', (err) => finish(err));
    socket.once('close', () => {
      const answer = parseAnswer(text, true);
      finish(answer === undefined ? new Error(`${host}:${port} closed without a valid HTTP answer`) : undefined, answer);
    });
  });
}

/** The answer in `text` once it is complete (or, at close, whatever arrived); undefined before that. */
function parseAnswer(text: string, closed: boolean): HttpAnswer | undefined {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const lines = text.slice(0, headEnd).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (match?.[1] === undefined) return undefined;
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const list = headers.get(name) ?? [];
    list.push(line.slice(colon + 1).trim());
    headers.set(name, list);
  }
  const body = text.slice(headEnd + 4);
  const length = Number(headers.get('content-length')?.[0] ?? NaN);
  const chunked = /chunked/i.test(headers.get('transfer-encoding')?.[0] ?? '');
  const complete = closed || (Number.isFinite(length) && body.length >= length) || (chunked && body.endsWith('0\r\n\r\n'));
  return complete ? { status: Number(match[1]), headers, body: Number.isFinite(length) ? body.slice(0, length) : body } : undefined;
}

/** The status of a GET, so readiness means "answers HTTP", not only "accepts TCP". */
export async function httpStatus(host: string, port: number, path: string, timeoutMs = 2_000): Promise<number> {
  return (await httpGet(host, port, path, {}, timeoutMs)).status;
}
