import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';

/**
 * A TCP forwarder in front of a real engine that a test can cut (every connection
 * reset, the port closed) and restore, as if the engine's host vanished and came back.
 */
export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #stalled = false;
  port = 0;

  constructor(targetHost: string, targetPort: number) {
    this.#target = { host: targetHost, port: targetPort };
  }

  async start(): Promise<void> {
    this.#stalled = false;
    const server = createServer((client) => {
      if (this.#stalled) {
        // Accept and then say nothing, like a host that is up but hung.
        this.#sockets.add(client);
        client.on('error', () => undefined);
        client.on('close', () => this.#sockets.delete(client));
        return;
      }
      const upstream = connect(this.#target.port, this.#target.host);
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        this.#sockets.add(from);
        from.on('error', () => to.destroy());
        from.on('close', () => { this.#sockets.delete(from); to.destroy(); });
        from.pipe(to);
      }
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
  }

  /** Keep every connection open but forward nothing, in either direction, on old and new connections. */
  stall(): void {
    this.#stalled = true;
    for (const socket of this.#sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.resetAndDestroy();
    if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  }
}
