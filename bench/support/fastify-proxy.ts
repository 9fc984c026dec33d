/**
 * The Node peer: a Fastify app (node:http server) with @fastify/http-proxy, and
 * undici pools to the servers. Started by the benchmark as its own process:
 *
 *   node --import tsx bench/support/fastify-proxy.ts --listen 127.0.0.1:PORT \
 *     --server a=127.0.0.1:9001 --server b=127.0.0.1:9002 --mode round-robin|cookie
 *
 * It prints its address on one line once it listens and stops on SIGTERM.
 * cookie mode is a plain (unsigned) server-name cookie, like HAProxy's.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import Fastify, { type FastifyRequest } from 'fastify';
import httpProxy from '@fastify/http-proxy';
import { STICKY_COOKIE } from './modes.js';

/** Connections each upstream pool may open. @defaultValue 64 */
export const DEFAULT_UPSTREAM_CONNECTIONS = 64;

const { values } = parseArgs({
  options: {
    listen: { type: 'string' },
    server: { type: 'string', multiple: true },
    mode: { type: 'string', default: 'round-robin' },
  },
});

function fail(message: string): never {
  process.stderr.write(`fastify-proxy: ${message}\n`);
  process.exit(2);
}

const listen = values.listen ?? fail('--listen HOST:PORT is required');
const [host = '', portText = ''] = listen.split(':');
const servers = (values.server ?? []).map((spec) => {
  const [name, address] = spec.split('=');
  if (name === undefined || address === undefined) fail(`--server must be NAME=HOST:PORT, got "${spec}"`);
  return { name, origin: `http://${address}` };
});
if (servers.length === 0) fail('give at least one --server NAME=HOST:PORT');
if (values.mode !== 'round-robin' && values.mode !== 'cookie') fail(`--mode must be round-robin or cookie, got "${values.mode}"`);
const sticky = values.mode === 'cookie';
const byName = new Map(servers.map((s) => [s.name, s.origin]));
const cookiePrefix = `${STICKY_COOKIE}=`;

// The server picked for a request, and whether the client must be told (Set-Cookie).
const picked = new WeakMap<object, { name: string; setCookie: boolean }>();
let next = 0;

function pick(request: FastifyRequest): string {
  if (sticky) {
    const wanted = readCookie(request.headers.cookie);
    const origin = wanted === undefined ? undefined : byName.get(wanted);
    if (wanted !== undefined && origin !== undefined) {
      picked.set(request.raw, { name: wanted, setCookie: false });
      return origin;
    }
  }
  const server = servers[next++ % servers.length] as { name: string; origin: string };
  if (sticky) picked.set(request.raw, { name: server.name, setCookie: true });
  return server.origin;
}

function readCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const at = header.indexOf(cookiePrefix);
  if (at < 0 || (at > 0 && header[at - 1] !== ' ' && header[at - 1] !== ';')) return undefined;
  const end = header.indexOf(';', at);
  return header.slice(at + cookiePrefix.length, end < 0 ? undefined : end);
}

const app = Fastify({ logger: false });
await app.register(httpProxy, {
  // No fixed upstream: getUpstream picks one per request from the pools below.
  upstream: '',
  undici: { connections: DEFAULT_UPSTREAM_CONNECTIONS, pipelining: 1 },
  replyOptions: {
    getUpstream: (request) => pick(request as FastifyRequest),
    rewriteRequestHeaders: (request, headers) => ({
      ...headers,
      'x-forwarded-for': request.socket.remoteAddress ?? '',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': request.headers.host ?? '',
      'x-request-id': request.headers['x-request-id'] ?? randomUUID(),
    }),
    rewriteHeaders: (headers, request) => {
      const { 'scaleout-load': _load, ...rest } = headers;
      const choice = request === undefined ? undefined : picked.get(request.raw);
      if (choice?.setCookie === true) rest['set-cookie'] = [`${cookiePrefix}${choice.name}; Path=/; HttpOnly`];
      return rest;
    },
  },
});

const shutdown = (): void => { void app.close().then(() => process.exit(0)); };
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

await app.listen({ host, port: Number(portText) });
process.stdout.write(`fastify-proxy listening on http://${host}:${portText}\n`);
