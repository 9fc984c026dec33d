import net from 'node:net';

/** A response as read off the wire, checked for completeness by its own framing. */
export interface ParsedResponse {
  status: number;
  /** Lowercase names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** The body is whole by its framing (Content-Length reached, last chunk seen, or a close-delimited body). */
  complete: boolean;
  /** Bytes after this response (a next response, or garbage). */
  rest: Buffer;
}

/**
 * Parses the first response in `bytes` (interim 1xx responses are skipped). `closed` says
 * the connection ended, which completes a body framed by the close. Undefined when the
 * bytes do not hold a whole, well-formed head.
 */
export function parseResponse(bytes: Buffer, closed: boolean, method = 'GET'): ParsedResponse | undefined {
  let start = 0;
  for (;;) {
    const headEnd = bytes.indexOf('\r\n\r\n', start, 'latin1');
    if (headEnd < 0) return undefined;
    const lines = bytes.subarray(start, headEnd).toString('latin1').split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/.exec(lines[0]!);
    if (status === null) return undefined;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(line);
      if (m === null) return undefined;
      const name = m[1]!.toLowerCase();
      headers[name] = headers[name] === undefined ? m[2]! : `${headers[name]}, ${m[2]}`;
    }
    const code = Number(status[1]);
    const bodyStart = headEnd + 4;
    if (code >= 100 && code < 200 && code !== 101) {
      start = bodyStart;
      continue;
    }
    const noBody = method === 'HEAD' || code === 204 || code === 304 || code === 101;
    if (noBody) return { status: code, headers, body: Buffer.alloc(0), complete: true, rest: bytes.subarray(bodyStart) };
    if (headers['transfer-encoding'] !== undefined) {
      if (headers['transfer-encoding'].toLowerCase() !== 'chunked') return undefined;
      const chunks: Buffer[] = [];
      let at = bodyStart;
      for (;;) {
        const lineEnd = bytes.indexOf('\r\n', at, 'latin1');
        if (lineEnd < 0) return { status: code, headers, body: Buffer.concat(chunks), complete: false, rest: Buffer.alloc(0) };
        const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1').split(';')[0]!, 16);
        if (!Number.isFinite(size)) return undefined;
        if (size === 0) {
          const end = bytes.indexOf('\r\n\r\n', lineEnd, 'latin1');
          // Without trailers the last chunk's line is followed directly by CRLF.
          const finalEnd = bytes.subarray(lineEnd, lineEnd + 4).toString('latin1') === '\r\n\r\n' ? lineEnd + 4 : end < 0 ? -1 : end + 4;
          if (finalEnd < 0) return { status: code, headers, body: Buffer.concat(chunks), complete: false, rest: Buffer.alloc(0) };
          return { status: code, headers, body: Buffer.concat(chunks), complete: true, rest: bytes.subarray(finalEnd) };
        }
        if (bytes.length < lineEnd + 2 + size + 2) {
          chunks.push(bytes.subarray(lineEnd + 2, Math.min(bytes.length, lineEnd + 2 + size)));
          return { status: code, headers, body: Buffer.concat(chunks), complete: false, rest: Buffer.alloc(0) };
        }
        chunks.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
    }
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      const have = bytes.length - bodyStart;
      return {
        status: code, headers, body: bytes.subarray(bodyStart, bodyStart + Math.min(length, have)),
        complete: have >= length, rest: bytes.subarray(bodyStart + Math.min(length, have)),
      };
    }
    return { status: code, headers, body: bytes.subarray(bodyStart), complete: closed, rest: Buffer.alloc(0) };
  }
}

/**
 * A client on a raw socket: writes exactly what it is told (with backpressure, ignoring
 * write errors, as a client that does not listen would) and records what comes back.
 */
export class RawClient {
  readonly socket: net.Socket;
  readonly connected: Promise<void>;
  /** Resolves once the socket is closed, whichever side closed it. */
  readonly closedPromise: Promise<void>;
  #chunks: Buffer[] = [];
  #closed = false;
  #ended = false;
  #error: Error | undefined;

  /**
   * @param halfOpen keep the socket writable after the server ends its side, as a client
   *   that is still sending (or does not listen) would; the caller then ends it itself.
   */
  constructor(port: number, { halfOpen = false }: { halfOpen?: boolean } = {}) {
    this.socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: halfOpen });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (c: Buffer) => this.#chunks.push(c));
    this.socket.on('end', () => { this.#ended = true; });
    this.socket.on('error', (err) => { this.#error = err; });
    this.closedPromise = new Promise((resolve) => this.socket.once('close', () => {
      this.#closed = true;
      resolve();
    }));
  }

  get received(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The balancer ended its side (FIN), as opposed to a reset. */
  get ended(): boolean {
    return this.#ended;
  }

  get error(): Error | undefined {
    return this.#error;
  }

  response(method = 'GET'): ParsedResponse | undefined {
    return parseResponse(this.received, this.#closed || this.#ended, method);
  }

  /** Writes, waiting for 'drain' when the socket is full; false once it cannot write any more. */
  async write(data: string | Buffer): Promise<boolean> {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    if (this.socket.write(data)) return true;
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  /** Writes `total` bytes of `fill` in pieces of `pieceBytes`, stopping early if the socket closes. */
  async writeBody(total: number, pieceBytes = 64 * 1024, fill = 0x61): Promise<number> {
    const piece = Buffer.alloc(pieceBytes, fill);
    let sent = 0;
    while (sent < total) {
      const n = Math.min(pieceBytes, total - sent);
      if (!(await this.write(n === pieceBytes ? piece : piece.subarray(0, n)))) break;
      sent += n;
    }
    return sent;
  }

  close(): void {
    this.socket.destroy();
  }
}
