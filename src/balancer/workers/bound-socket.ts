import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { splitAddress } from '../address.js';
import { BalancerConfigError } from '../errors.js';

/** A raw TCP handle as node:net makes it: what `child.send(message, handle)` passes on. */
type TcpHandle = object & {
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  close(): void;
};

type CreateServerHandle = (address: string, port: number, addressType: 4 | 6) => TcpHandle | number;

/**
 * A socket bound to a listener's address but not listening: the balancer's primary
 * binds it and hands it to every worker, whose `listen()` puts it in the listening
 * state. All workers then wait in accept on the one socket and the kernel gives each
 * connection to one of them, as with nginx's workers; the primary never accepts.
 * Binding without listening is `net._createServerHandle` (what node:cluster uses to
 * share server handles); the runtime's `ListenSocket` does the same for its supervisor.
 */
export function bindWithoutListening(address: string): TcpHandle {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') throw new BalancerConfigError(`this Node.js cannot bind a socket for balancer workers to share (${address}); run without workers`);
  const { host, port } = splitAddress(address);
  const result = create(host, port, net.isIPv6(host) ? 6 : 4);
  if (typeof result === 'number') throw new BalancerConfigError(`cannot listen on ${address}: ${getSystemErrorName(result)}; pick a free port`);
  const out: { port?: number } = {};
  result.getsockname(out);
  // libuv reports EADDRINUSE of a bind only at listen(); the socket is then not bound at all.
  if (out.port === undefined || out.port === 0) {
    result.close();
    throw new BalancerConfigError(`cannot listen on ${address}: EADDRINUSE; pick a free port`);
  }
  return result;
}

export type { TcpHandle };
