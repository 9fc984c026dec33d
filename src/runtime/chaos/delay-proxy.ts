import net from 'node:net';

/**
 * The source address of the proxy's own connections to the slowed process: the nft
 * redirect leaves them alone (any 127/8 address works on loopback; this one is used by
 * nothing else). @defaultValue '127.83.67.1'
 */
export const DELAY_PROXY_SOURCE = '127.83.67.1';
/** Bytes a proxied connection may hold back in one direction before it stops reading. @defaultValue 1048576 */
export const DELAY_PROXY_MAX_HELD_BYTES = 1024 * 1024;

/**
 * A TCP proxy on loopback that holds every byte the target sends for `delayMs` before
 * passing it on: the latency of `scaleout chaos slow` where the kernel has no netem.
 * Order is kept (each chunk is due `delayMs` after it arrived), and memory is bounded:
 * past {@link DELAY_PROXY_MAX_HELD_BYTES} held, it stops reading the target.
 */
export class DelayProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #target: { host: string; port: number };
  readonly #delayMs: number;

  private constructor(target: { host: string; port: number }, delayMs: number) {
    this.#target = target;
    this.#delayMs = delayMs;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  static async start(target: { host: string; port: number }, delayMs: number): Promise<DelayProxy> {
    const proxy = new DelayProxy(target, delayMs);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  #accept(client: net.Socket): void {
    const upstream = net.connect({ host: this.#target.host, port: this.#target.port, localAddress: DELAY_PROXY_SOURCE });
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    let held = 0;
    let ended = false;
    client.on('error', close).on('close', close);
    // A clean end of the target waits for the bytes still held back (see 'end' below).
    upstream.on('error', close).on('close', () => {
      if (!ended) close();
    });
    client.pipe(upstream);
    let pendingEnds = 0;
    upstream.on('data', (chunk: Buffer) => {
      held += chunk.length;
      pendingEnds++;
      if (held > DELAY_PROXY_MAX_HELD_BYTES) upstream.pause();
      setTimeout(() => {
        held -= chunk.length;
        pendingEnds--;
        if (!client.destroyed) client.write(chunk);
        if (held <= DELAY_PROXY_MAX_HELD_BYTES) upstream.resume();
        if (ended && pendingEnds === 0) client.end();
      }, this.#delayMs).unref();
    });
    upstream.on('end', () => {
      ended = true;
      if (pendingEnds === 0) client.end();
    });
    client.on('finish', () => {
      if (ended) close();
    });
  }

  /** Stops accepting and closes every proxied connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
