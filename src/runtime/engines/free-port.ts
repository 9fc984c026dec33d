import { createServer, type Server } from 'node:net';
import { FreePortError } from './errors.js';

function listenOnAnyPort(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => resolve(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/**
 * Reserves `count` distinct TCP ports that are free on `host` right now.
 *
 * All listeners stay open until every port is known, so the kernel never hands out
 * the same port twice. The ports are released before they are returned, so another
 * process may take one before the caller binds: callers that spawn a server on it
 * must retry with a new port when the bind fails.
 *
 * @param host - address to probe.
 * @defaultValue host `'127.0.0.1'`
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const settled = await Promise.allSettled(Array.from({ length: count }, () => listenOnAnyPort(host)));
  const servers = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const ports = servers.map(portOf);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure !== undefined) throw new FreePortError(host, { cause: failure.reason });
  if (ports.some((p) => p <= 0)) throw new FreePortError(host);
  return ports;
}

/**
 * Reserves one TCP port that is free on `host` right now (see {@link freePorts}).
 *
 * @defaultValue host `'127.0.0.1'`
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  if (port === undefined) throw new FreePortError(host);
  return port;
}
