import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { scaleout } from '../../src/fastify/index.js';
import type { ScaleoutPluginOptions } from '../../src/fastify/index.js';

/** Signing keys every test instance shares, as instances of one deployment do. */
export const TEST_KEYS = [{ id: 'k1', secret: 'test-secret-test-secret-32-bytes' }];

/**
 * A small app shaped like the reference shop: login, cart, logout, and a route that
 * never touches the session.
 */
export async function shopApp(options: ScaleoutPluginOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(scaleout, { shutdown: false, ...options });
  app.get('/me', async (request) => {
    const all = await request.session.all();
    return { userId: all.userId ?? null, fields: all, instance: app.scaleout.instanceId };
  });
  app.post<{ Params: { user: string } }>('/login/:user', async (request) => {
    await request.session.login(request.params.user);
    return { ok: true };
  });
  app.post<{ Params: { id: string } }>('/cart/:id', async (request) => ({
    quantity: await request.session.increment(`cart:${request.params.id}`, 1),
  }));
  app.post('/logout', async (request) => {
    await request.session.logout();
    return { ok: true };
  });
  app.post('/logout-everywhere', async (request) => ({ ended: await request.session.logoutEverywhere() }));
  app.get('/static', async () => ({ hello: 'world' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app;
}

export function baseUrl(app: FastifyInstance): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
  return `http://127.0.0.1:${address.port}`;
}
