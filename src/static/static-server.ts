import { createReadStream, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { DEFAULT_HEALTH_PATH, INSTANCE_HEADER } from '../internal/wire.js';
import { StaticOptionsError } from './errors.js';
import { pageFile } from './page-path.js';
import { CURRENT_POINTER, MANIFEST_FILE } from './static-tier.js';
import type { Manifest, PageEntry } from './static-tier.js';

/**
 * What a pre-rendered page may be cached for: browsers and proxies keep it but ask
 * again each time (`If-None-Match` → 304), so a change reaches them at once.
 * @defaultValue 'public, max-age=0, must-revalidate'
 */
export const DEFAULT_STATIC_CACHE_CONTROL = 'public, max-age=0, must-revalidate';
/**
 * What a surrogate in front (the balancer's response cache of the static pool) may keep
 * a page for: a second, so a new generation reaches every client within a second of
 * its publish while repeats inside that second cost the static server nothing. The
 * balancer consumes the header; browsers never see it and go by `cacheControl`.
 * @defaultValue 'max-age=1'
 */
export const DEFAULT_STATIC_SURROGATE_CONTROL = 'max-age=1';
/** Bodies kept in memory, in bytes. @defaultValue 67108864 (64 MiB) */
export const DEFAULT_MAX_CACHED_BYTES = 64 * 1024 * 1024;
/** Larger files are streamed from disk, never held in memory. @defaultValue 1048576 */
export const DEFAULT_MAX_CACHED_FILE_BYTES = 1024 * 1024;
/** Manifests of this many generations are kept parsed. @defaultValue 3 */
const MANIFESTS_KEPT = 3;

export interface StaticServerOptions {
  /** The static tier's folder (see {@link StaticTier}). */
  dir: string;
  /** @defaultValue {@link DEFAULT_STATIC_CACHE_CONTROL}; a page's own `cache-control` header wins */
  cacheControl?: string;
  /** Surrogate-Control of the pages, for a cache in front; false: none. @defaultValue {@link DEFAULT_STATIC_SURROGATE_CONTROL} */
  surrogateControl?: string | false;
  /** Headers added to every page (a page's own headers win). */
  headers?: Record<string, string>;
  /** Answered `200 {status:"ok",instance}` for the balancer's and the runtime's checks. @defaultValue '/healthz' */
  healthPath?: string;
  /** Named in `x-scaleout-instance` and the health body. @defaultValue 'static' */
  instanceId?: string;
  /** @defaultValue {@link DEFAULT_MAX_CACHED_BYTES} */
  maxCachedBytes?: number;
  /** @defaultValue {@link DEFAULT_MAX_CACHED_FILE_BYTES} */
  maxCachedFileBytes?: number;
}

/** What a static server counted since it started. */
export interface StaticServerCounters {
  ok: number;
  notModified: number;
  notFound: number;
  badMethod: number;
  errors: number;
}

/** True when an `If-None-Match` value names `etag` (weak comparison, RFC 9110 13.1.2). */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true;
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const part of ifNoneMatch.split(',')) {
    const tag = part.trim();
    if ((tag.startsWith('W/') ? tag.slice(2) : tag) === bare) return true;
  }
  return false;
}

/**
 * Whether an `Accept` header takes `contentType` (RFC 9110 12.5.1): a media range that
 * names it, its type with `/*`, or `*\/*`, with a q above 0. No Accept takes anything.
 */
export function accepts(accept: string | undefined, contentType: string): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  const major = type.slice(0, type.indexOf('/'));
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';');
    const r = range.trim().toLowerCase();
    if (r !== type && r !== `${major}/*` && r !== '*/*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

/**
 * The static file server of the static tier: GET and HEAD of the pages of the current
 * generation, with ETag, Last-Modified and Cache-Control, 304 on `If-None-Match` (or
 * `If-Modified-Since` without one), and 404 (empty body) for anything it does not
 * have, so a balancer route with `fallthrough` sends the request on to the app.
 * A request whose `Accept` does not take the page's type (an API client asking for
 * JSON at the URL of an HTML page) is a 404 too: the app answers it, and every page
 * says `Vary: Accept`.
 *
 * Per request it reads the pointer (one readlink), looks the page up in the
 * generation's manifest (parsed once per generation) and sends the body from memory
 * (kept by ETag, so a new generation does not reload pages that did not change).
 * A reader that resolved a generation keeps reading it: the publisher deletes it only
 * well after it was replaced.
 */
export class StaticServer {
  readonly server: http.Server;
  readonly counters: StaticServerCounters = { ok: 0, notModified: 0, notFound: 0, badMethod: 0, errors: 0 };
  readonly #dir: string;
  readonly #cacheControl: string;
  readonly #surrogateControl: Record<string, string>;
  readonly #headers: Record<string, string>;
  readonly #healthPath: string;
  readonly #instanceId: string;
  readonly #maxFileBytes: number;
  readonly #manifests = new Map<string, Promise<Manifest | undefined>>();
  readonly #bodies: LRUCache<string, Buffer>;

  constructor(options: StaticServerOptions) {
    if (typeof options.dir !== 'string' || options.dir === '') throw new StaticOptionsError('dir: give the static tier\'s folder');
    for (const [name, value] of [['maxCachedBytes', options.maxCachedBytes], ['maxCachedFileBytes', options.maxCachedFileBytes]] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new StaticOptionsError(`${name} must be a whole number of bytes above 0, not ${String(value)}`);
    }
    if (options.healthPath !== undefined && !options.healthPath.startsWith('/')) throw new StaticOptionsError('healthPath must start with "/"');
    this.#dir = options.dir;
    this.#cacheControl = options.cacheControl ?? DEFAULT_STATIC_CACHE_CONTROL;
    const surrogate = options.surrogateControl ?? DEFAULT_STATIC_SURROGATE_CONTROL;
    this.#surrogateControl = surrogate === false ? {} : { 'surrogate-control': surrogate };
    this.#headers = Object.fromEntries(Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    this.#healthPath = options.healthPath ?? DEFAULT_HEALTH_PATH;
    this.#instanceId = options.instanceId ?? 'static';
    const maxBytes = options.maxCachedBytes ?? DEFAULT_MAX_CACHED_BYTES;
    this.#maxFileBytes = Math.min(options.maxCachedFileBytes ?? DEFAULT_MAX_CACHED_FILE_BYTES, maxBytes);
    this.#bodies = new LRUCache<string, Buffer>({ maxSize: maxBytes, sizeCalculation: (body) => Math.max(1, body.length) });
    this.server = http.createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
      this.#handle(req, res).catch(() => {
        this.counters.errors++;
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
          res.end('the static server could not read this page\n');
        } else {
          res.destroy();
        }
      });
    });
  }

  listen(port: number, host = '127.0.0.1'): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address() as { address: string; port: number };
        resolve(`${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`);
      });
    });
  }

  /** Stops accepting, lets requests in progress finish, closes idle keep-alive connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === this.#healthPath && (req.method === 'GET' || req.method === 'HEAD')) {
      const body = JSON.stringify({ status: 'ok', instance: this.#instanceId, buildId: 'static', load: 0 });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', [INSTANCE_HEADER]: this.#instanceId });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.counters.badMethod++;
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0, [INSTANCE_HEADER]: this.#instanceId });
      res.end();
      return;
    }
    const found = pageFile(path, true);
    const generation = found.ok ? this.#generation() : undefined;
    const manifest = generation === undefined ? undefined : await this.#manifest(generation);
    const entry = found.ok ? manifest?.pages[found.file] : undefined;
    if (entry === undefined || generation === undefined || !accepts(req.headers.accept, entry.contentType)) {
      this.#notFound(res);
      return;
    }
    const headers: http.OutgoingHttpHeaders = {
      ...this.#headers,
      'content-type': entry.contentType,
      etag: entry.etag,
      'last-modified': new Date(entry.modifiedAt).toUTCString(),
      'cache-control': this.#cacheControl,
      ...this.#surrogateControl,
      'x-content-type-options': 'nosniff',
      vary: 'accept',
      [INSTANCE_HEADER]: this.#instanceId,
      ...entry.headers,
    };
    if (this.#notModified(req, entry)) {
      this.counters.notModified++;
      delete headers['content-type'];
      res.writeHead(304, headers);
      res.end();
      return;
    }
    headers['content-length'] = entry.size;
    this.counters.ok++;
    if (entry.size > this.#maxFileBytes) {
      res.writeHead(200, headers);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const stream = createReadStream(join(this.#dir, generation, entry.file));
      stream.on('error', () => res.destroy());
      stream.pipe(res);
      return;
    }
    const body = req.method === 'HEAD' ? undefined : await this.#body(generation, entry);
    res.writeHead(200, headers);
    res.end(body);
  }

  #notFound(res: ServerResponse): void {
    this.counters.notFound++;
    res.writeHead(404, { 'content-length': 0, 'cache-control': 'no-store', [INSTANCE_HEADER]: this.#instanceId });
    res.end();
  }

  /** RFC 9110 13.2.2: If-None-Match decides when present; If-Modified-Since only without it. */
  #notModified(req: IncomingMessage, entry: PageEntry): boolean {
    const inm = req.headers['if-none-match'];
    if (inm !== undefined) return etagMatches(inm, entry.etag);
    const ims = req.headers['if-modified-since'];
    if (ims === undefined) return false;
    const since = Date.parse(ims);
    return Number.isFinite(since) && Math.floor(entry.modifiedAt / 1000) <= Math.floor(since / 1000);
  }

  /** The generation the pointer names now (a syscall per request: a switch is seen at once). */
  #generation(): string | undefined {
    try {
      return readlinkSync(join(this.#dir, CURRENT_POINTER));
    } catch {
      return undefined;
    }
  }

  #manifest(generation: string): Promise<Manifest | undefined> {
    let loading = this.#manifests.get(generation);
    if (loading === undefined) {
      loading = readFile(join(this.#dir, generation, MANIFEST_FILE), 'utf8')
        .then((text) => JSON.parse(text) as Manifest, () => undefined);
      this.#manifests.set(generation, loading);
      // A failed read is not kept: the next request tries again.
      void loading.then((m) => {
        if (m === undefined && this.#manifests.get(generation) === loading) this.#manifests.delete(generation);
      });
      while (this.#manifests.size > MANIFESTS_KEPT) this.#manifests.delete(this.#manifests.keys().next().value!);
    }
    return loading;
  }

  /** The body, from memory by ETag (same ETag: same bytes, whichever generation). */
  async #body(generation: string, entry: PageEntry): Promise<Buffer> {
    const cached = this.#bodies.get(entry.etag);
    if (cached !== undefined) return cached;
    const body = await readFile(join(this.#dir, generation, entry.file));
    this.#bodies.set(entry.etag, body);
    return body;
  }
}

/** Creates a {@link StaticServer} and listens on `port` (0: any free port); resolves with it and its address. */
export async function startStaticServer(options: StaticServerOptions & { port?: number; host?: string }): Promise<{ server: StaticServer; address: string }> {
  const server = new StaticServer(options);
  const address = await server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return { server, address };
}
