import type { Mode } from './modes.js';
import { httpGet } from './net.js';
import { SERVED_BY_HEADER } from './backends.js';

/** Requests each routing check sends per cookie (and for round-robin). @defaultValue 6 */
export const DEFAULT_CHECK_REQUESTS = 6;
/** Tries to find one affinity cookie per server. @defaultValue 32 */
export const DEFAULT_COOKIE_ATTEMPTS = 32;

/** What {@link checkRouting} found. */
export interface RoutingCheck {
  /** Problems, empty when the proxy routes as the mode says. */
  problems: string[];
  /** Cookie mode: one working affinity cookie (`name=value`) per server reached, for wrk to send. */
  cookies: string[];
}

/**
 * Checks, with a few requests before the measured run, that the proxy does
 * what the mode claims, so a number is never reported for a path that was not
 * taken: round-robin reaches every server; with cookie affinity, every request
 * carrying a cookie reaches the same server, and a valid cookie is not set
 * again (that would be a different, costlier path).
 *
 * Cookie mode also collects the cookies wrk sends: real Set-Cookie values from
 * the proxy's first answers, one per server. A proxy that routes on a client
 * cookie without ever setting one (nginx `hash`) gets `clientCookieName`
 * values the check tries until every server is reached.
 */
export async function checkRouting(url: string, mode: Mode, serverCount: number, clientCookieName?: string): Promise<RoutingCheck> {
  const { hostname, port, pathname } = new URL(url);
  const get = async (headers: Record<string, string> = {}) => await httpGet(hostname, Number(port), pathname, headers);
  const servedBy = (answer: { headers: Map<string, string[]> }): string => answer.headers.get(SERVED_BY_HEADER)?.[0] ?? '?';
  const problems: string[] = [];
  if (mode === 'round-robin') {
    const seen = new Set<string>();
    for (let i = 0; i < DEFAULT_CHECK_REQUESTS; i++) {
      const answer = await get();
      if (answer.status !== 200) problems.push(`answered ${answer.status}`);
      seen.add(servedBy(answer));
    }
    if (seen.size < serverCount) problems.push(`round-robin sent ${DEFAULT_CHECK_REQUESTS} requests to ${[...seen].join(', ')} only`);
    return { problems, cookies: [] };
  }
  if (mode !== 'cookie') return { problems, cookies: [] };

  const byServer = new Map<string, string>();
  let proxySets = false;
  for (let i = 0; i < DEFAULT_COOKIE_ATTEMPTS && byServer.size < serverCount; i++) {
    const answer = await get();
    const setCookie = answer.headers.get('set-cookie')?.[0];
    if (setCookie === undefined) break;
    proxySets = true;
    const cookie = setCookie.split(';')[0]?.trim() ?? '';
    if (!byServer.has(servedBy(answer))) byServer.set(servedBy(answer), cookie);
  }
  if (!proxySets) {
    if (clientCookieName === undefined) return { problems: ['the first answer set no affinity cookie'], cookies: [] };
    for (let i = 1; i <= DEFAULT_COOKIE_ATTEMPTS && byServer.size < serverCount; i++) {
      const cookie = `${clientCookieName}=client-${i}`;
      const server = servedBy(await get({ Cookie: cookie }));
      if (!byServer.has(server)) byServer.set(server, cookie);
    }
  }
  if (byServer.size < serverCount) problems.push(`affinity cookies reached only ${[...byServer.keys()].join(', ')}`);

  for (const [server, cookie] of byServer) {
    const reached = new Set<string>();
    let setAgain = 0;
    for (let i = 0; i < DEFAULT_CHECK_REQUESTS; i++) {
      const answer = await get({ Cookie: cookie });
      if (answer.status !== 200) problems.push(`answered ${answer.status} to a request with the cookie`);
      reached.add(servedBy(answer));
      if (answer.headers.has('set-cookie')) setAgain++;
    }
    if (reached.size !== 1 || !reached.has(server)) problems.push(`requests with the cookie for ${server} reached ${[...reached].join(', ')}`);
    if (proxySets && setAgain > 0) problems.push(`set the cookie again on ${setAgain} of ${DEFAULT_CHECK_REQUESTS} requests that carried a valid one`);
  }
  return { problems, cookies: [...byServer.values()] };
}
