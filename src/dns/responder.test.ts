import * as dnsPacket from 'dns-packet';
import type { Packet } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { RCODE, ZoneResponder } from './responder.js';

const responder = (): ZoneResponder => new ZoneResponder({ zone: 'shop.test', ttlSec: 5, udpPayloadBytes: 1232, nsAddress: { host: '127.0.0.1', family: 4 }, serial: 1 });
const state = { v4: ['127.0.0.2', '127.0.0.3'], v6: [] };

function query(overrides: Partial<Packet> & { flags?: number } = {}): Buffer {
  return dnsPacket.encode({ id: 4242, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'shop.test', type: 'A', class: 'IN' }], ...overrides });
}

function rcodeOf(reply: Buffer): number {
  return reply.readUInt16BE(2) & 0xf;
}

describe('ZoneResponder', () => {
  it('answers NOTIMP to an opcode other than QUERY, echoing the id and opcode', () => {
    const q = query();
    q.writeUInt16BE((q.readUInt16BE(2) & ~0x7800) | (2 << 11), 2); // STATUS
    const reply = responder().respond(q, 'udp', state)!;
    expect(reply.readUInt16BE(0)).toBe(4242);
    expect(rcodeOf(reply)).toBe(RCODE.NOTIMP);
    expect((reply.readUInt16BE(2) >> 11) & 0xf).toBe(2);
    expect(reply.readUInt16BE(2) & 0x8000).toBe(0x8000);
  });

  it('answers FORMERR to a malformed question, to two questions, and to answers in a query', () => {
    const broken = query().subarray(0, 20);
    expect(rcodeOf(responder().respond(broken, 'udp', state)!)).toBe(RCODE.FORMERR);
    const two = query({ questions: [{ name: 'shop.test', type: 'A' }, { name: 'shop.test', type: 'AAAA' }] });
    expect(rcodeOf(responder().respond(two, 'udp', state)!)).toBe(RCODE.FORMERR);
    const none = query({ questions: [] });
    expect(rcodeOf(responder().respond(none, 'udp', state)!)).toBe(RCODE.FORMERR);
  });

  it('sends nothing for a packet shorter than a header, or for a response', () => {
    expect(responder().respond(Buffer.alloc(11), 'udp', state)).toBeUndefined();
    expect(responder().respond(query({ type: 'response' }), 'udp', state)).toBeUndefined();
  });

  it('refuses another class than IN, and an EDNS version it does not speak gets BADVERS', () => {
    const chaos = query({ questions: [{ name: 'shop.test', type: 'TXT', class: 'CH' }] });
    expect(rcodeOf(responder().respond(chaos, 'udp', state)!)).toBe(RCODE.REFUSED);
    const v1 = query({ additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, ednsVersion: 1, flags: 0 } as never] });
    const reply = dnsPacket.decode(responder().respond(v1, 'udp', state)!);
    const opt = reply.additionals!.find((a) => a.type === 'OPT') as unknown as { extendedRcode: number };
    expect((opt.extendedRcode << 4) | rcodeOf(responder().respond(v1, 'udp', state)!)).toBe(RCODE.BADVERS);
    expect(reply.answers).toEqual([]);
  });

  it('copies RD, never sets RA, and sets AA in the zone', () => {
    const reply = dnsPacket.decode(responder().respond(query(), 'udp', state)!);
    expect([reply.flag_rd, reply.flag_ra, reply.flag_aa, reply.flag_qr]).toEqual([true, false, true, true]);
  });

  it('never throws and answers with the query\'s id, whatever the bytes (seeded fuzz)', () => {
    let seed = 0x5eed;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const r = responder();
    const base = query({ additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 4096, flags: 0 } as never] });
    for (let i = 0; i < 5_000; i++) {
      const packet = i % 4 === 0
        ? Buffer.from(Array.from({ length: Math.floor(random() * 80) }, () => Math.floor(random() * 256)))
        : Buffer.from(base.subarray(0, Math.max(12, Math.floor(random() * (base.length + 8)))));
      for (let flips = Math.floor(random() * 4); flips > 0; flips--) {
        const at = Math.floor(random() * packet.length);
        if (packet.length > 0) packet[at] = Math.floor(random() * 256);
      }
      const reply = r.respond(packet, i % 2 === 0 ? 'udp' : 'tcp', state);
      if (reply === undefined) continue;
      expect(reply.readUInt16BE(0)).toBe(packet.readUInt16BE(0));
      expect(reply.length).toBeLessThanOrEqual(i % 2 === 0 ? 1232 : 65_535);
      expect(() => dnsPacket.decode(reply)).not.toThrow();
    }
  });
});
