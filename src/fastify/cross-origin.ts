import type { TLSSocket } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CrossOriginRequestError, ScaleoutPluginOptionsError } from './errors.js';

/** Options of the cross-origin check; `crossOrigin: false` turns it off. */
export interface CrossOriginOptions {
  /**
   * Origins (`https://admin.example.com`) whose pages may send unsafe requests here,
   * besides this site's own origin.
   * @defaultValue []
   */
  allowedOrigins?: readonly string[];
}

/** Methods a browser may send cross-site without the server changing anything. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses state-changing requests that a browser sent on behalf of another site
 * (cross-site request forgery), with no token: browsers say where a request comes from.
 *
 *     safe method (GET, HEAD, OPTIONS)              → pass
 *     Sec-Fetch-Site: same-origin | none            → pass (none: typed URL, bookmark)
 *     neither Sec-Fetch-Site nor Origin             → pass (not a browser: curl, a server)
 *     Origin is this site's own, or allowed         → pass
 *     anything else (cross-site, same-site, null)   → 403 SCALEOUT_FASTIFY_CROSS_ORIGIN
 *
 * This is what OWASP recommends and Go 1.25's `http.CrossOriginProtection` does. The
 * site's own origin is the one the client used: behind the balancer that is
 * `x-forwarded-proto` + `x-forwarded-host`, else the socket and `Host`. Trusting those
 * headers is safe here: a page of another site cannot make a browser send them
 * without a CORS preflight the app does not grant.
 *
 * `same-site` is refused too: a sibling subdomain is not this site's origin.
 */
export function crossOriginCheck(options: CrossOriginOptions = {}): (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void {
  const allowed = new Set(validateOrigins(options.allowedOrigins ?? []));
  return (request, _reply, done) => {
    if (SAFE_METHODS.has(request.method)) return done();
    const site = header(request, 'sec-fetch-site');
    if (site === 'same-origin' || site === 'none') return done();
    const origin = header(request, 'origin');
    if (origin === undefined) {
      if (site === undefined) return done();
      return done(new CrossOriginRequestError(request.method, `Sec-Fetch-Site: ${site.slice(0, 40)}`, 'no Origin'));
    }
    const given = origin.toLowerCase();
    const own = ownOrigin(request);
    if (given === own || allowed.has(given)) return done();
    return done(new CrossOriginRequestError(request.method, `Origin ${JSON.stringify(origin.slice(0, 100))}`, own));
  };
}

/** `scheme://host[:port]` as a browser writes it in `Origin` (no default port, lower case). */
export function ownOrigin(request: FastifyRequest): string {
  const forwardedProto = header(request, 'x-forwarded-proto');
  const proto = forwardedProto !== undefined
    ? firstValue(forwardedProto).toLowerCase()
    : (request.raw.socket as TLSSocket | undefined)?.encrypted === true ? 'https' : 'http';
  const forwardedHost = header(request, 'x-forwarded-host');
  let host = (forwardedHost !== undefined ? firstValue(forwardedHost) : header(request, 'host') ?? '').toLowerCase();
  if ((proto === 'http' && host.endsWith(':80')) || (proto === 'https' && host.endsWith(':443'))) host = host.slice(0, host.lastIndexOf(':'));
  return `${proto}://${host}`;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function firstValue(list: string): string {
  const comma = list.indexOf(',');
  return (comma < 0 ? list : list.slice(0, comma)).trim();
}

function validateOrigins(origins: readonly string[]): string[] {
  if (!Array.isArray(origins)) throw new ScaleoutPluginOptionsError('crossOrigin.allowedOrigins must be a list of origins such as ["https://admin.example.com"]');
  return origins.map((origin) => {
    let parsed: URL | undefined;
    try {
      parsed = typeof origin === 'string' ? new URL(origin) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.origin !== origin.toLowerCase().replace(/\/$/, '')) {
      throw new ScaleoutPluginOptionsError(`crossOrigin.allowedOrigins: "${String(origin)}" is not an origin; use scheme://host[:port] with no path, e.g. "https://admin.example.com"`);
    }
    return parsed.origin;
  });
}
