import type { ResponseCache } from '../cache/response-cache.js';
import type { LatencyWindow } from '../latency-window.js';
import type { Server } from '../server.js';
import type { ChunkedScannerLimits } from '../http/index.js';
import type { IdleUpstreams } from './upstream.js';

/** What a pool needs to know about a request to pick its server. */
export interface SelectRequest {
  /** All Cookie fields of the request, joined with '; '. */
  readonly cookieHeader: string | undefined;
  readonly clientIp: string;
  /** The client reached the balancer over TLS. */
  readonly secure: boolean;
  /** Any request header by lowercase name (for hash and table keys). */
  header(lowerName: string): string | undefined;
  /** Set by the pool when the response must (re)issue the affinity cookie. */
  setCookie: string | undefined;
}

export type FailureKind = 'connect' | 'server-error' | 'timeout';

/** The pool as the proxy sees it. */
export interface ProxyPool {
  readonly name: string;
  /** Every exchange's time, from the request sent to the response's end. */
  readonly latency: LatencyWindow;
  /** Answers kept for repeats (option `cache`); undefined: every request goes to a server. */
  readonly cache: ResponseCache | undefined;
  select(request: SelectRequest, exclude: Server | undefined): Server | undefined;
  recordResponse(server: Server, status: number, load: number | undefined): void;
  recordFailure(server: Server, kind: FailureKind): void;
  exchangeEnded(server: Server): void;
}

export interface ProxyLimits {
  maxHeadBytes: number;
  maxHeaderCount: number;
  maxReplayBytes: number;
}

export interface ProxyTimeouts {
  headMs: number;
  keepAliveMs: number;
  clientBodyMs: number;
  serverMs: number;
}

/** Shared by every client connection of one balancer. */
export interface ProxyContext {
  readonly limits: ProxyLimits;
  /** `limits.maxChunkLineBytes` and `limits.maxTrailerBytes`, resolved once for every chunked scanner. */
  readonly chunkLimits: ChunkedScannerLimits;
  readonly timeouts: ProxyTimeouts;
  readonly upstreams: IdleUpstreams;
  /** Coarse time, advanced by the balancer's sweep: cheap to read on every chunk. */
  nowMs: number;
  /** Set when the balancer shuts down: finish the current exchange, then close. */
  closing: boolean;
  route(host: string | undefined, target: string, method: string): ProxyPool | undefined;
  /** The pool a GET or HEAD goes to after a 404 of a `fallthrough` route's pool; undefined: the 404 stands. */
  fallthrough(host: string | undefined, target: string): ProxyPool | undefined;
  nextRequestId(): string;
  /** Every exchange that ended (for metrics). */
  countExchange(pool: ProxyPool, server: Server | undefined, status: number): void;
}
