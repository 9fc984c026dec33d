import net from 'node:net';
import type { Server } from '../server.js';

/**
 * The side of an exchange that currently uses an upstream connection. Handlers are
 * bound once per socket and forward to whichever exchange owns it, so reusing a
 * keep-alive connection allocates no closures.
 */
export interface UpstreamOwner {
  onUpstreamConnect(conn: Upstream): void;
  /**
   * Bytes from the server. `chunk` is a view of a read buffer shared by every upstream
   * socket and is overwritten by the next read: whatever must outlive the call (a
   * partial head, bytes handed to a socket write) has to be copied.
   */
  onUpstreamData(conn: Upstream, chunk: Buffer): void;
  /** The server closed (or the socket failed); `error` is set for failures. */
  onUpstreamClose(conn: Upstream, error: Error | undefined): void;
  onUpstreamDrain(conn: Upstream): void;
}

/**
 * Size of the read buffer every upstream socket reads into. As large as the buffer
 * libuv would allocate per read, so a large body needs no more reads than before.
 */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Upstream sockets read into one buffer (`onread`) instead of Node's stream layer,
 * which allocates an ArrayBuffer per read and pushes it through Readable and 'data'.
 * Sharing one buffer is safe because reads are delivered one at a time on the event
 * loop, and each is consumed before the next one lands (see UpstreamOwner.onUpstreamData).
 */
const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

/** After a failed write, the read side gets this long to deliver what the server sent before it closed. */
const WRITE_ERROR_READ_GRACE_MS = 50;

/** One connection to a server, reused across requests while the server keeps it alive. */
export class Upstream {
  readonly socket: net.Socket;
  readonly server: Server;
  owner: UpstreamOwner | null = null;
  connected = false;
  /** Served at least one full exchange: a failure on it may be a stale keep-alive. */
  reused = false;
  closed = false;
  idleSinceMs = 0;
  readonly #idleUpstreams: IdleUpstreams;
  #error: Error | undefined;

  constructor(server: Server, idleUpstreams: IdleUpstreams, connectTimeoutMs: number) {
    this.server = server;
    this.#idleUpstreams = idleUpstreams;
    this.socket = net.connect({
      host: server.host,
      port: server.port,
      noDelay: true,
      onread: { buffer: readBuffer, callback: (bytes, buf) => this.#onRead(bytes, buf) },
    });
    this.socket.setTimeout(connectTimeoutMs);
    // A failed write must not close the socket: a server that answered early (a 413 for
    // a body it will not read) and closed makes the next body write fail while its
    // response still waits to be read. The read side closes the socket instead: at the
    // server's FIN ('end' below), on a read error, or when the owner is done with it.
    const states = this.socket as unknown as { _readableState: { autoDestroy: boolean }; _writableState: { autoDestroy: boolean } };
    states._readableState.autoDestroy = false;
    states._writableState.autoDestroy = false;
    this.socket.on('connect', () => {
      this.connected = true;
      this.socket.setTimeout(0);
      this.owner?.onUpstreamConnect(this);
    });
    this.socket.on('timeout', () => {
      // Only armed while connecting: response timeouts belong to the exchange.
      if (!this.connected) this.socket.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
    });
    this.socket.on('drain', () => this.owner?.onUpstreamDrain(this));
    this.socket.on('error', (err) => {
      this.#error = err;
      // With autoDestroy off, a failed write also marks the read side errored, so the
      // server's FIN can no longer show as 'end'. What the server sent before its reset
      // is already queued here and is read within a poll or two: then close.
      if ((err as NodeJS.ErrnoException).syscall === 'write') {
        setTimeout(() => this.socket.destroy(err), WRITE_ERROR_READ_GRACE_MS).unref();
      }
    });
    this.socket.on('end', () => {
      // Closed by the server, and everything it sent has been read: we never half-close
      // upstream, and a request body it no longer reads has nowhere to go.
      this.socket.destroy();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.#idleUpstreams.forget(this);
      const owner = this.owner;
      this.owner = null;
      owner?.onUpstreamClose(this, this.#error);
    });
  }

  /** Always true: the owner pauses the socket itself when the client falls behind. */
  #onRead(bytes: number, buf: Uint8Array): boolean {
    if (this.owner !== null) this.owner.onUpstreamData(this, Buffer.from(buf.buffer, buf.byteOffset, bytes));
    else this.socket.destroy(); // bytes on an idle connection: the framing is broken
    return true;
  }

  /** Writes bytes: a Buffer, or a latin1 string (one char per byte, see writeHead). */
  write(data: Buffer | string): boolean {
    return this.socket.write(data, 'latin1');
  }
}

/**
 * The idle upstreams: keep-alive connections per server, most recently used first (warm sockets, and the
 * rest age out), closed after `idleTimeoutMs` idle: shorter than the servers' own
 * keep-alive timeout (Node's default is 5 s), so the server does not close a socket
 * the balancer is about to use.
 */
export class IdleUpstreams {
  readonly #idle = new Map<Server, Upstream[]>();
  readonly #maxIdlePerServer: number;
  readonly #idleTimeoutMs: number;
  readonly #connectTimeoutMs: number;

  constructor(options: { maxIdlePerServer: number; idleTimeoutMs: number; connectTimeoutMs: number }) {
    this.#maxIdlePerServer = options.maxIdlePerServer;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#connectTimeoutMs = options.connectTimeoutMs;
  }

  /** An idle connection to `server`, or a new one (its owner hears `onUpstreamConnect`). */
  acquire(server: Server, owner: UpstreamOwner): Upstream {
    const idle = this.#idle.get(server);
    while (idle !== undefined && idle.length > 0) {
      const conn = idle.pop()!;
      if (conn.closed || conn.socket.destroyed) continue;
      conn.owner = owner;
      return conn;
    }
    const conn = new Upstream(server, this, this.#connectTimeoutMs);
    conn.owner = owner;
    return conn;
  }

  /** Return a connection after a complete exchange; it is kept if there is room. */
  release(conn: Upstream, nowMs: number): void {
    conn.owner = null;
    conn.reused = true;
    if (conn.closed || conn.socket.destroyed) return;
    let idle = this.#idle.get(conn.server);
    if (idle === undefined) {
      idle = [];
      this.#idle.set(conn.server, idle);
    }
    if (idle.length >= this.#maxIdlePerServer || conn.server.draining) {
      conn.socket.destroy();
      return;
    }
    conn.idleSinceMs = nowMs;
    // It may have been paused for a slow client; idle, it must notice the server closing.
    conn.socket.resume();
    idle.push(conn);
  }

  forget(conn: Upstream): void {
    const idle = this.#idle.get(conn.server);
    if (idle === undefined) return;
    const at = idle.indexOf(conn);
    if (at >= 0) idle.splice(at, 1);
  }

  /** Close idle connections that outlived the idle timeout. Called by the balancer's sweep. */
  sweep(nowMs: number): void {
    for (const idle of this.#idle.values()) {
      // Oldest first: stop at the first one still young.
      while (idle.length > 0 && nowMs - idle[0]!.idleSinceMs >= this.#idleTimeoutMs) idle.shift()!.socket.destroy();
    }
  }

  /** Close every idle connection to `server` (removed or drained). */
  closeServer(server: Server): void {
    const idle = this.#idle.get(server);
    if (idle === undefined) return;
    this.#idle.delete(server);
    for (const conn of idle) conn.socket.destroy();
  }

  closeAll(): void {
    for (const server of [...this.#idle.keys()]) this.closeServer(server);
  }

  idleCount(server: Server): number {
    return this.#idle.get(server)?.length ?? 0;
  }
}
