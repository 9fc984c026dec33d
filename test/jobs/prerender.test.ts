import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullMQBackend, Prerenderer, Queue, Worker } from '../../src/jobs/index.js';
import type { PrerenderEvent, PrerenderJob, RenderedPage } from '../../src/jobs/index.js';
import { StaticTier, startStaticServer } from '../../src/static/index.js';
import type { StaticServer } from '../../src/static/index.js';
import { deleteKeys, REDIS_URL, uniqueName } from './engines.js';

// Pre-rendering into a real static tier read by a real static server: what a failed
// render leaves behind, and the same through a BullMQ queue and its events.

function get(port: number, path: string): Promise<{ status: number; body: string; etag: string | undefined }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, etag: res.headers.etag }));
    }).on('error', reject);
  });
}

describe('Prerenderer', () => {
  let dir: string;
  let server: StaticServer;
  let port: number;
  /** What each product page renders as now; a thrown Error is a failing render. */
  const catalogue = new Map<string, string | Error | null | 'hang'>();
  const events: PrerenderEvent[] = [];
  let tier: StaticTier;
  let prerenderer: Prerenderer;

  beforeAll(async () => {
    dir = join(tmpdir(), `scaleout-prerender-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    tier = new StaticTier({ dir });
    prerenderer = new Prerenderer({
      tier,
      scope: '/products/',
      renderTimeoutMs: 300,
      list: async () => [...catalogue.keys()],
      render: async (path, signal): Promise<RenderedPage | null> => {
        const value = catalogue.get(path);
        if (value === undefined || value === null) return null;
        if (value instanceof Error) throw value;
        if (value === 'hang') await new Promise((resolve) => signal.addEventListener('abort', resolve));
        return { body: `<p>${String(value)}</p>` };
      },
      onEvent: (event) => events.push(event),
    });
    const started = await startStaticServer({ dir });
    server = started.server;
    port = Number(started.address.split(':').pop());
  });

  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('bakes every listed page', async () => {
    catalogue.set('/products/1', 'one v1').set('/products/2', 'two v1').set('/products/3', 'three v1');
    const outcome = await prerenderer.renderAll();
    expect(outcome.failed).toEqual([]);
    expect(outcome.publish.written.sort()).toEqual(['/products/1', '/products/2', '/products/3']);
    expect((await get(port, '/products/2')).body).toBe('<p>two v1</p>');
  });

  it('keeps the last good page when a render fails or hangs, and says so in an event', async () => {
    const before = await get(port, '/products/1');
    catalogue.set('/products/1', new Error('database down')).set('/products/2', 'two v2').set('/products/3', 'hang');
    events.length = 0;
    const outcome = await prerenderer.renderAll();
    expect(outcome.failed.map((f) => f.path).sort()).toEqual(['/products/1', '/products/3']);
    const after = await get(port, '/products/1');
    expect(after.status).toBe(200);
    expect(after.body).toBe('<p>one v1</p>');
    expect(after.etag).toBe(before.etag);
    expect((await get(port, '/products/3')).body).toBe('<p>three v1</p>');
    // The pages that rendered are published all the same.
    expect((await get(port, '/products/2')).body).toBe('<p>two v2</p>');
    expect(events).toEqual(expect.arrayContaining([
      { kind: 'prerender-failed', path: '/products/1', error: 'database down', kept: true },
      { kind: 'prerender-failed', path: '/products/3', error: 'no page within 300 ms', kept: true },
    ]));
    expect(events.at(-1)).toMatchObject({ kind: 'prerender-published', written: ['/products/2'], failed: expect.arrayContaining(['/products/1', '/products/3']) });
  });

  it('says no page is kept when a page that never rendered fails', async () => {
    events.length = 0;
    catalogue.set('/products/9', new Error('broken template'));
    await prerenderer.renderPaths(['/products/9']);
    expect(events[0]).toEqual({ kind: 'prerender-failed', path: '/products/9', error: 'broken template', kept: false });
    expect((await get(port, '/products/9')).status).toBe(404);
  });

  it('takes out a page whose render says it is gone, and pages in scope a full bake no longer lists, not others', async () => {
    catalogue.set('/products/1', 'one v3').set('/products/3', 'three v3').delete('/products/9');
    await tier.publish({ put: [{ path: '/about', body: 'about' }] });
    catalogue.set('/products/2', null);
    await prerenderer.renderAll();
    expect((await get(port, '/products/2')).status).toBe(404);
    catalogue.delete('/products/2');
    catalogue.delete('/products/3');
    const outcome = await prerenderer.renderAll();
    expect(outcome.publish.removed).toEqual(['/products/3']);
    expect((await get(port, '/products/3')).status).toBe(404);
    expect((await get(port, '/products/1')).body).toBe('<p>one v3</p>');
    expect((await get(port, '/about')).body).toBe('about');
  });

  it('runs as a job: on-change renders through a BullMQ queue, the failure in the job\'s events', async () => {
    const prefix = uniqueName('prerender');
    const backend = new BullMQBackend({ url: REDIS_URL, prefix });
    const queue = new Queue<PrerenderJob>(backend, 'prerender');
    const worker = new Worker(queue, prerenderer.handler());
    try {
      catalogue.set('/products/1', 'one v4').set('/products/4', new Error('no price'));
      const { id } = await queue.add('render', { paths: ['/products/1', '/products/4'] });
      const seen: unknown[] = [];
      for await (const event of queue.events(id)) {
        if (event.type === 'progress') seen.push(event.data);
        if (event.type === 'completed' || event.type === 'failed') break;
      }
      expect(seen).toEqual(expect.arrayContaining([
        { kind: 'prerender-failed', path: '/products/4', error: 'no price', kept: false },
        expect.objectContaining({ kind: 'prerender-published', written: ['/products/1'] }),
      ]));
      expect((await get(port, '/products/1')).body).toBe('<p>one v4</p>');
    } finally {
      await worker.close({ graceMs: 1000 });
      queue.close();
      await backend.close();
      await deleteKeys(REDIS_URL, `${prefix}*`);
    }
  });
});
