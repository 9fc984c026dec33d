/**
 * What a pool's response cache may answer and keep (RFC 9111 for a shared cache, with
 * the Surrogate-Control header of the Edge Architecture for the origin's say):
 *
 *  - a request is looked up and its answer kept only when it is a GET or HEAD without a
 *    body and without Authorization (credentials make an answer personal: RFC 9111 3.5),
 *    with a Host, under a key of bounded length;
 *  - an answer is kept when it is a 200 to a GET with a known length (Content-Length),
 *    no Set-Cookie, no `Vary: *`, no `no-store`, `private` or `no-cache` in
 *    Cache-Control, and a freshness lifetime: `Surrogate-Control: max-age=N` (the
 *    origin speaking to this cache only), else `s-maxage`, else `max-age` of
 *    Cache-Control, always bounded by the pool's `maxAgeMs`. No heuristic freshness:
 *    an answer that says nothing is not kept.
 *
 * Surrogate-Control is consumed here: it is removed from every answer of a caching
 * pool, stored or not, so clients never see it. Cache-Control passes unchanged: it is
 * what browsers and downstream caches go by.
 */
import { DROP_EXTRACTED, latin1, valueEnd, valueStart } from '../http/index.js';
import type { RequestHead, ResponseHead } from '../http/index.js';

/** Longer keys (scheme, host and target) are not cached, so no client can store huge keys. @defaultValue 2048 */
export const MAX_CACHE_KEY_LENGTH = 2048;
/** An answer that varies on more request fields than this is not kept. @defaultValue 8 */
export const MAX_VARY_FIELDS = 8;
/** Longest delta-seconds read; longer values count as this many seconds (RFC 9111 1.2.2). */
const MAX_DELTA_SECONDS = 2_147_483_648;

/**
 * The key of a request the cache may answer, or undefined when it must go to a server
 * untouched. Method-independent (a HEAD is answered from the GET's answer): scheme,
 * lowercase host without its default port, and the target with its query.
 */
export function cacheKey(head: RequestHead, secure: boolean): string | undefined {
  if (head.method !== 'GET' && head.method !== 'HEAD') return undefined;
  if (head.bodyKind !== 'none' || head.authorization || head.host === undefined || head.upgrade !== undefined) return undefined;
  let host = head.host.toLowerCase();
  const defaultPort = secure ? ':443' : ':80';
  if (host.endsWith(defaultPort)) host = host.slice(0, host.length - defaultPort.length);
  if (host.length + head.originTarget.length + 3 > MAX_CACHE_KEY_LENGTH) return undefined;
  return `${secure ? 's' : 'h'} ${host} ${head.originTarget}`;
}

/** The target of a key (for purges by path). */
export function keyTarget(key: string): string {
  return key.slice(key.indexOf(' ', 2) + 1);
}

/** What the response head says about keeping it. */
export interface StoreRules {
  /** Undefined when the answer may be kept; else why not (for tests and logs). */
  refused: string | undefined;
  /** How long the answer stays fresh from now (already bounded by maxAgeMs, less its Age). */
  lifetimeMs: number;
  /** The Age the origin gave it, in seconds. */
  initialAgeSec: number;
  /** The strong or weak ETag, as sent. */
  etag: string | undefined;
  /** Lowercase names of the request fields the answer varies on. */
  vary: string[];
  /** Indexes of Age fields (left out of the stored copy, which gets its own Age). */
  ageFields: number[];
  /** Indexes of Content-Length and Content-Type fields (left out of a 304). */
  entityFields: number[];
}

const CACHE_CONTROL = 'cache-control';
const SURROGATE_CONTROL = 'surrogate-control';

/**
 * Reads the response head's caching fields, and marks Surrogate-Control as not to be
 * forwarded (call it for every answer of a caching pool). `maxAgeMs` bounds the lifetime.
 */
export function storeRules(buf: Buffer, resp: ResponseHead, method: string, maxAgeMs: number): StoreRules {
  const rules: StoreRules = { refused: undefined, lifetimeMs: 0, initialAgeSec: 0, etag: undefined, vary: [], ageFields: [], entityFields: [] };
  let cacheControl: string | undefined;
  let surrogate: string | undefined;
  let setCookie = false;
  let vary: string | undefined;
  const fields = resp.fields;
  for (let f = 0, i = 0; f < fields.length; f += 3, i++) {
    const name = latin1(buf, fields[f]!, fields[f + 1]!).toLowerCase();
    if (name.length < 3 || name.length > 17) continue;
    const vs = valueStart(buf, fields[f + 1]! + 1, fields[f + 2]!);
    const value = (): string => latin1(buf, vs, valueEnd(buf, vs, fields[f + 2]!));
    switch (name) {
      case SURROGATE_CONTROL:
        resp.drop[i] = resp.drop[i]! | DROP_EXTRACTED;
        surrogate = surrogate === undefined ? value() : `${surrogate}, ${value()}`;
        break;
      case CACHE_CONTROL:
        cacheControl = cacheControl === undefined ? value() : `${cacheControl}, ${value()}`;
        break;
      case 'set-cookie':
        setCookie = true;
        break;
      case 'vary':
        vary = vary === undefined ? value() : `${vary}, ${value()}`;
        break;
      case 'etag':
        rules.etag = value();
        break;
      case 'age': {
        rules.ageFields.push(i);
        const age = deltaSeconds(value());
        if (age !== undefined) rules.initialAgeSec = age;
        break;
      }
      case 'content-length': case 'content-type':
        rules.entityFields.push(i);
        break;
    }
  }
  rules.refused = refusal(resp, method, cacheControl, surrogate, setCookie, vary, rules, maxAgeMs);
  return rules;
}

function refusal(resp: ResponseHead, method: string, cacheControl: string | undefined, surrogate: string | undefined,
  setCookie: boolean, vary: string | undefined, rules: StoreRules, maxAgeMs: number): string | undefined {
  if (method !== 'GET') return 'not a GET';
  if (resp.status !== 200) return `status ${resp.status}`;
  if (resp.bodyKind !== 'length' && resp.bodyKind !== 'none') return 'no Content-Length';
  if (setCookie) return 'Set-Cookie';
  const cc = directives(cacheControl);
  const sc = directives(surrogate);
  if (cc.has('no-store') || sc.has('no-store')) return 'no-store';
  if (cc.has('private')) return 'private';
  if (cc.has('no-cache')) return 'no-cache';
  if (vary !== undefined) {
    for (const part of vary.split(',')) {
      const name = part.trim().toLowerCase();
      if (name === '') continue;
      if (name === '*') return 'Vary: *';
      if (!rules.vary.includes(name)) rules.vary.push(name);
    }
    if (rules.vary.length > MAX_VARY_FIELDS) return `Vary on more than ${MAX_VARY_FIELDS} fields`;
  }
  const seconds = deltaSeconds(sc.get('max-age')) ?? deltaSeconds(cc.get('s-maxage')) ?? deltaSeconds(cc.get('max-age'));
  if (seconds === undefined) return 'no freshness lifetime';
  rules.lifetimeMs = Math.min(seconds * 1000, maxAgeMs) - rules.initialAgeSec * 1000;
  if (rules.lifetimeMs <= 0) return 'not fresh';
  return undefined;
}

/**
 * Directives of a Cache-Control or Surrogate-Control value, lowercase name to value
 * (unquoted; '' without one). A targeted Surrogate-Control directive (`max-age=60;cdn`)
 * is meant for another surrogate and is left out.
 */
export function directives(value: string | undefined): Map<string, string> {
  const found = new Map<string, string>();
  if (value === undefined) return found;
  for (const part of value.split(',')) {
    const text = part.trim();
    if (text === '' || text.includes(';')) continue;
    const eq = text.indexOf('=');
    const name = (eq < 0 ? text : text.slice(0, eq)).trim().toLowerCase();
    let arg = eq < 0 ? '' : text.slice(eq + 1).trim();
    if (arg.length >= 2 && arg.startsWith('"') && arg.endsWith('"')) arg = arg.slice(1, -1);
    // RFC 9111 4.2.1: a duplicated directive makes the answer stale; the first one is kept here and
    // the cache stays on the safe side by taking the smaller lifetime below.
    const before = found.get(name);
    if (before === undefined || (deltaSeconds(arg) ?? Infinity) < (deltaSeconds(before) ?? Infinity)) found.set(name, arg);
  }
  return found;
}

/** `1*DIGIT` as seconds, or undefined. */
export function deltaSeconds(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]+$/.test(text)) return undefined;
  return text.length > 10 ? MAX_DELTA_SECONDS : Math.min(Number(text), MAX_DELTA_SECONDS);
}

/** True when an If-None-Match value names `etag` (weak comparison, RFC 9110 13.1.2). */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag;
  // The common case, one tag: no split.
  if (ifNoneMatch === etag || ifNoneMatch === bare) return true;
  for (const part of ifNoneMatch.split(',')) {
    const tag = part.trim();
    if (tag === '*' || (tag.startsWith('W/') ? tag.slice(2) : tag) === bare) return true;
  }
  return false;
}
