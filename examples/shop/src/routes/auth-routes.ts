import type { FastifyInstance } from 'fastify';
import { productLoader } from '../data/products.js';
import { findUserByName } from '../data/users.js';
import { BadCredentialsError, BadInputError } from '../errors.js';
import { loggedIn, pageContext, PROFILE_FIELD, redirect, safeNext, sendHtml, visitor, wantsJson } from '../http.js';
import { loginBody, parse, productId } from '../input.js';
import { cartQuantities } from '../cart.js';
import { VISITOR_SCRIPT_PATH } from '../views/layout.js';
import { VISITOR_SCRIPT } from '../views/visitor-script.js';
import { verifyPassword } from '../passwords.js';
import { loginPage } from '../views/pages.js';
import type { ShopContext } from './context.js';
import { noteView, recentlyViewed } from './recent-views.js';

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

  // What a pre-rendered page (the same file for everyone) asks about its visitor; a
  // POST, as it records the product view, and never cached.
  app.post<{ Body: { viewing?: unknown } | undefined }>('/visitor', async (request, reply) => {
    const v = await visitor(request);
    const viewing = productId.safeParse(request.body?.viewing);
    if (viewing.success) await noteView(request, ctx, viewing.data, v);
    let cartCount = 0;
    for (const qty of cartQuantities(v.fields).values()) cartCount += qty;
    reply.header('cache-control', 'no-store');
    return { user: v.user === undefined ? null : { username: v.user.username, name: v.user.name }, cartCount };
  });

  app.get(VISITOR_SCRIPT_PATH, (_request, reply) => reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(VISITOR_SCRIPT));

  app.get('/me', async (request) => {
    const v = await loggedIn(request);
    const recent = await recentlyViewed(request, ctx, v, productLoader(ctx.data.catalogue).load);
    return { user: v.user, recent: recent.products.map(({ id, name }) => ({ id, name })), productViews: recent.views };
  });
}
