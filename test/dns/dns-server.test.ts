import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startDnsServer } from '../../src/dns/index.js';
import type { DnsOptionsInput, DnsServer } from '../../src/dns/index.js';
import { dig } from '../support/dig.js';
import { waitFor } from '../support/wait-for.js';

/** A stand-in balancer: answers its health path with `status()`. */
interface FakeBalancer {
  readonly ip: string;
  readonly address: string;
  status: number;
  server: Server;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function listenHttp(ip: string, port: number, handle: () => number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? handle() : 404;
      res.end();
    });
    server.once('error', reject);
    server.listen(port, ip, () => resolve(server));
  });
}

// Linux routes all of 127/8 to lo, so each balancer has its own address, as on separate hosts.
async function balancer(ip: string): Promise<FakeBalancer> {
  const fake = { ip, status: 200 } as FakeBalancer;
  fake.server = await listenHttp(ip, 0, () => fake.status);
  (fake as { address: string }).address = `${ip}:${(fake.server.address() as AddressInfo).port}`;
  cleanups.push(() => new Promise((resolve) => {
    fake.server.closeAllConnections();
    fake.server.close(() => resolve());
  }));
  return fake;
}

async function dns(options: Partial<DnsOptionsInput> & Pick<DnsOptionsInput, 'balancers'>): Promise<DnsServer> {
  const server = await startDnsServer({
    zone: 'shop.test', listen: '127.0.0.1:0', ttlSec: 2,
    health: { intervalMs: 100, timeoutMs: 100, rise: 2, fall: 2 },
    ...options,
  });
  cleanups.push(() => server.close());
  return server;
}

const ips = (answers: ReadonlyArray<{ data: string }>): string[] => answers.map((a) => a.data).sort();

describe('scaleout dns, asked with dig', () => {
  it('answers A with the live balancers only, over UDP and TCP, authoritatively and without recursion', async () => {
    const [a, b, c] = await Promise.all([balancer('127.0.0.2'), balancer('127.0.0.3'), balancer('127.0.0.4')]);
    c!.status = 503;
    const server = await dns({ balancers: [a!.address, b!.address, c!.address] });
    await waitFor('the failing balancer to leave the answers', async () => ips((await dig(server.port, 'shop.test', 'A')).answers).length === 2);
    for (const extra of [[], ['+tcp']]) {
      const r = await dig(server.port, 'shop.test', 'A', extra);
      expect(r.status).toBe('NOERROR');
      expect(ips(r.answers)).toEqual(['127.0.0.2', '127.0.0.3']);
      expect(r.answers.every((x) => x.ttl === 2 && x.type === 'A')).toBe(true);
      expect(r.flags).toContain('aa');
      expect(r.flags).not.toContain('ra');
    }
  });

  it('drops a killed balancer within 2 TTL and takes it back when it is healthy again', async () => {
    const [a, b] = await Promise.all([balancer('127.0.0.2'), balancer('127.0.0.3')]);
    const server = await dns({ balancers: [a!.address, b!.address], ttlSec: 2 });
    expect(ips((await dig(server.port, 'shop.test', 'A')).answers)).toEqual(['127.0.0.2', '127.0.0.3']);
    const port = (b!.server.address() as AddressInfo).port;
    b!.server.closeAllConnections();
    await new Promise((resolve) => b!.server.close(resolve));
    // 2 TTL: a resolver that cached the last answer drops it within one TTL, so the name
    // stops pointing at the dead balancer within 2 TTL of its death.
    await waitFor('the killed balancer to leave the answers', async () => {
      const r = await dig(server.port, 'shop.test', 'A');
      return r.answers.length === 1 && r.answers[0]!.data === '127.0.0.2';
    }, { timeoutMs: 2 * 2_000 });
    b!.server = await listenHttp('127.0.0.3', port, () => 200);
    await waitFor('the healed balancer to come back', async () => ips((await dig(server.port, 'shop.test', 'A')).answers).length === 2);
  });

  it('takes out a balancer that accepts but never answers its health check', async () => {
    const a = await balancer('127.0.0.2');
    const hung = createServer(() => {});
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.3', resolve));
    cleanups.push(() => new Promise((resolve) => {
      hung.closeAllConnections();
      hung.close(() => resolve());
    }));
    const server = await dns({ balancers: [a.address, `127.0.0.3:${(hung.address() as AddressInfo).port}`] });
    await waitFor('the hung balancer to leave the answers', async () => {
      const r = await dig(server.port, 'shop.test', 'A');
      return r.answers.length === 1 && r.answers[0]!.data === '127.0.0.2';
    });
    expect(server.live()).toEqual([a.address]);
  });

  it('answers with every balancer when all of them fail their checks', async () => {
    const [a, b] = await Promise.all([balancer('127.0.0.2'), balancer('127.0.0.3')]);
    const server = await dns({ balancers: [a!.address, b!.address] });
    a!.status = 500;
    await waitFor('one balancer to leave', async () => (await dig(server.port, 'shop.test', 'A')).answers.length === 1);
    b!.status = 500;
    await waitFor('both to fail their checks', () => server.live().length === 0);
    await waitFor('the all-down answer', async () => {
      const r = await dig(server.port, 'shop.test', 'A');
      return ips(r.answers).join() === '127.0.0.2,127.0.0.3';
    });
  });

  it('rotates the records from one answer to the next', async () => {
    const bs = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map(balancer));
    const server = await dns({ balancers: bs.map((b) => b.address) });
    const firsts = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = await dig(server.port, 'shop.test', 'A', i === 1 ? ['+tcp'] : []);
      expect(ips(r.answers)).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
      firsts.add(r.answers[0]!.data);
    }
    expect(firsts.size).toBe(3);
  });

  it('answers AAAA for IPv6 balancers, SOA and NS for the zone, and keeps the case of the question', async () => {
    const a = await balancer('127.0.0.2');
    const v6 = await balancer('::1');
    const server = await dns({ balancers: [a.address, `[::1]:${(v6.server.address() as AddressInfo).port}`] });
    const aaaa = await dig(server.port, 'shop.test', 'AAAA');
    expect(aaaa.answers.map((x) => x.data)).toEqual(['::1']);
    const soa = await dig(server.port, 'shop.test', 'SOA');
    expect(soa.answers[0]!.type).toBe('SOA');
    expect(soa.answers[0]!.data).toMatch(/^ns\.shop\.test\. hostmaster\.shop\.test\. \d+ 60 10 600 2$/);
    const ns = await dig(server.port, 'shop.test', 'NS');
    expect(ns.answers[0]!.data).toBe('ns.shop.test.');
    expect((await dig(server.port, 'ns.shop.test', 'A')).answers[0]!.data).toBe('127.0.0.1');
    const mixed = await dig(server.port, 'ShOp.TeSt', 'A');
    expect(mixed.question).toBe('ShOp.TeSt.');
    expect(mixed.answers[0]!.name).toBe('ShOp.TeSt.');
  });

  it('answers NXDOMAIN with the SOA inside the zone, REFUSED outside it', async () => {
    const a = await balancer('127.0.0.2');
    const server = await dns({ balancers: [a.address] });
    const nx = await dig(server.port, 'nope.shop.test', 'A');
    expect(nx.status).toBe('NXDOMAIN');
    expect(nx.flags).toContain('aa');
    expect(nx.authority.map((x) => x.type)).toEqual(['SOA']);
    const nodata = await dig(server.port, 'shop.test', 'MX');
    expect([nodata.status, nodata.answers.length, nodata.authority[0]?.type]).toEqual(['NOERROR', 0, 'SOA']);
    for (const extra of [[], ['+tcp', '+rec']]) {
      const refused = await dig(server.port, 'example.com', 'A', extra);
      expect(refused.status).toBe('REFUSED');
      expect(refused.answers).toEqual([]);
      expect(refused.flags).not.toContain('ra');
      expect(refused.flags).not.toContain('aa');
    }
  });

  it('echoes EDNS0 with its UDP size, and answers without OPT to a client without EDNS0', async () => {
    const a = await balancer('127.0.0.2');
    const server = await dns({ balancers: [a.address], udpPayloadBytes: 1400 });
    expect((await dig(server.port, 'shop.test', 'A')).ednsUdpBytes).toBe(1400);
    expect((await dig(server.port, 'shop.test', 'A', ['+noedns'])).ednsUdpBytes).toBeUndefined();
  });

  it('sets TC over UDP when the answer does not fit, and gives the whole answer over TCP', async () => {
    // 40 balancers nobody listens on: all fail, so all are answered (the all-down rule),
    // and 40 A records (about 650 bytes) do not fit the 512 bytes of a client without EDNS0.
    const many = Array.from({ length: 40 }, (_, i) => `127.0.1.${i + 1}:9`);
    const server = await dns({ balancers: many, health: { path: null, intervalMs: 100, timeoutMs: 50, rise: 1, fall: 1 } });
    const udp = await dig(server.port, 'shop.test', 'A', ['+noedns', '+ignore']);
    expect(udp.flags).toContain('tc');
    expect(udp.answers).toEqual([]);
    // Without +ignore dig does what resolvers do: it retries the truncated answer over TCP.
    const retried = await dig(server.port, 'shop.test', 'A', ['+noedns']);
    expect(retried.answers).toHaveLength(40);
    expect((await dig(server.port, 'shop.test', 'A', ['+tcp'])).answers).toHaveLength(40);
    // The client's EDNS0 size raises the limit: 1232 bytes hold all 40 over UDP.
    const edns = await dig(server.port, 'shop.test', 'A', ['+bufsize=1232', '+ignore']);
    expect(edns.flags).not.toContain('tc');
    expect(edns.answers).toHaveLength(40);
  });
});
