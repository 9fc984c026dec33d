import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { PortInUseError, RuntimeListenError } from './errors.js';

/** A raw TCP handle as node:net makes it: what `child.send(message, handle)` passes on. */
type TcpHandle = object & {
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  close(): void;
};

type CreateServerHandle = (address: string, port: number, addressType: 4 | 6) => TcpHandle | number;

/**
 * The balancer's client socket, bound by the supervisor and handed to each balancer
 * child it starts (`child.send(message, handle)`; the child listens on it).
 *
 *     supervisor: bind ─► child 1 listens ─► child 1 dies ─► child 2 listens ─► ...
 *                 (holds the socket throughout; never accepts on it)
 *
 * The supervisor only binds: once a child has listened, the socket stays in the
 * listening state for as long as any process holds it, so while a crashed balancer
 * is replaced, new clients wait in the kernel's accept queue instead of being
 * refused. The supervisor never listens on it itself, so it never competes with the
 * balancer for connections. node:net exposes binding without listening only as
 * `net._createServerHandle` (what node:cluster uses to share server handles).
 */
export class ListenSocket {
  readonly address: string;
  readonly handle: object;
  #closed = false;

  private constructor(handle: TcpHandle, address: string) {
    this.handle = handle;
    this.address = address;
  }

  /** Binds `host:port` (port 0: a free one); undefined where node:net cannot bind without listening. */
  static bind(address: string): ListenSocket | undefined {
    const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
    if (typeof create !== 'function') return undefined;
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(address.slice(colon + 1));
    const result = create(host, port, net.isIPv6(host) ? 6 : 4);
    if (typeof result === 'number') {
      const name = getSystemErrorName(result);
      if (name === 'EADDRINUSE') throw new PortInUseError('balancer.listen', address);
      throw new RuntimeListenError(address, name);
    }
    const out: { address?: string; port?: number; family?: string } = {};
    result.getsockname(out);
    // libuv reports EADDRINUSE of a bind only at listen(); the socket is then not bound
    // at all (port 0), and a listen() on it would pick any port on every address.
    if (out.port === undefined || out.port === 0) {
      result.close();
      throw new PortInUseError('balancer.listen', address);
    }
    const bound = out.family === 'IPv6' ? `[${out.address ?? host}]:${out.port ?? port}` : `${out.address ?? host}:${out.port ?? port}`;
    return new ListenSocket(result, bound);
  }

  /** Closes the supervisor's hold: once no balancer holds it either, the port is free. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    (this.handle as TcpHandle).close();
  }
}
