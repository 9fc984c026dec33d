import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitAddress } from './address.js';
import { AdminRequestError, BALANCER_RESPONSES } from './errors.js';

/**
 * What a balancer's admin API and the admin API of a balancer with workers share: the
 * listening, the bearer token check and the refusal a client without it gets.
 */
export interface AdminListener {
  readonly address: string;
  close(): Promise<void>;
}

const UNAUTHORIZED_BODY = JSON.stringify({
  error: { code: BALANCER_RESPONSES.adminUnauthorized.code, message: BALANCER_RESPONSES.adminUnauthorized.message },
});

/** The `Authorization` value a request must carry, compared in constant time by {@link authorized}. */
export function bearer(token: string): Buffer {
  return Buffer.from(`Bearer ${token}`);
}

/** True when the request carries the token; otherwise it has been answered 401 and must be left alone. */
export function authorized(req: http.IncomingMessage, res: http.ServerResponse, expected: Buffer): boolean {
  const given = Buffer.from(req.headers.authorization ?? '');
  if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  res.writeHead(BALANCER_RESPONSES.adminUnauthorized.status, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
  res.end(UNAUTHORIZED_BODY);
  return false;
}

/** Listens on `address`; a client that sends garbage loses its connection, nothing more. */
export async function listenAdmin(server: http.Server, address: string, onClose?: () => void): Promise<AdminListener> {
  server.on('clientError', (_err, socket) => socket.destroy());
  const { host, port } = splitAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new AdminRequestError(500, `cannot listen on ${address} for the admin API: ${err.message}`)));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.address}:${bound.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      onClose?.();
    }),
  };
}
