import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { startDnsServer } from '../../src/dns/index.js';
import type { DnsServer } from '../../src/dns/index.js';
import { dig } from '../support/dig.js';
import { waitFor } from '../support/wait-for.js';

let server: DnsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(extra: Record<string, unknown> = {}): Promise<DnsServer> {
  // Balancers nobody listens on: all down, so all answered; health does not matter here.
  server = await startDnsServer({ zone: 'shop.test', listen: '127.0.0.1:0', balancers: ['127.0.0.2:9', '127.0.0.3:9'], health: { path: null, intervalMs: 1_000, timeoutMs: 100 }, ...extra });
  return server;
}

/** Seeded, so a failure replays. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function mutated(random: () => number): Buffer {
  const base = dnsPacket.encode({ id: Math.floor(random() * 65_536), type: 'query', flags: 0, questions: [{ name: 'shop.test', type: 'A' }],
    additionals: random() < 0.5 ? [] : [{ name: '.', type: 'OPT', udpPayloadSize: Math.floor(random() * 65_536), flags: 0 } as never] });
  if (random() < 0.25) return Buffer.from(Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256)));
  const packet = Buffer.from(base.subarray(0, Math.floor(random() * (base.length + 1))));
  for (let flips = Math.floor(random() * 6); flips > 0 && packet.length > 0; flips--) packet[Math.floor(random() * packet.length)] = Math.floor(random() * 256);
  return packet;
}

function frame(query: Buffer): Buffer {
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(query.length, 0);
  return Buffer.concat([prefix, query]);
}

function tcpConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Reads `count` length-prefixed answers. */
function readAnswers(socket: Socket, count: number): Promise<dnsPacket.Packet[]> {
  return new Promise((resolve, reject) => {
    let pending = Buffer.alloc(0);
    const out: dnsPacket.Packet[] = [];
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        out.push(dnsPacket.decode(pending.subarray(2, 2 + pending.readUInt16BE(0))));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (out.length >= count) resolve(out);
    });
    socket.once('close', () => reject(new Error(`closed after ${out.length} of ${count} answers`)));
  });
}

describe('scaleout dns under malformed input', () => {
  it('survives random and mutated packets over UDP and TCP, then still answers', async () => {
    const dns = await start({ maxTcpConnections: 8 });
    const random = prng(20_261_205);
    const udp = createSocket('udp4');
    udp.on('message', () => {});
    for (let i = 0; i < 1_500; i++) {
      await new Promise<void>((resolve) => udp.send(mutated(random), dns.port, '127.0.0.1', () => resolve()));
    }
    udp.close();
    for (let c = 0; c < 30; c++) {
      const socket = await tcpConnect(dns.port);
      socket.on('error', () => {});
      socket.on('data', () => {});
      const chunks: Buffer[] = [];
      for (let i = 0; i < 20; i++) {
        const packet = mutated(random);
        // Sometimes a lying length prefix, sometimes raw garbage without framing.
        chunks.push(random() < 0.2 ? packet : random() < 0.2 ? Buffer.concat([Buffer.from([Math.floor(random() * 256), Math.floor(random() * 256)]), packet]) : frame(packet));
      }
      const all = Buffer.concat(chunks);
      // Split at random points, so frames straddle writes.
      for (let at = 0; at < all.length;) {
        const next = Math.min(all.length, at + 1 + Math.floor(random() * 200));
        socket.write(all.subarray(at, next));
        at = next;
      }
      socket.end();
    }
    await waitFor('a valid query over UDP to be answered', async () => (await dig(dns.port, 'shop.test', 'A')).answers.length === 2);
    expect((await dig(dns.port, 'shop.test', 'A', ['+tcp'])).answers).toHaveLength(2);
  });

  it('answers pipelined TCP queries in order on one connection', async () => {
    const dns = await start();
    const socket = await tcpConnect(dns.port);
    const names = ['shop.test', 'nope.shop.test', 'example.com'];
    const answers = readAnswers(socket, 3);
    socket.write(Buffer.concat(names.map((name, i) => frame(dnsPacket.encode({ id: 100 + i, type: 'query', questions: [{ name, type: 'A' }] })))));
    const got = await answers;
    expect(got.map((p) => [p.id, (p as { rcode?: string }).rcode])).toEqual([[100, 'NOERROR'], [101, 'NXDOMAIN'], [102, 'REFUSED']]);
    socket.destroy();
  });

  it('closes an idle TCP connection', async () => {
    const dns = await start({ tcpIdleMs: 200 });
    const idle = await tcpConnect(dns.port);
    await new Promise((resolve) => idle.once('close', resolve));
  });

  it('keeps no more TCP connections than its cap, and serves the ones it keeps', async () => {
    const dns = await start({ tcpIdleMs: 60_000, maxTcpConnections: 2 });
    const held = [await tcpConnect(dns.port), await tcpConnect(dns.port)];
    const over = await tcpConnect(dns.port);
    await new Promise((resolve) => over.once('close', resolve));
    const answers = readAnswers(held[0]!, 1);
    held[0]!.write(frame(dnsPacket.encode({ id: 7, type: 'query', questions: [{ name: 'shop.test', type: 'A' }] })));
    expect((await answers)[0]!.answers).toHaveLength(2);
    held.forEach((s) => s.destroy());
  });
});
