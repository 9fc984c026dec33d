import * as dnsPacket from 'dns-packet';
import type { Answer, Packet, Question } from 'dns-packet';

/** RCODEs we send (RFC 1035 4.1.1, RFC 6891 for BADVERS). */
export const RCODE = Object.freeze({ NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 });

const QR = 0x8000;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const CD = 0x0010;
/** A UDP answer to a client without EDNS0 fits in this many bytes (RFC 1035). */
const CLASSIC_UDP_BYTES = 512;
const TCP_MAX_BYTES = 65_535;

/** What the zone answers with right now. */
export interface ZoneState {
  /** Live balancers' IPs by family, in configured order; empty arrays when none are of that family. */
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

export interface ResponderOptions {
  /** Lower-case, no trailing dot. */
  readonly zone: string;
  readonly ttlSec: number;
  readonly udpPayloadBytes: number;
  /** The address the name server itself has, for `ns.<zone>`; undefined when it listens on a wildcard. */
  readonly nsAddress?: { readonly host: string; readonly family: 4 | 6 } | undefined;
  /** SOA serial; defaults to the start time in seconds, so a restart shows a newer zone. */
  readonly serial?: number;
}

export type Transport = 'udp' | 'tcp';

/**
 * Turns one query into one answer. Pure apart from the rotation counter, so every case
 * (the rcodes, EDNS0, truncation) is tested without sockets. Never throws on any input:
 * a packet it cannot parse gets FORMERR (or silence when not even the header is there).
 */
export class ZoneResponder {
  readonly #zone: string;
  readonly #ttlSec: number;
  readonly #udpPayloadBytes: number;
  readonly #nsName: string;
  readonly #nsAddress: ResponderOptions['nsAddress'];
  readonly #soa: Answer;
  #turn = 0;

  constructor(options: ResponderOptions) {
    this.#zone = options.zone;
    this.#ttlSec = options.ttlSec;
    this.#udpPayloadBytes = options.udpPayloadBytes;
    this.#nsName = `ns.${options.zone}`;
    this.#nsAddress = options.nsAddress;
    this.#soa = {
      name: options.zone, type: 'SOA', class: 'IN', ttl: options.ttlSec,
      data: {
        mname: this.#nsName, rname: `hostmaster.${options.zone}`,
        serial: (options.serial ?? Math.floor(Date.now() / 1000)) >>> 0,
        // Nothing transfers this zone; the minimum is the negative-caching TTL (RFC 2308).
        refresh: 60, retry: 10, expire: 600, minimum: options.ttlSec,
      },
    };
  }

  /** The answer to `query` as bytes, or undefined when nothing should be sent (no header, or a response). */
  respond(query: Buffer, transport: Transport, state: ZoneState): Buffer | undefined {
    if (query.length < 12) return undefined;
    const flags = query.readUInt16BE(2);
    // Never answer a response: two servers could bounce packets at each other forever.
    if ((flags & QR) !== 0) return undefined;
    const opcode = (flags >> 11) & 0xf;
    if (opcode !== 0) return headerOnly(query, RCODE.NOTIMP);
    let packet: Packet;
    try {
      packet = dnsPacket.decode(query);
    } catch {
      return headerOnly(query, RCODE.FORMERR);
    }
    const questions = packet.questions ?? [];
    const opts = (packet.additionals ?? []).filter((a) => a.type === 'OPT');
    if (questions.length !== 1 || opts.length > 1 || (packet.answers ?? []).length > 0) return headerOnly(query, RCODE.FORMERR);
    const question = questions[0]!;
    const clientOpt = opts[0] as (Answer & { udpPayloadSize?: number; ednsVersion?: number }) | undefined;
    const maxBytes = transport === 'tcp' ? TCP_MAX_BYTES
      : clientOpt === undefined ? CLASSIC_UDP_BYTES
        : Math.min(Math.max(clientOpt.udpPayloadSize ?? CLASSIC_UDP_BYTES, CLASSIC_UDP_BYTES), this.#udpPayloadBytes);

    const reply: Packet & { flags: number } = {
      id: packet.id ?? 0, type: 'response', flags: flags & (RD | CD),
      questions: [question], answers: [], authorities: [], additionals: [],
    };
    if (clientOpt !== undefined) {
      const ourOpt = { name: '.', type: 'OPT', udpPayloadSize: this.#udpPayloadBytes, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] };
      reply.additionals!.push(ourOpt as unknown as Answer);
      if ((clientOpt.ednsVersion ?? 0) > 0) {
        // BADVERS is 16: its upper 8 bits travel in the OPT record (RFC 6891 6.1.3).
        ourOpt.extendedRcode = RCODE.BADVERS >> 4;
        reply.flags |= RCODE.BADVERS & 0xf;
        return encode(reply, maxBytes);
      }
    }
    this.#fill(reply, question, state);
    return encode(reply, maxBytes);
  }

  #fill(reply: Packet & { flags: number }, question: Question, state: ZoneState): void {
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const inZone = name === this.#zone || name.endsWith(`.${this.#zone}`);
    // No recursion, no other zones: REFUSED, without AA, and RA stays clear.
    if (!inZone || question.class !== 'IN') {
      reply.flags |= RCODE.REFUSED;
      return;
    }
    reply.flags |= AA;
    const answers = reply.answers!;
    const ttl = this.#ttlSec;
    // The typings leave out ANY (255), which a query may still ask for.
    const type = question.type as string;
    if (name === this.#zone) {
      if (type === 'A' || type === 'ANY') for (const ip of this.#rotate(state.v4)) answers.push({ name: question.name, type: 'A', class: 'IN', ttl, data: ip });
      if (type === 'AAAA' || type === 'ANY') for (const ip of this.#rotate(state.v6)) answers.push({ name: question.name, type: 'AAAA', class: 'IN', ttl, data: ip });
      if (type === 'SOA') answers.push({ ...this.#soa, name: question.name });
      if (type === 'NS') answers.push({ name: question.name, type: 'NS', class: 'IN', ttl, data: this.#nsName });
    } else if (name === this.#nsName) {
      const ns = this.#nsAddress;
      if (ns !== undefined && ((type === 'A' && ns.family === 4) || (type === 'AAAA' && ns.family === 6))) {
        answers.push({ name: question.name, type, class: 'IN', ttl, data: ns.host } as Answer);
      }
    } else {
      reply.flags |= RCODE.NXDOMAIN;
    }
    // NXDOMAIN and NODATA carry the SOA, whose minimum says how long to cache the absence.
    if (answers.length === 0) reply.authorities!.push(this.#soa);
  }

  /** The list started one further on each answer, so clients that take the first record spread out. */
  #rotate(list: readonly string[]): string[] {
    if (list.length < 2) return [...list];
    const start = this.#turn++ % list.length;
    if (this.#turn >= Number.MAX_SAFE_INTEGER) this.#turn = 0;
    return [...list.slice(start), ...list.slice(0, start)];
  }
}

/**
 * Encodes `reply`; over the size limit, sends the question (and OPT) with TC set and no
 * records, which tells the client to ask again over TCP (RFC 1035 4.2.1, RFC 7766).
 */
function encode(reply: Packet & { flags: number }, maxBytes: number): Buffer {
  const full = dnsPacket.encode(reply);
  if (full.length <= maxBytes) return full;
  return dnsPacket.encode({ ...reply, flags: reply.flags | TC, answers: [], authorities: [] });
}

/** A bare header echoing the query's id and opcode, for queries we cannot or will not parse. */
function headerOnly(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  const flags = query.readUInt16BE(2);
  out.writeUInt16BE(QR | (flags & (0x7800 | RD)) | rcode, 2);
  return out;
}
