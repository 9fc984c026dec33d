import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/free-port.js';
import { RawClient, parseResponse } from '../support/raw-client.js';
import { waitFor } from '../support/wait-for.js';

// Random exchanges in which both sides misbehave on purpose: servers answer early, reset,
// stall, cut responses short or send garbage; clients stall, reset, half-close and keep
// sending after the answer. The balancer runs in its own process, so a crash shows as
// its exit. Seeded: a failure names its seed and session, and SCALEOUT_FUZZ_SEED replays it.

const SEED = Number(process.env.SCALEOUT_FUZZ_SEED ?? 20_261_205);
const SESSIONS = 250;
const CONCURRENCY = 8;
const CLIENT_BODY_MS = 300;
const SERVER_MS = 400;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// What a server does once it has a request head (the behaviour is the target's second segment).
const BEHAVIOURS = ['echo', 'echo', 'echo', 'early', 'early-close', 'early-chunked', 'reset', 'stall', 'late', 'partial',
  'garbage', 'bad-trailer', 'drip'] as const;
type Behaviour = typeof BEHAVIOURS[number] | 'dead';
/** Behaviours whose response may start streaming before it fails, so a client may see it cut short. */
const MAY_CUT = new Set<Behaviour>(['early-chunked', 'partial', 'bad-trailer', 'drip']);

interface Session {
  id: number;
  behaviour: Behaviour;
  bodyBytes: number;
  chunked: boolean;
  pieces: number[];
  /** Index of the piece before which the client stalls past the body timeout, or -1. */
  stallAt: number;
  /** Index of the piece before which the client resets, or -1. */
  resetAt: number;
  /** Index of the piece before which the client half-closes, or -1. */
  endAt: number;
  /** A second request on the same connection when the first response allows it. */
  second: boolean;
  /** HTTP/1.0 with Connection: keep-alive (a chunked body is then refused with 400). */
  http10: boolean;
}

function plan(rand: () => number, id: number): Session {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const behaviour: Behaviour = rand() < 0.06 ? 'dead' : pick(BEHAVIOURS);
  const size = rand();
  const bodyBytes = size < 0.2 ? 0 : size < 0.6 ? Math.floor(rand() * 4096) : size < 0.95 ? Math.floor(rand() * 300_000) : 2_000_000;
  const pieces: number[] = [];
  for (let left = bodyBytes; left > 0;) {
    const n = Math.min(left, 1 + Math.floor(rand() * (rand() < 0.5 ? 512 : 128 * 1024)));
    pieces.push(n);
    left -= n;
  }
  const at = (p: number): number => (pieces.length > 0 && rand() < p ? Math.floor(rand() * pieces.length) : -1);
  return { id, behaviour, bodyBytes, chunked: rand() < 0.3, pieces, stallAt: at(0.1), resetAt: at(0.08), endAt: at(0.06), second: rand() < 0.3,
    http10: rand() < 0.15 };
}

/** A server that misbehaves the way the request target asks. */
function startFuzzServer(rand: () => number): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let buf = Buffer.alloc(0);
    let state: 'head' | 'body' | 'done' = 'head';
    let behaviour: Behaviour = 'echo';
    let remaining = 0;
    let chunked = false;
    let received = 0;
    socket.on('error', () => {});
    socket.on('end', () => socket.end());
    const answer = (status: number, body: string, extra = ''): void => {
      socket.write(`HTTP/1.1 ${status} X\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
    };
    const bodyDone = (): void => {
      state = 'head';
      if (behaviour === 'echo') answer(200, chunked ? 'ok chunked' : `ok ${received}`);
      if (behaviour === 'drip') {
        socket.write('HTTP/1.1 200 X\r\ncontent-length: 20\r\n\r\n');
        let n = 0;
        const timer = setInterval(() => {
          if (socket.destroyed || n === 4) return void clearInterval(timer);
          socket.write('drip!');
          n++;
        }, 5);
      }
    };
    const onHead = (head: string): void => {
      const target = head.split(' ')[1] ?? '/';
      behaviour = (target.split('/')[2] ?? 'echo') as Behaviour;
      chunked = /\r\ntransfer-encoding: chunked\r\n/i.test(head);
      remaining = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(head)?.[1] ?? 0);
      received = 0;
      state = chunked || remaining > 0 ? 'body' : 'head';
      switch (behaviour) {
        case 'early': answer(rand() < 0.5 ? 413 : 503, 'early answer'); break;
        case 'early-close': answer(413, 'too large', 'connection: close\r\n'); socket.end(); break;
        case 'early-chunked': {
          socket.write('HTTP/1.1 200 X\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n');
          setTimeout(() => socket.write('6\r\nsecond\r\n'), 10);
          setTimeout(() => socket.write('0\r\n\r\n'), 20);
          break;
        }
        case 'reset': setTimeout(() => socket.resetAndDestroy(), Math.floor(rand() * 20)); break;
        case 'stall': break;
        case 'late': setTimeout(() => answer(200, 'too late'), SERVER_MS + 100); break;
        case 'partial': socket.write('HTTP/1.1 200 X\r\ncontent-length: 1000\r\n\r\nonly this'); setTimeout(() => socket.destroy(), 5); break;
        case 'garbage': socket.write(rand() < 0.5 ? 'HTTP/1.1 2OO nope\r\n\r\n' : '\u0000\u0001garbage\r\n\r\n'); break;
        case 'bad-trailer': {
          const response = 'HTTP/1.1 200 X\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\ncontent-length: 5\r\n\r\n';
          const cut = Math.floor(rand() * response.length);
          socket.write(response.slice(0, cut));
          setTimeout(() => socket.write(response.slice(cut)), 5);
          break;
        }
        default: break;
      }
      if (state === 'head') bodyDone();
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (state === 'head') {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end + 4).toString('latin1');
          buf = buf.subarray(end + 4);
          onHead(head);
          if (socket.destroyed) return;
          continue;
        }
        if (state === 'body') {
          if (chunked) {
            // Chunk data is letters only, so the last-chunk marker cannot hide in it.
            const end = buf.indexOf('0\r\n\r\n');
            if (end < 0 || (end > 0 && buf[end - 1] !== 0x0a)) {
              received += buf.length > 5 ? buf.length - 5 : 0;
              buf = buf.length > 5 ? buf.subarray(buf.length - 5) : buf;
              return;
            }
            received += end;
            buf = buf.subarray(end + 5);
          } else {
            const n = Math.min(remaining, buf.length);
            remaining -= n;
            received += n;
            buf = buf.subarray(n);
            if (remaining > 0) return;
          }
          bodyDone();
          continue;
        }
        return;
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface Outcome {
  session: Session;
  clientReset: boolean;
  stalled: boolean;
  received: Buffer;
  problem: string | undefined;
}

async function runSession(port: number, s: Session): Promise<Outcome> {
  const client = new RawClient(port, { halfOpen: true });
  const outcome: Outcome = { session: s, clientReset: false, stalled: false, received: Buffer.alloc(0), problem: undefined };
  try {
    await client.connected;
  } catch {
    outcome.problem = 'could not connect';
    return outcome;
  }
  const path = s.behaviour === 'dead' ? `/dead/${s.id}` : `/fz/${s.behaviour}/${s.id}`;
  const framing = s.chunked ? 'Transfer-Encoding: chunked\r\n' : s.bodyBytes > 0 ? `Content-Length: ${s.bodyBytes}\r\n` : '';
  const version = s.http10 ? 'HTTP/1.0\r\nConnection: keep-alive' : 'HTTP/1.1\r\nHost: fuzz';
  await client.write(`${s.bodyBytes > 0 ? 'POST' : 'GET'} ${path} ${version}\r\n${framing}\r\n`);
  for (let i = 0; i < s.pieces.length; i++) {
    if (i === s.resetAt) {
      client.socket.resetAndDestroy();
      outcome.clientReset = true;
      return outcome;
    }
    if (i === s.endAt) break;
    if (i === s.stallAt) {
      outcome.stalled = true;
      await delay(CLIENT_BODY_MS * 2);
    }
    const n = s.pieces[i]!;
    const data = Buffer.alloc(n, 0x61 + (i % 26));
    const ok = await client.write(s.chunked ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), data, Buffer.from('\r\n')]) : data);
    if (!ok) break;
    // A client that already has its whole answer stops sending, as real ones do.
    if (client.response()?.complete === true && i % 4 === 3) break;
  }
  if (s.chunked && s.endAt < 0 && !client.socket.destroyed) await client.write('0\r\n\r\n');
  const first = await Promise.race([
    waitFor('a response', () => client.response()?.complete || client.ended || client.closed, { timeoutMs: 8000, intervalMs: 5 }).then(() => true),
    client.closedPromise.then(() => true),
  ]).catch(() => false);
  if (!first) outcome.problem = 'no complete response and no close within 8 s';
  const res = client.response();
  const keepAlive = s.http10 ? res?.headers['connection'] === 'keep-alive' : res?.headers['connection'] !== 'close';
  if (s.second && res?.complete === true && keepAlive && !client.closed) {
    await client.write(`GET /fz/echo/${s.id}-2 ${version}\r\n\r\n`);
    await waitFor('the second response', () => {
      const again = client.response();
      return (again !== undefined && again.rest.length > 0 && parseSecond(again.rest)) || client.ended || client.closed;
    }, { timeoutMs: 8000, intervalMs: 5 }).catch(() => { outcome.problem = 'second request: no response and no close within 8 s'; });
  }
  if (!client.socket.destroyed) client.socket.end();
  await Promise.race([client.closedPromise, delay(8000)]);
  if (!client.closed) outcome.problem ??= 'the balancer kept the connection open after the client ended it';
  client.close();
  outcome.received = client.received;
  return outcome;
}

function parseSecond(rest: Buffer): boolean {
  const head = rest.indexOf('\r\n\r\n');
  if (head < 0) return false;
  const length = Number(/content-length: (\d+)/i.exec(rest.subarray(0, head).toString('latin1'))?.[1] ?? -1);
  return length >= 0 && rest.length >= head + 4 + length;
}

/** What a client that did not reset may see: nothing, or well-formed complete responses. */
function judge(o: Outcome): string | undefined {
  if (o.problem !== undefined) return o.problem;
  if (o.clientReset || o.received.length === 0) return undefined;
  const res = parseResponse(o.received, true);
  if (res === undefined) return `not a well-formed response: ${JSON.stringify(o.received.subarray(0, 200).toString('latin1'))}`;
  const s = o.session;
  if (!res.complete && !(MAY_CUT.has(s.behaviour) || o.stalled)) return `response cut short (${res.status})`;
  if (s.http10 && s.chunked) return res.status === 400 ? undefined : `chunked HTTP/1.0 request: ${res.status}`;
  if (s.behaviour === 'early' && ![413, 503].includes(res.status)) return `the server's early answer became ${res.status}`;
  if (s.behaviour === 'early-close' && res.status !== 413 && res.status !== 502) return `the server's early 413 became ${res.status}`;
  if (s.behaviour === 'echo' && !o.stalled && s.endAt < 0 && res.status === 200 && res.body.toString() !== (s.chunked ? 'ok chunked' : `ok ${s.bodyBytes}`)) {
    return `echo: ${res.body.toString()} for ${s.bodyBytes} bytes`;
  }
  if (res.rest.length > 0) {
    const second = parseResponse(res.rest, true);
    if (second === undefined || !second.complete || second.rest.length > 0) return `bytes after the response: ${JSON.stringify(res.rest.subarray(0, 200).toString('latin1'))}`;
  }
  return undefined;
}

let balancer: ChildProcess;
let balancerStderr = '';
let port: number;
let servers: net.Server[];

beforeAll(async () => {
  const rand = random(SEED ^ 0x5eed);
  servers = await Promise.all([0, 1, 2].map(() => startFuzzServer(rand)));
  const deadPort = await freePort();
  const options = {
    listen: '127.0.0.1:0',
    pools: {
      fz: { servers: servers.map((s, i) => ({ id: `s${i}`, address: `127.0.0.1:${(s.address() as net.AddressInfo).port}` })) },
      dead: { servers: [{ id: 'dead', address: `127.0.0.1:${deadPort}` }] },
    },
    routes: [{ pathPrefix: '/fz', pool: 'fz' }, { pathPrefix: '/dead', pool: 'dead' }],
    timeouts: { headMs: 1000, clientBodyMs: CLIENT_BODY_MS, serverMs: SERVER_MS, connectMs: 300 },
  };
  const script = fileURLToPath(new URL('../fixtures/balancer-process.ts', import.meta.url));
  balancer = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, BALANCER_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  balancer.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  balancer.stderr!.on('data', (c: Buffer) => { balancerStderr += c.toString(); });
  const address = await waitFor('the balancer to listen', () => {
    if (balancer.exitCode !== null) throw new Error(`balancer exited: ${balancerStderr}`);
    return /listening (\S+)/.exec(out)?.[1];
  }, { timeoutMs: 20_000 });
  port = Number(address.split(':')[1]);
});

afterAll(async () => {
  if (balancer.exitCode === null) {
    const exited = new Promise((resolve) => balancer.once('exit', resolve));
    balancer.kill('SIGTERM');
    await exited;
  }
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
    s.close(() => resolve());
    // Stalled server sockets would hold close() up.
    (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  })));
});

describe(`exchange fuzz (seed ${SEED})`, () => {
  it('the balancer survives, and every client gets whole responses or a closed socket', async () => {
    const rand = random(SEED);
    const sessions = Array.from({ length: SESSIONS }, (_, i) => plan(rand, i));
    const failures: string[] = [];
    /** Statuses seen (0: no response): the run must have met each kind of ending. */
    const seen = new Map<number, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < sessions.length && balancer.exitCode === null) {
        const s = sessions[next++]!;
        const outcome = await runSession(port, s);
        const problem = judge(outcome);
        const status = outcome.clientReset ? -1 : parseResponse(outcome.received, true)?.status ?? 0;
        seen.set(status, (seen.get(status) ?? 0) + 1);
        if (problem !== undefined) failures.push(`session ${s.id} ${JSON.stringify({ ...s, pieces: s.pieces.length })}: ${problem}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
    expect(balancer.exitCode, `the balancer died (seed ${SEED}):\n${balancerStderr}`).toBeNull();
    expect(failures, `seed ${SEED}`).toEqual([]);
    console.log(`exchange fuzz, seed ${SEED}: statuses seen`, Object.fromEntries(seen));
    for (const status of [200, 408, 413, 502, 503, 504]) expect(seen.get(status), `status ${status} never seen`).toBeGreaterThan(0);
    // And it still serves.
    const client = new RawClient(port);
    await client.write('GET /fz/echo/last HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n');
    await client.closedPromise;
    expect(client.response()?.status).toBe(200);
    expect(balancerStderr).not.toMatch(/TypeError|Uncaught|ERR_/);
  }, 60_000);
});
