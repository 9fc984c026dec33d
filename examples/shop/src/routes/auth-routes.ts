import type { FastifyInstance } from 'fastify';
import { productLoader } from '../data/products.js';
import { findUserByName } from '../data/users.js';
import { BadCredentialsError, BadInputError } from '../errors.js';
import { loggedIn, pageContext, PROFILE_FIELD, redirect, safeNext, sendHtml, visitor, wantsJson } from '../http.js';
import { loginBody, parse } from '../input.js';
import { verifyPassword } from '../passwords.js';
import { loginPage } from '../views/pages.js';
import type { ShopContext } from './context.js';
import { recentlyViewed } from './recent-views.js';

/** Log in, log out, and who am I. */
export function authRoutes(app: FastifyInstance, ctx: ShopContext): void {
  app.get<{ Querystring: { next?: string } }>('/login', async (request, reply) => {
    const v = await visitor(request);
    if (wantsJson(request)) return { user: v.user ?? null };
    return sendHtml(reply, loginPage(pageContext(app, request, v), safeNext(request.query.next)));
  });

  app.post('/login', async (request, reply) => {
    const json = wantsJson(request);
    let body;
    try {
      body = parse(loginBody, request.body, 'body');
    } catch (err) {
      if (json || !(err instanceof BadInputError)) throw err;
      const next = safeNext((request.body as { next?: unknown } | undefined)?.next);
      return sendHtml(reply, loginPage(pageContext(app, request, await visitor(request)), next, 'Enter your username and password.'), 400);
    }
    const found = await findUserByName(ctx.data.shards, body.username);
    const ok = await verifyPassword(body.password, found?.passwordHash);
    if (found === undefined || !ok) {
      if (json) throw new BadCredentialsError();
      const page = loginPage(pageContext(app, request, await visitor(request)), safeNext(body.next),
        'Unknown username or wrong password.', body.username);
      return sendHtml(reply, page, 401);
    }
    await request.session.login(found.id);
    await request.session.set(PROFILE_FIELD, { username: found.username, name: found.name });
    const user = { id: found.id, username: found.username, name: found.name };
    if (json) return { user };
    return redirect(reply, safeNext(body.next));
  });

  app.post('/logout', async (request, reply) => {
    await request.session.logout();
    if (wantsJson(request)) return { ok: true };
    return redirect(reply, '/products');
  });

  app.get('/me', async (request) => {
    const v = await loggedIn(request);
    const recent = await recentlyViewed(request, ctx, v, productLoader(ctx.data.catalogue).load);
    return { user: v.user, recent: recent.products.map(({ id, name }) => ({ id, name })), productViews: recent.views };
  });
}
