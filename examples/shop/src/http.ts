import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { USER_ID_FIELD } from 'scaleout/session';
import type { SessionFields } from 'scaleout/session';
import { cartQuantities } from './cart.js';
import { NotLoggedInError } from './errors.js';
import type { PageContext } from './views/layout.js';

/** The session field holding the logged-in user's name and display name, set at login. */
export const PROFILE_FIELD = 'profile';

/** The logged-in user as the session knows it. */
export interface SessionUser {
  id: string;
  username: string;
  name: string;
}

/** What the session says about the visitor: every field (loaded once) and the user, if logged in. */
export interface Visitor {
  fields: SessionFields;
  user: SessionUser | undefined;
}

/**
 * JSON when the client asks for it: `Accept` names application/json before text/html
 * (or without it), or there is no Accept and the body is JSON. Browsers get HTML.
 */
export function wantsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  if (accept === undefined || accept === '') return (request.headers['content-type'] ?? '').includes('application/json');
  const json = accept.indexOf('application/json');
  const htmlAt = accept.indexOf('text/html');
  return json >= 0 && (htmlAt < 0 || json < htmlAt);
}

export async function visitor(request: FastifyRequest): Promise<Visitor> {
  const fields = await request.session.all();
  const id = fields[USER_ID_FIELD];
  const profile = fields[PROFILE_FIELD] as { username?: unknown; name?: unknown } | undefined;
  if (typeof id !== 'string' || typeof profile?.username !== 'string') return { fields, user: undefined };
  return { fields, user: { id, username: profile.username, name: typeof profile.name === 'string' ? profile.name : profile.username } };
}

/** The visitor, who must be logged in ({@link NotLoggedInError} otherwise). */
export async function loggedIn(request: FastifyRequest): Promise<Visitor & { user: SessionUser }> {
  const v = await visitor(request);
  if (v.user === undefined) throw new NotLoggedInError();
  return v as Visitor & { user: SessionUser };
}

/** Layout data for an HTML page. */
export function pageContext(app: FastifyInstance, request: FastifyRequest, v: Visitor | undefined): PageContext {
  let cartCount = 0;
  if (v !== undefined) for (const qty of cartQuantities(v.fields).values()) cartCount += qty;
  return {
    user: v?.user,
    cartCount,
    instanceId: app.scaleout.instanceId,
    buildId: app.scaleout.buildId,
    path: request.url,
  };
}

export function sendHtml(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply.code(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
}

/** After a form post: 303, so the browser follows with a GET and a reload does not post again. */
export function redirect(reply: FastifyReply, location: string): FastifyReply {
  return reply.code(303).header('location', location).send();
}

/** A place to return to after logging in: only a path on this site, never another site. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\') || next.length > 512) {
    return '/products';
  }
  return /^[\x21-\x7E]+$/.test(next) ? next : '/products';
}
