import net from 'node:net';
import { PortInUseError } from './errors.js';

/**
 * Fails with a {@link PortInUseError} when `address` (`host:port`) cannot be bound
 * now, so `scaleout up` stops before it starts engines it would have to stop again.
 * Port 0 always passes. The port is released at once: this is an early, friendly
 * check, not a reservation.
 */
export async function assertPortFree(what: string, address: string): Promise<void> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new PortInUseError(what, address, { cause: err }));
      // Other errors (no permission, an address not on this machine) are the balancer's to report.
      else resolve();
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}
