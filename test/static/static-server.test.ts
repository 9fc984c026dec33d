import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticPagePathError, StaticTier, startStaticServer } from '../../src/static/index.js';
import type { StaticServer } from '../../src/static/index.js';
import { rawExchange, statusOf } from '../support/raw-http.js';

// The static tier end to end on real files and sockets: publish, serve, revalidate,
// purge, refuse traversal, and switch generations under readers.

const SECRET = `secret-${randomBytes(8).toString('hex')}`;

async function tempDir(): Promise<string> {
  const dir = join(tmpdir(), `scaleout-static-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** GET over a fresh or kept-alive connection; the body as a Buffer. */
function fetchRaw(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', agent?: http.Agent):
Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('static tier and server', () => {
  let root: string;
  let dir: string;
  let tier: StaticTier;
  let server: StaticServer;
  let port: number;

  beforeAll(async () => {
    root = await tempDir();
    dir = join(root, 'tier');
    // Files a traversal would reach: beside the tier and in its parent.
    await mkdir(dir, { recursive: true });
    await writeFile(join(root, 'secret.txt'), SECRET);
    await writeFile(join(dir, 'secret.txt'), SECRET);
    tier = new StaticTier({ dir });
    await tier.publish({
      put: [
        { path: '/products/1', body: '<h1>one</h1>', headers: { 'content-security-policy': "default-src 'none'" } },
        { path: '/products/2', body: '<h1>two</h1>' },
        { path: '/feed.json', body: '{"a":1}' },
        { path: '/', body: 'home' },
      ],
    });
    const started = await startStaticServer({ dir, instanceId: 'static-t', headers: { 'x-extra': 'yes' } });
    server = started.server;
    port = Number(started.address.split(':').pop());
  });

  afterAll(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('serves a page with its type, validators, caching headers and its own headers', async () => {
    const res = await fetchRaw(port, '/products/1');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('<h1>one</h1>');
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-length']).toBe('12');
    expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(new Date(res.headers['last-modified']!).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(res.headers['cache-control']).toBe('public, max-age=0, must-revalidate');
    expect(res.headers['content-security-policy']).toBe("default-src 'none'");
    expect(res.headers['x-extra']).toBe('yes');
    expect(res.headers['x-scaleout-instance']).toBe('static-t');
    expect((await fetchRaw(port, '/feed.json')).headers['content-type']).toBe('application/json');
    expect((await fetchRaw(port, '/')).body.toString()).toBe('home');
    // A trailing slash and a query name the same page.
    expect((await fetchRaw(port, '/products/2/?utm=x')).body.toString()).toBe('<h1>two</h1>');
  });

  it('leaves a request whose Accept does not take the page to the app (404), and says Vary: Accept', async () => {
    expect((await fetchRaw(port, '/products/1', { accept: 'application/json' })).status).toBe(404);
    expect((await fetchRaw(port, '/products/1', { accept: 'text/html;q=0, application/json' })).status).toBe(404);
    const browser = await fetchRaw(port, '/products/1', { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' });
    expect(browser.status).toBe(200);
    expect(browser.headers.vary).toBe('accept');
    expect((await fetchRaw(port, '/products/1', { accept: '*/*' })).status).toBe(200);
    expect((await fetchRaw(port, '/products/1', { accept: 'text/*' })).status).toBe(200);
    expect((await fetchRaw(port, '/feed.json', { accept: 'application/json' })).status).toBe(200);
  });

  it('answers HEAD with the headers and no body, and refuses other methods', async () => {
    const head = await fetchRaw(port, '/products/1', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('12');
    expect(head.body.length).toBe(0);
    const post = await fetchRaw(port, '/products/1', {}, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('answers 304 to a matching If-None-Match or a fresh If-Modified-Since, 200 otherwise', async () => {
    const first = await fetchRaw(port, '/products/1');
    const etag = first.headers.etag!;
    const lastModified = first.headers['last-modified']!;
    const revalidated = await fetchRaw(port, '/products/1', { 'if-none-match': etag });
    expect(revalidated.status).toBe(304);
    expect(revalidated.body.length).toBe(0);
    expect(revalidated.headers.etag).toBe(etag);
    expect(revalidated.headers['cache-control']).toBe('public, max-age=0, must-revalidate');
    expect((await fetchRaw(port, '/products/1', { 'if-none-match': `"x", W/${etag}` })).status).toBe(304);
    expect((await fetchRaw(port, '/products/1', { 'if-none-match': '*' })).status).toBe(304);
    expect((await fetchRaw(port, '/products/1', { 'if-none-match': '"other"' })).status).toBe(200);
    expect((await fetchRaw(port, '/products/1', { 'if-modified-since': lastModified })).status).toBe(304);
    expect((await fetchRaw(port, '/products/1', { 'if-modified-since': new Date(Date.now() - 3_600_000).toUTCString() })).status).toBe(200);
    // If-None-Match decides when both are sent.
    expect((await fetchRaw(port, '/products/1', { 'if-none-match': '"other"', 'if-modified-since': lastModified })).status).toBe(200);
    expect((await fetchRaw(port, '/products/1', { 'if-modified-since': 'not a date' })).status).toBe(200);
  });

  it('keeps the ETag and Last-Modified of a page re-rendered with the same bytes, and makes no generation for no change', async () => {
    const before = await fetchRaw(port, '/products/2');
    const result = await tier.publish({ put: [{ path: '/products/2', body: '<h1>two</h1>' }] });
    expect(result.published).toBe(false);
    expect(result.unchanged).toBe(1);
    const after = await fetchRaw(port, '/products/2');
    expect(after.headers.etag).toBe(before.headers.etag);
    expect(after.headers['last-modified']).toBe(before.headers['last-modified']);
  });

  it('answers an empty 404 for a page it does not have, and after a purge', async () => {
    const missing = await fetchRaw(port, '/products/99');
    expect(missing.status).toBe(404);
    expect(missing.body.length).toBe(0);
    await tier.publish({ put: [{ path: '/products/3', body: 'three' }] });
    expect((await fetchRaw(port, '/products/3')).status).toBe(200);
    const purged = await tier.purge(['/products/3']);
    expect(purged.removed).toEqual(['/products/3']);
    expect((await fetchRaw(port, '/products/3')).status).toBe(404);
    // The other pages came through the purge.
    expect((await fetchRaw(port, '/products/1')).status).toBe(200);
  });

  it('never serves a file outside the current generation or one of its own files', async () => {
    const attempts = [
      '/../secret.txt', '/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E/%2E%2E/secret.txt', '/products/..%2f..%2fsecret.txt',
      '/products/%2e%2e/%2e%2e/secret.txt', '/..%5csecret.txt', '/%252e%252e/secret.txt', '/secret.txt%00.html', '/.manifest.json',
      '/%2emanifest.json', '//secret.txt', '/products/1/../../secret.txt', '/products/%ff', '/' + 'a/'.repeat(40), '/x'.repeat(600),
    ];
    for (const path of attempts) {
      const raw = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(raw, path).not.toContain(SECRET);
      expect(raw, path).not.toContain('"generation"');
      expect([400, 404], path).toContain(statusOf(raw));
    }
    await expect(tier.publish({ put: [{ path: '/../x', body: 'x' }] })).rejects.toBeInstanceOf(StaticPagePathError);
    await expect(tier.publish({ put: [{ path: '/a/.hidden', body: 'x' }] })).rejects.toBeInstanceOf(StaticPagePathError);
  });

  it('answers its health path for the balancer and the runtime', async () => {
    const res = await fetchRaw(port, '/healthz');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toMatchObject({ status: 'ok', instance: 'static-t' });
  });

  it('loses no page when two publishers write at once (the lock serialises them)', async () => {
    const other = new StaticTier({ dir });
    await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => tier.publish({ put: [{ path: `/a/${i}`, body: `a${i}` }] })),
      ...Array.from({ length: 5 }, (_, i) => other.publish({ put: [{ path: `/b/${i}`, body: `b${i}` }] })),
    ]);
    for (let i = 0; i < 5; i++) {
      expect((await fetchRaw(port, `/a/${i}`)).body.toString()).toBe(`a${i}`);
      expect((await fetchRaw(port, `/b/${i}`)).body.toString()).toBe(`b${i}`);
    }
  });
});

describe('atomic publish under concurrent reads', () => {
  it('never shows a reader a half-written page, a mix of generations or a 404 while generations switch', async () => {
    const root = await tempDir();
    const dir = join(root, 'tier');
    // Keep nothing old beyond the grace: collection runs during the test too.
    const tier = new StaticTier({ dir, keepGenerations: 0, gcGraceMs: 2_000 });
    // Big enough that a file is written in several pieces.
    const bodyOf = (version: number, page: number): string => `<!-- v${version} p${page} -->` + `v${version};`.repeat(20_000);
    const pages = (version: number) => Array.from({ length: 4 }, (_, page) => ({ path: `/p/${page}`, body: bodyOf(version, page) }));
    await tier.publish({ put: pages(0) });
    // One server reads every body from disk (streamed), the other from memory.
    const streamed = await startStaticServer({ dir, maxCachedFileBytes: 1 });
    const cached = await startStaticServer({ dir });
    const ports = [streamed, cached].map((s) => Number(s.address.split(':').pop()));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    let stop = false;
    let reads = 0;
    const problems: string[] = [];
    const reader = async (n: number): Promise<void> => {
      while (!stop) {
        const page = n % 4;
        const res = await fetchRaw(ports[n % 2]!, `/p/${page}`, {}, 'GET', agent);
        reads++;
        const text = res.body.toString();
        const version = /^<!-- v(\d+) p(\d+) -->/.exec(text);
        if (res.status !== 200 || version === null) {
          problems.push(`status ${res.status}, ${text.slice(0, 40)}`);
          continue;
        }
        if (Number(version[2]) !== page || text !== bodyOf(Number(version[1]), page)) problems.push(`torn body of /p/${page}`);
        const etag = `"${createHash('sha256').update(res.body).digest('base64url').slice(0, 22)}"`;
        if (res.headers.etag !== etag) problems.push(`ETag ${String(res.headers.etag)} is not the body's ${etag}`);
      }
    };
    const readers = Array.from({ length: 8 }, (_, n) => reader(n));
    try {
      for (let version = 1; version <= 25; version++) {
        // Full bakes and one-page changes, as scheduled and on-change renders do.
        await tier.publish(version % 3 === 0 ? { put: pages(version), replace: true } : { put: [pages(version)[version % 4]!] });
      }
    } finally {
      stop = true;
      await Promise.all(readers);
      agent.destroy();
      await streamed.server.close();
      await cached.server.close();
    }
    // Past the grace, the next publish collects every generation replaced before it.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await tier.publish({ put: [pages(26)[0]!] });
    const generations = (await readdir(dir)).filter((n) => n.startsWith('g-'));
    await rm(root, { recursive: true, force: true });
    expect(problems.slice(0, 5)).toEqual([]);
    expect(reads).toBeGreaterThan(50);
    // Collection kept only what the grace protects: the new one and the one it replaced.
    expect(generations.length).toBeLessThanOrEqual(2);
  });
});
