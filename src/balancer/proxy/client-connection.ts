import type { Socket } from 'node:net';
import { earlyCloseFailure } from '../health/upstream-failure.js';
import { CachedResponse } from '../cache/response-cache.js';
import type { ResponseCache } from '../cache/response-cache.js';
import { cacheKey, etagMatches, storeRules } from '../cache/cacheability.js';
import { ChunkedScanner, DROP_EXTRACTED, DROP_HOP_BY_HOP, dropField, headerValue, parseRequestHead, parseResponseHead } from '../http/index.js';
import type { RequestHead, ResponseHead } from '../http/index.js';
import type { Server } from '../server.js';
import { BALANCER_RESPONSES, CLIENT_ERROR_RESPONSES } from '../errors.js';
import { errorResponse } from './error-response.js';
import { isIdempotent, rewriteHead, writeHead } from './head-writer.js';
import type { ProxyContext, ProxyPool, SelectRequest } from './proxy-context.js';
import type { Upstream, UpstreamOwner } from './upstream.js';

/*
 * One client connection and the exchanges it carries, one at a time.
 *
 *   request:
 *     HEAD ──head parsed──► BODY ──body complete──► SENT ──response complete, keep-alive──► HEAD
 *      │                     │                       │
 *      │ bad head,           │ response complete     │ response complete with close,
 *      │ no route,           │ before the body (an   │ 502/504, shutdown
 *      │ no server, 408      │ early answer), 408,   │
 *      │                     │ 400, 502              │
 *      ▼                     ▼                       ▼
 *     CLOSING: our side is ended after the last response. What the client still sends
 *              is read and dropped, never parsed, up to DISCARD_MAX_BYTES (then reading
 *              stops), until the client closes or LINGER_MS has passed ──► destroyed
 *
 *     Failures that leave nothing to say (the client reset, a response cut short)
 *     destroy the socket at once.
 *
 *   response: (after the request head is sent) HEAD ──► BODY ──► done
 *             101 Switching Protocols ──► TUNNEL (bytes both ways until either closes)
 *
 * A response that starts before the request body is complete (an app answering 413
 * without reading the body) is passed on whole, with `connection: close`: after it the
 * rest of the body goes nowhere, and the connection moves to CLOSING. Reading before
 * closing keeps a client that is still sending from getting a reset, which can erase
 * the response from its buffers before it reads it (RFC 9112 9.6).
 *
 * Pipelined requests wait in `#buf` with the socket paused until the current response
 * is complete, so a slow server never makes the balancer buffer without bound.
 *
 * A pool with a response cache answers a fresh stored answer at once, in HEAD, with one
 * write and no server: the exchange ends there and the next request is read. When the
 * client is not reading those answers (the write queue is over its mark), reading stops
 * until it drains, so answering from memory never queues without bound either.
 */
const REQ_HEAD = 0;
const REQ_BODY = 1;
const REQ_SENT = 2;
const RESP_HEAD = 0;
const RESP_BODY = 1;

const BODY_NONE = 0;
const BODY_LENGTH = 1;
const BODY_CHUNKED = 2;
const BODY_CLOSE = 3;

/** An answer on its way into a pool's cache: its head as stored, and its body as it passes. */
interface PendingStore {
  cache: ResponseCache;
  key: string;
  head: string;
  notModifiedHead: string;
  etag: string | undefined;
  varyNames: string[];
  varyValues: (string | undefined)[];
  lifetimeMs: number;
  initialAgeSec: number;
  bodyBytes: number;
  pieces: Buffer[];
}

/** Bodies up to this size that arrived with their head are copied into the head's write. */
const MAX_COALESCED_BODY_BYTES = 16 * 1024;

/** The methods a `fallthrough` route takes. */
function isRead(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/**
 * Bytes a closing connection reads and drops (the rest of a body after an early or
 * error response) before it stops reading; the socket is destroyed at LINGER_MS.
 */
export const DISCARD_MAX_BYTES = 1024 * 1024;
/** How long a closing connection waits for the client to read the last response and close. */
export const LINGER_MS = 5_000;

export class ClientConnection implements UpstreamOwner, SelectRequest {
  readonly socket: Socket;
  readonly clientIp: string;
  readonly secure: boolean;
  setCookie: string | undefined = undefined;

  readonly #ctx: ProxyContext;
  #buf: Buffer | null = null;
  #reqPhase = REQ_HEAD;
  #head: RequestHead | null = null;
  #headBuf: Buffer | null = null;
  #pool: ProxyPool | null = null;
  #server: Server | null = null;
  #upstream: Upstream | null = null;
  #requestId = '';
  /**
   * Every byte of this request sent upstream so far, while small enough to send again:
   * Buffers, and latin1 strings for heads (see writeHead).
   */
  #out: (Buffer | string)[] | null = null;
  #outBytes = 0;
  #attempts = 0;
  #bodyKind = BODY_NONE;
  #bodyRemaining = 0;
  readonly #reqChunks: ChunkedScanner;
  #respPhase = RESP_HEAD;
  #respBuf: Buffer | null = null;
  #respBodyKind = BODY_NONE;
  #respRemaining = 0;
  readonly #respChunks: ChunkedScanner;
  #respStatus = 0;
  /** Bytes of the response already written to the client: from then on no retry, no 502. */
  #respStarted = false;
  #closeAfterResponse = false;
  #tunnel = false;
  /** CLOSING: our side is ended or ending; nothing the client sends is parsed any more. */
  #closed = false;
  /** The server counting this exchange as awaiting its answer (see Server.awaiting). */
  #awaitingOn: Server | null = null;
  #discardedBytes = 0;
  #deadlineMs: number;
  /** When the request went to its current server (performance.now()), for the latency windows. */
  #sentAtMs = 0;
  /** The forwarding fields of a request that brought none of its own: the same on every request. */
  readonly #forwardedFields: string;
  /** The cache key of a request its pool's cache could not answer: its answer may be stored. */
  #cacheKey: string | undefined = undefined;
  #pendingStore: PendingStore | null = null;
  /** Reading stopped after an answer from the cache until the client drains its write queue. */
  #waitingDrain = false;

  constructor(socket: Socket, ctx: ProxyContext, secure: boolean) {
    this.socket = socket;
    this.#ctx = ctx;
    // Limits resolved once by the balancer; the scanners are reset, never rebuilt, per request.
    this.#reqChunks = new ChunkedScanner(ctx.chunkLimits);
    this.#respChunks = new ChunkedScanner(ctx.chunkLimits);
    this.secure = secure;
    const ip = socket.remoteAddress ?? '';
    this.clientIp = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    this.#forwardedFields = `x-forwarded-for: ${this.clientIp}\r\nx-forwarded-proto: ${secure ? 'https' : 'http'}\r\n`;
    this.#deadlineMs = ctx.nowMs + ctx.timeouts.headMs;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onClientData(chunk));
    socket.on('drain', () => this.#onClientDrain());
    socket.on('error', () => { /* 'close' follows; nothing to tell a client that is gone */ });
    socket.on('close', () => this.#onClientClose());
    socket.on('end', () => this.#onClientEnd());
  }

  get cookieHeader(): string | undefined {
    return this.#head?.cookie;
  }

  header(lowerName: string): string | undefined {
    return this.#head === null || this.#headBuf === null ? undefined : headerValue(this.#headBuf, this.#head, lowerName);
  }

  /** Called by the balancer's sweep: enforce whichever timeout applies now. */
  sweep(nowMs: number): void {
    if (nowMs < this.#deadlineMs || this.#tunnel) return;
    if (this.#closed) {
      this.socket.destroy(); // lingered long enough
      return;
    }
    if (this.#reqPhase === REQ_HEAD && this.#server === null) {
      // Idle keep-alive: close quietly. A started head: 408.
      if (this.#buf === null || this.#buf.length === 0) this.#destroy();
      else this.#failClient(408);
      return;
    }
    if (this.#server !== null && this.#reqPhase === REQ_SENT) {
      const server = this.#server;
      if (this.#respStarted && this.socket.writableNeedDrain) {
        // The response stalled because the client stopped reading it: not the server's fault.
        this.#abortExchange();
        return;
      }
      server.counters.timeouts++;
      this.#pool!.recordFailure(server, 'timeout');
      if (this.#respStarted) {
        this.#abortExchange();
      } else {
        this.#dropUpstream(); // a late answer must not reach a client that got the 504
        this.#endExchange(BALANCER_RESPONSES.upstreamTimeout.status);
        this.#sendAndClose(errorResponse(BALANCER_RESPONSES.upstreamTimeout, this.#requestId, `server "${server.id}"`));
      }
      return;
    }
    // A request body that stopped arriving.
    if (this.#respStarted) this.#abortExchange();
    else this.#failClient(408);
  }

  /**
   * `server` stopped answering and was taken out of its pool. A request of this
   * connection still waiting for its answer there moves to another server when that is
   * safe: idempotent, still held whole, and not yet retried. Others keep waiting (the
   * server may come back) until the server timeout: 504.
   */
  serverLost(server: Server): void {
    if (this.#closed || this.#server !== server || this.#tunnel || this.#respStarted || this.#reqPhase !== REQ_SENT) return;
    if (this.#out === null || this.#attempts >= 2 || !isIdempotent(this.#head!.method)) return;
    if (this.#upstream !== null && this.#upstream.closed) return; // its close is being handled
    const next = this.#pool!.select(this, server);
    if (next === undefined) return;
    this.#dropUpstream();
    server.counters.retries++;
    this.#releaseServer(server);
    this.#deadlineMs = this.#ctx.nowMs + this.#ctx.timeouts.serverMs;
    this.#connect(next);
  }

  /** Balancer shutdown: idle connections close now, busy ones after their exchange. */
  closeWhenIdle(): void {
    if (this.#closed) {
      // Lingering: the sweep ends it, unless it stopped reading (past the discard bound)
      // and would only hold the shutdown up.
      if (this.socket.isPaused()) this.socket.destroy();
      return;
    }
    if (this.#reqPhase === REQ_HEAD && this.#server === null && (this.#buf === null || this.#buf.length === 0)) this.#destroy();
    else this.#closeAfterResponse = true;
  }

  destroy(): void {
    this.#abortExchange();
  }

  // ── client side ──────────────────────────────────────────────────────────────

  #onClientData(chunk: Buffer): void {
    if (this.#closed) {
      this.#discard(chunk.length);
      return;
    }
    if (this.#tunnel) {
      if (this.#upstream !== null && !this.#upstream.write(chunk)) this.socket.pause();
      return;
    }
    if (this.#reqPhase === REQ_BODY) {
      this.#deadlineMs = this.#ctx.nowMs + this.#ctx.timeouts.clientBodyMs;
      this.#forwardBody(chunk, 0);
      return;
    }
    // A new head, or bytes pipelined behind the current request: keep them for later.
    const grown = this.#buf !== null && this.#buf.length > 0;
    this.#buf = grown ? Buffer.concat([this.#buf!, chunk]) : chunk;
    if (this.#reqPhase === REQ_HEAD && this.#server === null) {
      // A head ends with a line break: a trickling client's bytes without one cannot
      // complete it, so skip the re-parse (else one byte at a time costs quadratic CPU).
      if (grown && chunk.indexOf(10) === -1 && this.#buf.length <= this.#ctx.limits.maxHeadBytes) return;
      this.#readHead();
    }
    else this.#holdPipelined();
  }

  /**
   * Pipelined bytes wait in #buf. Reading is paused only once they pass the head limit:
   * pausing and resuming costs two syscalls, too much to pay on every request.
   */
  #holdPipelined(): void {
    if (this.#buf !== null && this.#buf.length > this.#ctx.limits.maxHeadBytes) this.socket.pause();
  }

  #readHead(): void {
    // A loop, not recursion: pipelined requests answered from the cache follow each other here.
    for (;;) {
      const buf = this.#buf!;
      if (this.#deadlineMs > this.#ctx.nowMs + this.#ctx.timeouts.headMs) {
        // First byte of a new request after keep-alive idling: the head clock starts now.
        this.#deadlineMs = this.#ctx.nowMs + this.#ctx.timeouts.headMs;
      }
      const parsed = parseRequestHead(buf, 0, buf.length, this.#ctx.limits);
      if (parsed.kind === 'incomplete') return;
      if (parsed.kind === 'error') {
        this.#failClient(parsed.status);
        return;
      }
      if (!this.#startExchange(parsed, buf)) return;
      if (this.#waitingDrain || this.#buf === null || this.#buf.length === 0) return;
    }
  }

  /** @returns true when the exchange was answered from the cache and the connection can read the next request. */
  #startExchange(head: RequestHead, buf: Buffer): boolean {
    this.#head = head;
    this.#headBuf = buf;
    this.#requestId = head.xRequestId ?? this.#ctx.nextRequestId();
    this.#closeAfterResponse ||= !head.keepAlive || this.#ctx.closing;
    this.setCookie = undefined;
    this.#attempts = 0;
    this.#respStarted = false;
    this.#respStatus = 0;

    this.#fellThrough = false;
    let pool = this.#ctx.route(head.host, head.originTarget, head.method);
    if (pool === undefined) {
      this.#sendAndClose(errorResponse(BALANCER_RESPONSES.noRoute, this.#requestId));
      return false;
    }
    this.#pool = pool;
    this.#cacheKey = undefined;
    this.#pendingStore = null;
    if (pool.cache !== undefined && this.#answerFromCache(pool, pool.cache, head, buf)) return !this.#closed;
    let server = pool.select(this, undefined);
    if (server === undefined) {
      // A fallthrough pool without a server (no static server up yet): the next pool answers.
      const next = isRead(head.method) ? this.#ctx.fallthrough(head.host, head.originTarget) : undefined;
      if (next !== undefined) {
        this.#ctx.countExchange(pool, undefined, BALANCER_RESPONSES.noHealthyServer.status);
        this.#fellThrough = true;
        this.#pool = next;
        server = next.select(this, undefined);
      }
    }
    if (server === undefined) {
      pool = this.#pool;
      this.#ctx.countExchange(pool, undefined, BALANCER_RESPONSES.noHealthyServer.status);
      this.#sendAndClose(errorResponse(BALANCER_RESPONSES.noHealthyServer, this.#requestId, `pool "${pool.name}"`, 'retry-after: 1\r\n'));
      return false;
    }

    let out = rewriteHead(head.text, head.headStart, head.requestLineEnd, head, this.#extraRequestFields(head));
    // The server gets the origin form (the authority went to Host, RFC 9112 3.2.2) and
    // HTTP/1.1 whatever the client spoke (RFC 9110 6.2): asked in HTTP/1.0, a server
    // closes after answering and often frames the body by that close, which would end
    // the client's keep-alive connection too.
    if (head.targetForm === 'absolute' || head.versionMinor === 0) {
      out = `${head.method} ${head.originTarget} HTTP/1.1${out.slice(head.requestLineEnd - head.headStart)}`;
    }
    this.#out = [out];
    this.#outBytes = out.length;
    this.#bodyKind = head.bodyKind === 'none' ? BODY_NONE : head.bodyKind === 'length' ? BODY_LENGTH : BODY_CHUNKED;
    this.#bodyRemaining = head.contentLength;
    if (this.#bodyKind === BODY_CHUNKED) this.#reqChunks.reset();
    this.#reqPhase = this.#bodyKind === BODY_NONE || (this.#bodyKind === BODY_LENGTH && this.#bodyRemaining === 0) ? REQ_SENT : REQ_BODY;
    this.#connect(server);
    const rest = buf.length - head.headEnd;
    this.#buf = null;
    if (rest > 0) {
      if (this.#reqPhase === REQ_BODY) this.#forwardBody(buf, head.headEnd);
      else this.#keepPipelined(buf, head.headEnd);
    }
    if (this.#closed) return false; // bad chunked framing right after the head
    if (this.#reqPhase === REQ_SENT) this.#requestSent();
    else this.#deadlineMs = this.#ctx.nowMs + this.#ctx.timeouts.clientBodyMs;
    return false;
  }

  /**
   * Answers the request from its pool's cache when a fresh stored answer of the same
   * variant is there: one write (the stored bytes; a 304 to a matching If-None-Match),
   * and the exchange is over. Otherwise notes the key, so the answer may be stored.
   */
  #answerFromCache(pool: ProxyPool, cache: ResponseCache, head: RequestHead, buf: Buffer): boolean {
    const key = cacheKey(head, this.secure);
    if (key === undefined) {
      cache.counters.bypasses++;
      return false;
    }
    const now = cache.clock.now();
    const entry = cache.get(key, now);
    if (entry === undefined || (entry.varyNames.length > 0 && !this.#sameVariant(entry))) {
      cache.counters.misses++;
      this.#cacheKey = key;
      return false;
    }
    cache.counters.hits++;
    let status = 200;
    let wire: Buffer;
    let headEnd: number;
    let end: number;
    if (head.ifNoneMatch !== undefined && entry.etag !== undefined && etagMatches(head.ifNoneMatch, entry.etag)) {
      cache.counters.notModified++;
      status = 304;
      wire = entry.notModified(now);
      headEnd = end = wire.length;
    } else {
      wire = entry.wire(now);
      headEnd = entry.headLength;
      end = head.method === 'HEAD' ? headEnd : wire.length;
    }
    this.#buf = buf.length > head.headEnd ? buf.subarray(head.headEnd) : null;
    let connection = '';
    if (this.#closeAfterResponse) connection = 'connection: close\r\n';
    else if (head.versionMinor === 0) connection = 'connection: keep-alive\r\n';
    if (connection === '') {
      this.socket.write(end === wire.length ? wire : wire.subarray(0, end));
    } else {
      this.socket.cork();
      this.socket.write(wire.subarray(0, headEnd - 2));
      this.socket.write(`${connection}\r\n`, 'latin1');
      if (end > headEnd) this.socket.write(wire.subarray(headEnd, end));
      this.socket.uncork();
    }
    this.#ctx.countExchange(pool, undefined, status);
    if (this.#closeAfterResponse || this.#ctx.closing) {
      this.#startClosing(undefined);
      return true;
    }
    this.#head = null;
    this.#headBuf = null;
    this.#deadlineMs = this.#ctx.nowMs + this.#ctx.timeouts.keepAliveMs;
    if (this.socket.writableNeedDrain) {
      this.#waitingDrain = true;
      this.socket.pause();
    }
    return true;
  }

  #sameVariant(entry: CachedResponse): boolean {
    for (let i = 0; i < entry.varyNames.length; i++) {
      if (this.header(entry.varyNames[i]!) !== entry.varyValues[i]) return false;
    }
    return true;
  }

  /**
   * For an answer of a caching pool: consumes Surrogate-Control (never forwarded), and
   * when the request had a cache key and the answer may be kept, prepares its stored
   * copy; the body is collected as it passes (see #forwardResponseBody).
   */
  #prepareStore(cache: ResponseCache, resp: ResponseHead, buf: Buffer, start: number): PendingStore | null {
    const head = this.#head!;
    const rules = storeRules(buf, resp, head.method, cache.options.maxAgeMs);
    const key = this.#cacheKey;
    if (key === undefined || this.#fellThrough) return null;
    if (rules.refused !== undefined) {
      cache.counters.refused++;
      return null;
    }
    const drop = resp.drop;
    const original = drop.slice();
    for (const i of rules.ageFields) drop[i] = drop[i]! | DROP_EXTRACTED;
    const stored = writeHead(buf, start, resp.statusLineEnd, resp, '');
    if (stored.length + resp.contentLength > cache.options.maxObjectBytes) {
      for (let i = 0; i < drop.length; i++) drop[i] = original[i]!;
      cache.counters.refused++;
      return null;
    }
    for (const i of rules.entityFields) drop[i] = drop[i]! | DROP_EXTRACTED;
    const withoutEntity = writeHead(buf, start, resp.statusLineEnd, resp, '');
    for (let i = 0; i < drop.length; i++) drop[i] = original[i]!;
    const headBuf = this.#headBuf!;
    return {
      cache, key, head: stored,
      notModifiedHead: `HTTP/1.1 304 Not Modified${withoutEntity.slice(withoutEntity.indexOf('\r\n'))}`,
      etag: rules.etag,
      varyNames: rules.vary,
      varyValues: rules.vary.map((name) => headerValue(headBuf, head, name)),
      lifetimeMs: rules.lifetimeMs,
      initialAgeSec: rules.initialAgeSec,
      bodyBytes: resp.contentLength,
      pieces: [],
    };
  }

  #finishStore(pending: PendingStore): void {
    this.#pendingStore = null;
    const body = pending.pieces.length === 1 ? pending.pieces[0]! : Buffer.concat(pending.pieces);
    if (body.length !== pending.bodyBytes) return;
    pending.cache.set(new CachedResponse({
      key: pending.key, head: pending.head, notModifiedHead: pending.notModifiedHead, body, etag: pending.etag,
      varyNames: pending.varyNames, varyValues: pending.varyValues, storedAtMs: pending.cache.clock.now(),
      lifetimeMs: pending.lifetimeMs, initialAgeSec: pending.initialAgeSec,
    }));
  }

  #extraRequestFields(head: RequestHead): string {
    let extra = head.xForwardedFor === undefined ? this.#forwardedFields
      : `x-forwarded-for: ${head.xForwardedFor}, ${this.clientIp}\r\nx-forwarded-proto: ${this.secure ? 'https' : 'http'}\r\n`;
    if (head.host !== undefined) extra += `x-forwarded-host: ${head.host}\r\n`;
    // Routed by the target's authority, so the server must see that one too, not a
    // Host field that named another (the parser dropped it).
    if (head.targetForm === 'absolute') extra += `host: ${head.host}\r\n`;
    // HTTP/1.1 requires Host; an HTTP/1.0 client may leave it out. Name the address it
    // connected to, which is the authority its request was meant for.
    else if (head.host === undefined) extra += `host: ${this.#localAuthority()}\r\n`;
    extra += `x-request-id: ${this.#requestId}\r\n`;
    // Upgrade and Connection are hop-by-hop, but the server must see them to switch.
    if (head.upgrade !== undefined) extra += `connection: upgrade\r\nupgrade: ${head.upgrade}\r\n`;
    return extra + '\r\n';
  }

  #localAuthority(): string {
    const address = this.socket.localAddress ?? '127.0.0.1';
    return `${address.includes(':') ? `[${address}]` : address}:${this.socket.localPort ?? 80}`;
  }

  /** Bytes after the current request: the next pipelined request, read once this one is done. */
  #keepPipelined(buf: Buffer, from: number): void {
    this.#buf = buf.subarray(from);
    this.#holdPipelined();
  }

  #forwardBody(chunk: Buffer, from: number): void {
    let end = chunk.length;
    if (this.#bodyKind === BODY_LENGTH) {
      if (end - from >= this.#bodyRemaining) {
        end = from + this.#bodyRemaining;
        this.#bodyRemaining = 0;
      } else {
        this.#bodyRemaining -= end - from;
      }
      const done = this.#bodyRemaining === 0;
      this.#send(from === 0 && end === chunk.length ? chunk : chunk.subarray(from, end));
      if (done) this.#bodyDone(chunk, end);
      return;
    }
    const at = this.#reqChunks.scan(chunk, from, end);
    if (at === -2) {
      // Bad framing in the middle of a body: the server already has part of it.
      if (this.#respStarted) this.#abortExchange();
      else this.#failClient(400);
      return;
    }
    if (at >= 0) end = at;
    this.#send(from === 0 && end === chunk.length ? chunk : chunk.subarray(from, end));
    if (at >= 0) this.#bodyDone(chunk, end);
  }

  #bodyDone(chunk: Buffer, end: number): void {
    this.#reqPhase = REQ_SENT;
    if (end < chunk.length) this.#keepPipelined(chunk, end);
    this.#startAwaiting();
    this.#requestSent();
  }

  /** The server has the whole request and owes its answer: a stall shows as silence here. */
  #startAwaiting(): void {
    const server = this.#server;
    if (server === null || this.#awaitingOn !== null || this.#respStatus !== 0) return;
    server.awaiting++;
    this.#awaitingOn = server;
  }

  #stopAwaiting(): void {
    const server = this.#awaitingOn;
    if (server === null) return;
    server.awaiting--;
    this.#awaitingOn = null;
  }

  #requestSent(): void {
    this.#deadlineMs = this.#ctx.nowMs + this.#ctx.timeouts.serverMs;
  }

  #send(data: Buffer): void {
    const upstream = this.#upstream!;
    if (this.#out !== null) {
      this.#out.push(data);
      this.#outBytes += data.length;
      if (this.#outBytes > this.#ctx.limits.maxReplayBytes) {
        if (upstream.connected) this.#out = null;
        else this.socket.pause(); // hold the rest until the connection is up
      }
    }
    if (upstream.connected && !upstream.write(data)) this.socket.pause();
  }

  #onClientDrain(): void {
    if (this.#waitingDrain) {
      this.#waitingDrain = false;
      if (this.#closed) return;
      this.socket.resume();
      if (this.#reqPhase === REQ_HEAD && this.#server === null && this.#buf !== null && this.#buf.length > 0) this.#readHead();
      return;
    }
    this.#upstream?.socket.resume();
  }

  #onClientEnd(): void {
    // The client will send nothing more. Between requests that is a normal goodbye;
    // in the middle of one the request can never complete. When closing, Node ends the
    // socket once the last response is written.
    if (this.#closed) return;
    if (this.#server === null && this.#reqPhase === REQ_HEAD) this.#destroy();
    else if (this.#reqPhase !== REQ_SENT || this.#tunnel) this.#abortExchange();
    else this.#closeAfterResponse = true;
  }

  #onClientClose(): void {
    if (this.#closed) return;
    this.#abortExchange();
  }

  // ── upstream side ────────────────────────────────────────────────────────────

  #connect(server: Server): void {
    this.#server = server;
    this.#pendingStore = null;
    this.#attempts++;
    server.inFlight++;
    server.counters.requests++;
    this.#sentAtMs = performance.now();
    this.#respPhase = RESP_HEAD;
    this.#respBuf = null;
    const upstream = this.#ctx.upstreams.acquire(server, this);
    this.#upstream = upstream;
    if (upstream.connected) this.onUpstreamConnect(upstream);
    if (this.#reqPhase === REQ_SENT) this.#startAwaiting();
  }

  onUpstreamConnect(conn: Upstream): void {
    if (conn !== this.#upstream || this.#out === null) return;
    const socket = conn.socket;
    if (this.#out.length === 1) {
      conn.write(this.#out[0]!);
    } else {
      socket.cork();
      for (const piece of this.#out) conn.write(piece);
      socket.uncork();
    }
    if (this.#outBytes > this.#ctx.limits.maxReplayBytes) this.#out = null;
    if (this.#reqPhase === REQ_BODY) this.socket.resume();
  }

  onUpstreamDrain(conn: Upstream): void {
    if (conn === this.#upstream && (this.#reqPhase === REQ_BODY || this.#tunnel)) this.socket.resume();
  }

  onUpstreamData(conn: Upstream, chunk: Buffer): void {
    if (conn !== this.#upstream) return;
    if (this.#tunnel) {
      if (!this.#passToClient(chunk)) conn.socket.pause();
      return;
    }
    this.#deadlineMs = this.#ctx.nowMs + this.#ctx.timeouts.serverMs;
    if (this.#respPhase === RESP_BODY) {
      this.#forwardResponseBody(chunk, 0);
      return;
    }
    this.#respBuf = this.#respBuf === null ? chunk : Buffer.concat([this.#respBuf, chunk]);
    this.#readResponseHead();
  }

  #readResponseHead(): void {
    const buf = this.#respBuf!;
    const server = this.#server!;
    const head = this.#head!;
    let start = 0;
    // Interim (1xx) responses go to the client as they come; the final one follows.
    for (;;) {
      const parsed = parseResponseHead(buf, start, buf.length, head.method, this.#ctx.limits);
      if (parsed.kind === 'incomplete') {
        // Kept for the next read: a copy, as `buf` may be the shared read buffer.
        this.#respBuf = Buffer.from(buf.subarray(start));
        return;
      }
      if (parsed.kind === 'error') {
        this.#badUpstream(`${parsed.reason}`);
        return;
      }
      if (parsed.status < 200 && parsed.status !== 101) {
        // RFC 9110 15.2: never to an HTTP/1.0 client (its request went on as HTTP/1.1).
        if (head.versionMinor === 0) {
          start = parsed.headEnd;
          continue;
        }
        this.#respStarted = true;
        this.socket.write(writeHead(buf, start, parsed.statusLineEnd, parsed, '\r\n'), 'latin1');
        start = parsed.headEnd;
        continue;
      }
      this.#respBuf = null;
      this.#startResponse(parsed, buf, start, server);
      return;
    }
  }

  #startResponse(resp: ResponseHead, buf: Buffer, start: number, server: Server): void {
    const head = this.#head!;
    this.#stopAwaiting();
    this.#pool!.recordResponse(server, resp.status, resp.load);
    if (resp.status === 404 && !this.#fellThrough && this.#out !== null && this.#reqPhase === REQ_SENT && isRead(head.method)) {
      const next = this.#ctx.fallthrough(head.host, head.originTarget);
      if (next !== undefined) {
        this.#fallThrough(next, resp, buf);
        return;
      }
    }
    this.#respStatus = resp.status;
    if (resp.upgrade) {
      if (head.upgrade === undefined) {
        this.#badUpstream('101 without an upgrade request');
        return;
      }
      const upgrade = headerValue(buf, resp, 'upgrade') ?? head.upgrade;
      this.socket.write(writeHead(buf, start, resp.statusLineEnd, resp, `${this.#setCookieField()}connection: upgrade\r\nupgrade: ${upgrade}\r\n\r\n`), 'latin1');
      this.#startTunnel(buf, resp.headEnd);
      return;
    }
    const cache = this.#pool!.cache;
    const store = cache === undefined ? null : this.#prepareStore(cache, resp, buf, start);
    this.#respBodyKind = resp.bodyKind === 'none' ? BODY_NONE : resp.bodyKind === 'length' ? BODY_LENGTH
      : resp.bodyKind === 'chunked' ? BODY_CHUNKED : BODY_CLOSE;
    this.#respRemaining = resp.contentLength;
    if (this.#respBodyKind === BODY_CHUNKED) this.#respChunks.reset();
    // An HTTP/1.0 client cannot read chunked: it gets the data, ended by the close.
    this.#dechunk = this.#respBodyKind === BODY_CHUNKED && head.versionMinor === 0;
    if (this.#dechunk) {
      dropField(buf, resp, 'transfer-encoding', DROP_HOP_BY_HOP);
      this.#closeAfterResponse = true;
    }
    // A server that will close after this response, or a body framed by close, ends the
    // client connection too: the client cannot tell where this response ends otherwise.
    if (this.#respBodyKind === BODY_CLOSE) this.#closeAfterResponse = true;
    // An answer before the whole request body: the rest of the body is dropped, not
    // framed as a next request, so this connection carries no other exchange.
    if (this.#reqPhase !== REQ_SENT) this.#closeAfterResponse = true;
    if (!resp.keepAlive) this.#upstreamReusable = false;
    let connection = '';
    if (this.#closeAfterResponse) connection = 'connection: close\r\n';
    else if (head.versionMinor === 0) connection = 'connection: keep-alive\r\n';
    this.#respStarted = true;
    this.#respPhase = RESP_BODY;
    // Small responses usually arrive whole in one read: send head and body in one write.
    let bodyEnd = resp.headEnd;
    if (this.#respBodyKind === BODY_NONE) {
      bodyEnd = resp.headEnd;
    } else if (this.#respBodyKind === BODY_LENGTH) {
      if (buf.length - resp.headEnd >= this.#respRemaining) bodyEnd = resp.headEnd + this.#respRemaining;
    } else if (this.#respBodyKind === BODY_CHUNKED && buf.length > resp.headEnd) {
      const at = this.#respChunks.scan(buf, resp.headEnd, buf.length);
      if (at === -2) {
        // Nothing sent yet: the client can get a clean 502 instead of a cut response.
        this.#respStarted = false;
        this.#badUpstream(`bad chunked body: ${this.#respChunks.error}`);
        return;
      }
      if (at >= 0) bodyEnd = at;
      else this.#respChunks.reset(); // streamed below, from the start of the body
    }
    const whole = this.#respBodyKind === BODY_NONE || bodyEnd > resp.headEnd || (this.#respBodyKind === BODY_LENGTH && this.#respRemaining === 0);
    if (whole && !this.#dechunk && bodyEnd - resp.headEnd <= MAX_COALESCED_BODY_BYTES) {
      this.socket.write(writeHead(buf, start, resp.statusLineEnd, resp, `${this.#setCookieField()}${connection}\r\n`, resp.headEnd, bodyEnd), 'latin1');
      if (bodyEnd < buf.length) this.#upstreamReusable = false; // bytes after a complete response
      if (store !== null) {
        // A copy: `buf` is the upstream read buffer, which the next read overwrites.
        store.pieces.push(Buffer.from(buf.subarray(resp.headEnd, bodyEnd)));
        this.#finishStore(store);
      }
      this.#responseDone();
      return;
    }
    this.#pendingStore = store;
    if (this.#respBodyKind === BODY_CHUNKED) this.#respChunks.reset();
    const out = writeHead(buf, start, resp.statusLineEnd, resp, `${this.#setCookieField()}${connection}\r\n`);
    this.socket.cork();
    this.socket.write(out, 'latin1');
    if (resp.headEnd < buf.length) this.#forwardResponseBody(buf, resp.headEnd);
    this.socket.uncork();
  }

  /**
   * A `fallthrough` route's pool answered 404 (the static tier has no such page): the
   * same request, still held whole (head and any body up to `maxReplayBytes`; a larger
   * GET body was not kept, so its 404 goes to the client), goes to the next route's pool, once. The 404 never reaches the client. Its connection is kept when
   * the 404 arrived complete, as the static server's empty 404s do.
   */
  #fallThrough(pool: ProxyPool, resp: ResponseHead, buf: Buffer): void {
    const upstream = this.#upstream;
    this.#upstream = null;
    if (upstream !== null) {
      const complete = resp.bodyKind === 'none' || (resp.bodyKind === 'length' && buf.length - resp.headEnd === resp.contentLength);
      if (complete && resp.keepAlive) this.#ctx.upstreams.release(upstream, this.#ctx.nowMs);
      else {
        upstream.owner = null;
        upstream.socket.destroy();
      }
    }
    this.#respBuf = null;
    this.#endExchange(resp.status);
    this.#fellThrough = true;
    this.#pool = pool;
    const server = pool.select(this, undefined);
    if (server === undefined) {
      this.#ctx.countExchange(pool, undefined, BALANCER_RESPONSES.noHealthyServer.status);
      this.#sendAndClose(errorResponse(BALANCER_RESPONSES.noHealthyServer, this.#requestId, `pool "${pool.name}"`, 'retry-after: 1\r\n'));
      return;
    }
    this.#attempts = 0;
    this.#deadlineMs = this.#ctx.nowMs + this.#ctx.timeouts.serverMs;
    this.#connect(server);
  }

  /** This request already went on from a `fallthrough` route's 404. */
  #fellThrough = false;
  #upstreamReusable = true;
  /** The response is chunked and the client speaks HTTP/1.0: pass the chunk data only. */
  #dechunk = false;
  #decodedSink: ((buf: Buffer, start: number, end: number) => void) | null = null;

  #passDecoded(): (buf: Buffer, start: number, end: number) => void {
    return this.#decodedSink ??= (buf, start, end): void => {
      if (!this.#passToClient(buf.subarray(start, end))) this.#upstream?.socket.pause();
    };
  }

  #setCookieField(): string {
    return this.setCookie === undefined ? '' : `set-cookie: ${this.setCookie}\r\n`;
  }

  #forwardResponseBody(chunk: Buffer, from: number): void {
    let end = chunk.length;
    let done = false;
    if (this.#respBodyKind === BODY_LENGTH) {
      if (end - from >= this.#respRemaining) {
        end = from + this.#respRemaining;
        this.#respRemaining = 0;
        done = true;
      } else {
        this.#respRemaining -= end - from;
      }
    } else if (this.#respBodyKind === BODY_CHUNKED) {
      const at = this.#dechunk ? this.#respChunks.scan(chunk, from, end, this.#passDecoded()) : this.#respChunks.scan(chunk, from, end);
      if (at === -2) {
        this.#pool!.recordFailure(this.#server!, 'server-error');
        this.#abortExchange();
        return;
      }
      if (at >= 0) {
        end = at;
        done = true;
      }
    }
    const piece = from === 0 && end === chunk.length ? chunk : chunk.subarray(from, end);
    if (piece.length > 0 && !this.#dechunk) {
      // A copy: the socket may queue it, and it sits in the upstream read buffer that the next read overwrites.
      const copy = Buffer.from(piece);
      this.#pendingStore?.pieces.push(copy);
      if (!this.socket.write(copy)) this.#upstream?.socket.pause();
    }
    if (done) {
      if (end < chunk.length) this.#upstreamReusable = false;
      if (this.#pendingStore !== null) this.#finishStore(this.#pendingStore);
      this.#responseDone();
    }
  }

  /**
   * Server bytes passed through as they are. They are copied: the socket may queue
   * them, and they sit in the upstream read buffer that the next read overwrites.
   */
  #passToClient(bytes: Buffer): boolean {
    return this.socket.write(Buffer.from(bytes));
  }

  #startTunnel(buf: Buffer, from: number): void {
    this.#tunnel = true;
    const upstream = this.#upstream!;
    if (from < buf.length) this.#passToClient(buf.subarray(from));
    if (this.#buf !== null && this.#buf.length > 0) {
      upstream.write(this.#buf);
      this.#buf = null;
    }
    this.socket.resume();
  }

  onUpstreamClose(conn: Upstream, error: Error | undefined): void {
    if (conn !== this.#upstream || this.#closed) return;
    const server = this.#server!;
    if (this.#tunnel) {
      this.#endExchange(101);
      this.#destroy();
      return;
    }
    if (this.#respPhase === RESP_BODY && this.#respBodyKind === BODY_CLOSE) {
      this.#upstreamReusable = false;
      this.#responseDone();
      return;
    }
    if (this.#respStarted) {
      // Cut in the middle of a response: the client must see the failure, not a short body.
      this.#pool!.recordFailure(server, 'server-error');
      this.#abortExchange();
      return;
    }
    const neverConnected = !conn.connected;
    server.counters.failures++;
    const kind = earlyCloseFailure({ connected: conn.connected, reused: conn.reused, failed: error !== undefined, requestSent: this.#reqPhase === REQ_SENT });
    if (kind !== undefined) this.#pool!.recordFailure(server, kind);
    // Retry once elsewhere when the server cannot have acted on the request: it never
    // connected, or an idempotent request failed before any response byte.
    const sameRequest = this.#out !== null && (neverConnected || (this.#reqPhase === REQ_SENT && isIdempotent(this.#head!.method)));
    if (sameRequest && this.#attempts < 2) {
      let next = this.#pool!.select(this, server);
      // No other server of a fallthrough pool (the static tier is down): the next pool answers.
      const pool = next === undefined && !this.#fellThrough && isRead(this.#head!.method) ? this.#ctx.fallthrough(this.#head!.host, this.#head!.originTarget) : undefined;
      if (pool !== undefined) next = pool.select(this, undefined);
      if (next !== undefined) {
        server.counters.retries++;
        this.#releaseServer(server);
        this.#upstream = null;
        if (pool !== undefined) {
          this.#ctx.countExchange(this.#pool!, server, BALANCER_RESPONSES.badUpstreamResponse.status);
          this.#fellThrough = true;
          this.#pool = pool;
          this.#attempts = 0;
        }
        this.#connect(next);
        return;
      }
    }
    this.#badUpstream(neverConnected ? `cannot connect: ${error?.message ?? 'closed'}` : 'closed before responding', true);
  }

  #badUpstream(detail: string, upstreamGone = false): void {
    const server = this.#server!;
    if (upstreamGone) this.#upstream = null;
    else this.#dropUpstream();
    this.#endExchange(BALANCER_RESPONSES.badUpstreamResponse.status);
    this.#sendAndClose(errorResponse(BALANCER_RESPONSES.badUpstreamResponse, this.#requestId, `server "${server.id}" (${detail})`));
  }

  // ── end of an exchange ───────────────────────────────────────────────────────

  #responseDone(): void {
    const upstream = this.#upstream;
    const reusable = this.#upstreamReusable && this.#reqPhase === REQ_SENT;
    this.#upstream = null;
    if (upstream !== null) {
      if (reusable) this.#ctx.upstreams.release(upstream, this.#ctx.nowMs);
      else upstream.socket.destroy();
    }
    this.#endExchange(this.#respStatus);
    if (this.#closeAfterResponse || this.#ctx.closing || this.#reqPhase !== REQ_SENT) {
      this.#startClosing(undefined);
      return;
    }
    // Ready for the next request on this connection.
    this.#reqPhase = REQ_HEAD;
    this.#head = null;
    this.#headBuf = null;
    this.#out = null;
    this.#deadlineMs = this.#ctx.nowMs + this.#ctx.timeouts.keepAliveMs;
    if (this.socket.isPaused()) this.socket.resume();
    if (this.#buf !== null && this.#buf.length > 0) this.#readHead();
  }

  #endExchange(status: number): void {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    this.#upstreamReusable = true;
    this.#releaseServer(server);
    this.#ctx.countExchange(this.#pool!, server, status);
    // A client that left (499) says nothing about the server's speed; a timeout (504) does.
    if (status !== 499) {
      const now = performance.now();
      const us = (now - this.#sentAtMs) * 1000;
      server.latency.record(us, now);
      this.#pool!.latency.record(us, now);
    }
  }

  #releaseServer(server: Server): void {
    this.#stopAwaiting();
    server.inFlight--;
    this.#pool!.exchangeEnded(server);
  }

  #abortExchange(): void {
    this.#dropUpstream();
    this.#endExchange(this.#respStatus || 499);
    this.#destroy();
  }

  #failClient(status: number): void {
    const error = CLIENT_ERROR_RESPONSES[status] ?? BALANCER_RESPONSES.badRequest;
    this.#dropUpstream();
    this.#endExchange(error.status);
    this.#sendAndClose(errorResponse(error, this.#requestId || undefined));
  }

  #sendAndClose(response: Buffer): void {
    this.#startClosing(response);
  }

  /** Enter CLOSING: end our side (after `response`), then drop what the client still sends. */
  #startClosing(response: Buffer | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buf = null;
    if (response === undefined) this.socket.end();
    else this.socket.end(response);
    // A client that never reads or never closes must not keep the socket: the sweep ends it.
    this.#deadlineMs = this.#ctx.nowMs + LINGER_MS;
    if (this.socket.isPaused()) this.socket.resume();
  }

  /** CLOSING: read and drop, up to a bound; past it the client's sends stall until LINGER_MS. */
  #discard(bytes: number): void {
    this.#discardedBytes += bytes;
    if (this.#discardedBytes > DISCARD_MAX_BYTES) this.socket.pause();
  }

  /** Detach from the upstream connection and close it: its bytes no longer belong to anyone. */
  #dropUpstream(): void {
    const upstream = this.#upstream;
    if (upstream === null) return;
    this.#upstream = null;
    upstream.owner = null;
    upstream.socket.destroy();
  }

  #destroy(): void {
    this.#closed = true;
    this.#buf = null;
    this.socket.destroy();
  }

  get closed(): boolean {
    return this.#closed;
  }
}
