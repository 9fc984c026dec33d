import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { scaleout, ScaleoutPluginOptionsError } from '../../src/fastify/index.js';
import type { ScaleoutPluginOptions } from '../../src/fastify/index.js';

async function app(options: ScaleoutPluginOptions = {}): Promise<FastifyInstance> {
  const fastify = Fastify({ logger: false });
  await fastify.register(scaleout, { shutdown: false, ...options });
  // What an HTML form sends, the usual vehicle of a forged request.
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  let writes = 0;
  fastify.get('/writes', async () => ({ writes }));
  fastify.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE'], url: '/things', handler: async () => ({ writes: ++writes }) });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  return fastify;
}

function origin(fastify: FastifyInstance): string {
  const address = fastify.server.address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
}

interface Answer { status: number; code: string | undefined }

async function send(base: string, headers: Record<string, string>, method = 'POST'): Promise<Answer> {
  const res = await request(`${base}/things`, { method: method as 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: 'a=1' });
  const body = await res.body.json() as { code?: string };
  return { status: res.statusCode, code: body.code };
}

const refused = { status: 403, code: 'SCALEOUT_FASTIFY_CROSS_ORIGIN' };

describe('cross-origin protection (on by default)', () => {
  let fastify: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    fastify = await app();
    base = origin(fastify);
  });
  afterAll(async () => {
    await fastify.close();
  });

  it('refuses a form post from another site, before the handler runs', async () => {
    const before = (await (await request(`${base}/writes`)).body.json() as { writes: number }).writes;
    expect(await send(base, { origin: 'http://evil.example' })).toEqual(refused);
    expect(await send(base, { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' })).toEqual(refused);
    expect((await (await request(`${base}/writes`)).body.json() as { writes: number }).writes).toBe(before);
  });

  it('refuses Origin: null (sandboxed frames, data: pages, some redirects)', async () => {
    expect(await send(base, { origin: 'null' })).toEqual(refused);
    expect(await send(base, { origin: 'null', 'sec-fetch-site': 'cross-site' })).toEqual(refused);
  });

  it('refuses every unsafe method, and a same-site sibling', async () => {
    for (const method of ['PUT', 'PATCH', 'DELETE']) expect(await send(base, { origin: 'http://evil.example' }, method)).toEqual(refused);
    expect(await send(base, { 'sec-fetch-site': 'same-site', origin: 'http://sub.127.0.0.1.example' })).toEqual(refused);
    expect(await send(base, { 'sec-fetch-site': 'cross-site' })).toEqual(refused);
  });

  it('lets a same-origin form post through', async () => {
    expect((await send(base, { origin: base })).status).toBe(200);
    expect((await send(base, { origin: base, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await send(base, { 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await send(base, { 'sec-fetch-site': 'none' })).status).toBe(200);
  });

  it('lets non-browser clients (neither Origin nor Sec-Fetch-Site) through', async () => {
    expect((await send(base, {})).status).toBe(200);
  });

  it('never refuses a safe method', async () => {
    const res = await request(`${base}/writes`, { headers: { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' } });
    expect(res.statusCode).toBe(200);
    await res.body.text();
  });

  it('takes the site origin from x-forwarded-proto and x-forwarded-host, without the default port', async () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' };
    expect((await send(base, { ...forwarded, origin: 'https://shop.example' })).status).toBe(200);
    expect((await send(base, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example:443', origin: 'https://shop.example' })).status).toBe(200);
    expect(await send(base, { ...forwarded, origin: 'http://shop.example' })).toEqual(refused);
    expect(await send(base, { ...forwarded, origin: base })).toEqual(refused);
  });
});

describe('cross-origin protection options', () => {
  it('allows listed origins besides its own', async () => {
    const fastify = await app({ crossOrigin: { allowedOrigins: ['https://admin.example.com'] } });
    try {
      const base = origin(fastify);
      expect((await send(base, { origin: 'https://admin.example.com', 'sec-fetch-site': 'cross-site' })).status).toBe(200);
      expect(await send(base, { origin: 'https://other.example.com' })).toEqual(refused);
      expect((await send(base, { origin: base })).status).toBe(200);
    } finally {
      await fastify.close();
    }
  });

  it('can be turned off', async () => {
    const fastify = await app({ crossOrigin: false });
    try {
      expect((await send(origin(fastify), { origin: 'http://evil.example' })).status).toBe(200);
    } finally {
      await fastify.close();
    }
  });

  it('refuses an allowed origin that is not an origin', async () => {
    for (const bad of ['admin.example.com', 'https://admin.example.com/path', 'ftp://x.example', 'https://x.example:443', '*']) {
      const fastify = Fastify({ logger: false });
      await expect(fastify.register(scaleout, { shutdown: false, crossOrigin: { allowedOrigins: [bad] } })).rejects.toBeInstanceOf(ScaleoutPluginOptionsError);
      await fastify.close();
    }
  });
});

describe('cross-origin protection behind the balancer', () => {
  let fastify: FastifyInstance;
  let balancer: Balancer;
  let front: string;
  beforeAll(async () => {
    fastify = await app();
    balancer = await startBalancer({ listen: '127.0.0.1:0', pools: { web: { servers: [{ id: 'a', address: origin(fastify).slice('http://'.length) }] } } });
    front = `http://${balancer.addresses[0]}`;
  });
  afterAll(async () => {
    await balancer.close();
    await fastify.close();
  });

  it('knows the site by the address the browser used, not the instance address', async () => {
    expect((await send(front, { origin: front, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await send(front, { origin: front })).status).toBe(200);
    expect(await send(front, { origin: origin(fastify) })).toEqual(refused);
    expect(await send(front, { origin: 'http://evil.example' })).toEqual(refused);
  });
});
