import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server as TcpServer, Socket } from 'node:net';
import { DnsListenError } from './errors.js';
import { BalancerHealth } from './health.js';
import type { BalancerHealthEvent, BalancerTarget } from './health.js';
import { parseDnsOptions, splitHostPort } from './options.js';
import type { DnsOptions } from './options.js';
import { ZoneResponder } from './responder.js';
import type { Transport, ZoneState } from './responder.js';

/** What the DNS server reports: health changes of the balancers. */
export type DnsEvent = BalancerHealthEvent;

export interface DnsServerDeps {
  readonly log?: (event: DnsEvent) => void;
}

/** Tries to get the same free port for UDP and TCP when asked for port 0. */
const PORT_ATTEMPTS = 10;

/**
 * A running DNS server: UDP and TCP on one address, answering for one zone from the
 * health of its balancers.
 */
export class DnsServer {
  readonly #options: DnsOptions;
  readonly #health: BalancerHealth;
  readonly #targets: readonly BalancerTarget[];
  readonly #responder: ZoneResponder;
  readonly #tcpSockets = new Set<Socket>();
  #udp: UdpSocket | undefined;
  #tcp: TcpServer | undefined;
  #port = 0;

  constructor(options: DnsOptions, deps: DnsServerDeps = {}) {
    this.#options = options;
    this.#targets = options.balancers.map((address) => {
      const { host, port } = splitHostPort(address, 1)!;
      return { address, host, port, family: host.includes(':') ? 6 : 4 };
    });
    this.#health = new BalancerHealth(this.#targets, options.health, deps.log);
    const listen = splitHostPort(options.listen, 0)!;
    const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
    this.#responder = new ZoneResponder({
      zone: options.zone, ttlSec: options.ttlSec, udpPayloadBytes: options.udpPayloadBytes,
      nsAddress: wildcard ? undefined : { host: listen.host, family: listen.host.includes(':') ? 6 : 4 },
    });
  }

  /** `host:port` the server answers on (UDP and TCP). */
  get address(): string {
    const { host } = splitHostPort(this.#options.listen, 0)!;
    return host.includes(':') ? `[${host}]:${this.#port}` : `${host}:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  /** The balancers that pass their health checks. */
  live(): string[] {
    return this.#health.live().map((t) => t.address);
  }

  /** The balancers currently in answers (all of them when none is live). */
  answered(): string[] {
    const live = this.#health.live();
    return (live.length > 0 ? live : this.#targets).map((t) => t.address);
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.#options.listen, 0)!;
    let lastError: unknown;
    for (let attempt = 0; attempt < (port === 0 ? PORT_ATTEMPTS : 1); attempt++) {
      try {
        this.#udp = await this.#bindUdp(host, port);
        this.#port = this.#udp.address().port;
        this.#tcp = await this.#listenTcp(host, this.#port);
        this.#health.start();
        return;
      } catch (err) {
        lastError = err;
        this.#udp?.close();
        this.#udp = undefined;
      }
    }
    throw new DnsListenError(this.#options.listen, { cause: lastError });
  }

  async close(): Promise<void> {
    this.#health.stop();
    for (const socket of this.#tcpSockets) socket.destroy();
    await Promise.all([
      new Promise<void>((resolve) => (this.#udp === undefined ? resolve() : this.#udp.close(() => resolve()))),
      new Promise<void>((resolve) => (this.#tcp === undefined ? resolve() : this.#tcp.close(() => resolve()))),
    ]);
  }

  #state(): ZoneState {
    // All down answers with all of them, as Route 53 does: a wrong "all dead" verdict (the
    // checker's own network failing) must not take the whole name off the internet.
    const live = this.#health.live();
    const list = live.length > 0 ? live : this.#targets;
    return {
      v4: list.filter((t) => t.family === 4).map((t) => t.host),
      v6: list.filter((t) => t.family === 6).map((t) => t.host),
    };
  }

  #answer(query: Buffer, transport: Transport): Buffer | undefined {
    try {
      return this.#responder.respond(query, transport, this.#state());
    } catch {
      // The responder is written not to throw; a bug in it must cost one answer, not the server.
      return undefined;
    }
  }

  #bindUdp(host: string, port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', () => {});
        socket.on('message', (msg, rinfo) => {
          const reply = this.#answer(msg, 'udp');
          if (reply !== undefined) socket.send(reply, rinfo.port, rinfo.address, () => {});
        });
        resolve(socket);
      });
    });
  }

  #listenTcp(host: string, port: number): Promise<TcpServer> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.#onTcp(socket));
      server.maxConnections = this.#options.maxTcpConnections;
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => {});
        resolve(server);
      });
    });
  }

  /** RFC 7766: 2-byte length prefix, several queries per connection answered in order, idle close. */
  #onTcp(socket: Socket): void {
    this.#tcpSockets.add(socket);
    socket.on('close', () => this.#tcpSockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.tcpIdleMs, () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const query = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        const reply = this.#answer(query, 'tcp');
        if (reply === undefined) continue;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(reply.length, 0);
        socket.write(Buffer.concat([prefix, reply]));
      }
      // A client that sends queries without reading answers waits for them to drain.
      if (socket.writableNeedDrain) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    });
  }
}

/** Validates `input`, binds UDP and TCP, starts the health checks; rejects with a DnsConfigError or DnsListenError. */
export async function startDnsServer(input: unknown, deps: DnsServerDeps = {}): Promise<DnsServer> {
  const server = new DnsServer(parseDnsOptions(input), deps);
  await server.start();
  return server;
}

/** One line for a terminal. */
export function formatDnsEvent(event: DnsEvent): string {
  return `dns: ${event.kind} ${event.address}: ${event.detail}`;
}
