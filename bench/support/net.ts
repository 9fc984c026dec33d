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

/**
 * Sends one HTTP/1.1 GET over a fresh socket and resolves with the status code,
 * so readiness means "answers HTTP", not only "accepts TCP".
 */
export async function httpStatus(host: string, port: number, path: string, timeoutMs = 2_000): Promise<number> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no HTTP answer from ${host}:${port} within ${timeoutMs} ms`)); }, timeoutMs);
    let head = '';
    socket.setEncoding('latin1');
    socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: string) => {
      head += chunk;
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        socket.destroy();
        resolve(Number(match[1]));
      }
    });
    socket.once('error', (err) => { clearTimeout(timer); reject(err); });
    socket.once('close', () => { clearTimeout(timer); reject(new Error(`${host}:${port} closed before sending a status line`)); });
  });
}
