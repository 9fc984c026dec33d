import type { Mode } from './modes.js';
import { httpGet } from './net.js';
import { SERVED_BY_HEADER } from './backends.js';

/** Requests each routing check sends. @defaultValue 6 */
export const DEFAULT_CHECK_REQUESTS = 6;

/**
 * Checks, with a few requests before the measured run, that the proxy does
 * what the mode claims, so a number is never reported for a path that was not
 * taken: round-robin reaches both servers; with cookie affinity the first
 * answer sets a cookie (unless the proxy routes on a client cookie it never
 * sets), every request carrying it reaches the same server, and a valid
 * cookie is not set again (that would be a different, costlier path).
 * Resolves with the problems found, empty when all is well.
 */
export async function checkRouting(url: string, mode: Mode, clientCookie?: string, requests = DEFAULT_CHECK_REQUESTS): Promise<string[]> {
  const { hostname, port, pathname } = new URL(url);
  const get = async (headers: Record<string, string> = {}) => await httpGet(hostname, Number(port), pathname, headers);
  const problems: string[] = [];
  if (mode === 'round-robin') {
    const seen = new Set<string>();
    for (let i = 0; i < requests; i++) {
      const answer = await get();
      if (answer.status !== 200) problems.push(`answered ${answer.status}`);
      seen.add(answer.headers.get(SERVED_BY_HEADER)?.[0] ?? '?');
    }
    if (seen.size < 2) problems.push(`round-robin sent ${requests} requests to ${[...seen].join(', ')} only`);
    return problems;
  }
  if (mode !== 'cookie') return problems;
  const first = await get();
  const setCookie = first.headers.get('set-cookie')?.[0];
  const cookie = setCookie?.split(';')[0]?.trim() ?? clientCookie;
  if (cookie === undefined) return ['the first answer set no affinity cookie'];
  const servers = new Set<string>();
  let setAgain = 0;
  for (let i = 0; i < requests; i++) {
    const answer = await get({ Cookie: cookie });
    if (answer.status !== 200) problems.push(`answered ${answer.status} to a request with the cookie`);
    servers.add(answer.headers.get(SERVED_BY_HEADER)?.[0] ?? '?');
    if (answer.headers.has('set-cookie')) setAgain++;
  }
  if (servers.size !== 1) problems.push(`requests with the same cookie reached ${[...servers].join(', ')}`);
  if (setCookie !== undefined && setAgain > 0) problems.push(`set the cookie again on ${setAgain} of ${requests} requests that carried a valid one`);
  return problems;
}
