import { randomBytes } from 'node:crypto';
import type { Clock } from '../../internal/clock.js';
import type { Keyring, SigningKey } from '../../internal/keyring.js';
import { DEFAULT_AFFINITY_COOKIE_NAME } from '../../internal/wire.js';
import { BalancerConfigError } from '../errors.js';
import { DEFAULT_COOKIE_AFFINITY, type ResolvedCookieAffinityOptions } from '../options.js';

/** @defaultValue 'scaleout_srv' */
export { DEFAULT_AFFINITY_COOKIE_NAME };
/** @defaultValue 86_400 (24 h) */
export const DEFAULT_AFFINITY_MAX_AGE_SEC = DEFAULT_COOKIE_AFFINITY.maxAgeSec;
/** @defaultValue '/' */
export const DEFAULT_AFFINITY_PATH = DEFAULT_COOKIE_AFFINITY.path;
/** @defaultValue 10_000 */
export const DEFAULT_AFFINITY_CACHE_MAX_ENTRIES = DEFAULT_COOKIE_AFFINITY.cacheMaxEntries;
/** Longest value we ever issue is about 120 characters; anything longer is not ours. */
const MAX_VALUE_LENGTH = 160;
const OPAQUE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const PAYLOAD = /^([A-Za-z0-9_-]{1,64})~([0-9a-z]{1,10})$/;

/**
 * A fresh opaque server id for the affinity cookie: 16 random bytes, base64url. Opaque
 * so the cookie reveals nothing about the server (not its name, not its address).
 */
export function newOpaqueServerId(): string {
  return randomBytes(16).toString('base64url');
}

/** What a caller may set; {@link resolveCookieAffinityOptions} fills the rest. */
export interface CookieAffinityOptions {
  /** Signs and verifies cookie values. Give this or `keys`. */
  keyring?: Keyring;
  /** Keys for a new Keyring (current first); share them between balancers. */
  keys?: readonly SigningKey[];
  /** @defaultValue DEFAULT_AFFINITY_COOKIE_NAME ('scaleout_srv') */
  cookieName?: string;
  /**
   * Lifetime of an issued cookie; it is re-issued once past half of it.
   * @defaultValue DEFAULT_AFFINITY_MAX_AGE_SEC (24 h)
   */
  maxAgeSec?: number;
  /** @defaultValue DEFAULT_AFFINITY_PATH ('/') */
  path?: string;
  /**
   * Verified values remembered, so a returning client costs a Map lookup instead of an
   * HMAC; 0 disables the cache.
   * @defaultValue DEFAULT_AFFINITY_CACHE_MAX_ENTRIES (10 000)
   */
  cacheMaxEntries?: number;
  /** Default time source when `nowMs` is not passed. @defaultValue systemClock */
  clock?: Clock;
}

/** What the request's affinity cookie says. */
export interface AffinityResolution {
  /** The server the client is stuck to, when the cookie is valid. */
  readonly opaqueId: string | undefined;
  /** A cookie with our name, signed by a known key and not expired, was found. */
  readonly valid: boolean;
  /** Some cookie with our name was there (valid or not): counts forged/garbled ones. */
  readonly present: boolean;
  /** The response should carry a fresh cookie: none valid, or past half its lifetime. */
  readonly needsReissue: boolean;
}

interface Verified {
  opaqueId: string;
  expiresSec: number;
}

const MISSING: AffinityResolution = Object.freeze({ opaqueId: undefined, valid: false, present: false, needsReissue: true });
const INVALID: AffinityResolution = Object.freeze({ opaqueId: undefined, valid: false, present: true, needsReissue: true });

/**
 * Cookie affinity: the balancer inserts a cookie naming the server that answered, and
 * later requests carrying it go back to that server while it is eligible.
 *
 * Value: `<opaqueId>~<expiresSec base36>.<keyId>.<mac>`; the MAC (Keyring, HMAC-SHA256)
 * covers the id and the expiry, so a client can neither pick a server nor extend its
 * cookie. Balancers sharing the keys accept each other's cookies; rotate by putting a
 * new key first and keeping the old one until its cookies have expired (`maxAgeSec`).
 *
 * Cost: a returning client's value is found in a bounded cache of verified values (a
 * Map lookup plus an expiry check); only new values pay for an HMAC. Failures are never
 * cached, and the cache can only hold values we signed, so clients cannot flood it.
 *
 * @example
 * const affinity = new CookieAffinity(resolveCookieAffinityOptions({ keys: [{ id: 'k1', secret }] }));
 * const r = affinity.resolve(req.headers.cookie);
 * const server = (r.opaqueId && byOpaqueId.get(r.opaqueId)) || pick();
 * if (affinity.shouldSetCookie(r, server.opaqueId)) {
 *   res.appendHeader('set-cookie', affinity.setCookieHeader(server.opaqueId, Date.now(), isHttps));
 * }
 */
export class CookieAffinity {
  readonly #keyring: Keyring;
  readonly #name: string;
  readonly #maxAgeSec: number;
  readonly #path: string;
  readonly #cacheMax: number;
  readonly #clock: Clock;
  readonly #cache = new Map<string, Verified>();
  /**
   * Oldest cache entry. Kept across evictions: a fresh iterator would step over every
   * deleted slot of the hash table first, O(evictions) per eviction.
   */
  #cacheCursor: MapIterator<string> | undefined;

  constructor(options: ResolvedCookieAffinityOptions) {
    this.#keyring = options.keyring;
    this.#name = options.cookieName;
    this.#maxAgeSec = options.maxAgeSec;
    this.#path = options.path;
    this.#cacheMax = options.cacheMaxEntries;
    this.#clock = options.clock;
  }

  get cookieName(): string {
    return this.#name;
  }

  get maxAgeSec(): number {
    return this.#maxAgeSec;
  }

  /**
   * Reads our cookie from a Cookie header (all Cookie fields joined by '; '). Exact
   * name match; other cookies are ignored; with several of ours, the first valid one
   * wins. Never throws, whatever the header holds.
   */
  resolve(cookieHeader: string | undefined, nowMs: number = this.#clock.now()): AffinityResolution {
    if (typeof cookieHeader !== 'string' || cookieHeader.length === 0) return MISSING;
    const name = this.#name;
    const nowSec = Math.floor(nowMs / 1000);
    let present = false;
    let from = 0;
    for (;;) {
      const at = cookieHeader.indexOf(name, from);
      if (at === -1) break;
      from = at + 1;
      const eq = at + name.length;
      if (cookieHeader.charCodeAt(eq) !== 0x3d /* = */ || !startsPair(cookieHeader, at)) continue;
      present = true;
      let end = cookieHeader.indexOf(';', eq + 1);
      if (end === -1) end = cookieHeader.length;
      let value = cookieHeader.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) {
        value = value.slice(1, -1);
      }
      const verified = this.#verify(value, nowSec);
      if (verified !== undefined) {
        return {
          opaqueId: verified.opaqueId,
          valid: true,
          present: true,
          needsReissue: (verified.expiresSec - nowSec) * 2 <= this.#maxAgeSec,
        };
      }
    }
    return present ? INVALID : MISSING;
  }

  /** Whether the response to a request resolved as `resolution` and sent to `opaqueId` needs a Set-Cookie. */
  shouldSetCookie(resolution: AffinityResolution, opaqueId: string): boolean {
    return resolution.needsReissue || resolution.opaqueId !== opaqueId;
  }

  /** A signed cookie value sticking to `opaqueId`, valid for `maxAgeSec` from `nowMs`. */
  cookieValue(opaqueId: string, nowMs: number = this.#clock.now()): string {
    if (typeof opaqueId !== 'string' || !OPAQUE_ID.test(opaqueId)) {
      throw new BalancerConfigError(`server affinity id "${String(opaqueId)}" is invalid; use newOpaqueServerId() (1-64 base64url characters)`);
    }
    const expiresSec = Math.floor(nowMs / 1000) + this.#maxAgeSec;
    const value = this.#keyring.sign(`${opaqueId}~${expiresSec.toString(36)}`);
    // The client will send it back next: remember it now and skip that first HMAC.
    this.#remember(value, { opaqueId, expiresSec });
    return value;
  }

  /** A full Set-Cookie header value sticking the client to `opaqueId`. */
  setCookieHeader(opaqueId: string, nowMs: number = this.#clock.now(), secure = false): string {
    const attributes = `; Path=${this.#path}; Max-Age=${this.#maxAgeSec}; HttpOnly; SameSite=Lax`;
    return `${this.#name}=${this.cookieValue(opaqueId, nowMs)}${attributes}${secure ? '; Secure' : ''}`;
  }

  #verify(value: string, nowSec: number): Verified | undefined {
    const cached = this.#cache.get(value);
    if (cached !== undefined) {
      if (cached.expiresSec > nowSec) return cached;
      this.#cache.delete(value);
      return undefined;
    }
    if (value.length > MAX_VALUE_LENGTH) return undefined;
    const payload = this.#keyring.verify(value);
    if (payload === undefined) return undefined;
    const match = PAYLOAD.exec(payload);
    if (match === null) return undefined;
    const expiresSec = parseInt(match[2]!, 36);
    if (!(expiresSec > nowSec)) return undefined;
    const verified = { opaqueId: match[1]!, expiresSec };
    this.#remember(value, verified);
    return verified;
  }

  #remember(value: string, verified: Verified): void {
    if (this.#cacheMax === 0) return;
    if (this.#cache.size >= this.#cacheMax) {
      // FIFO, not LRU: a hit must stay a pure read. A busy client evicted early just
      // pays one HMAC to come back.
      let oldest = this.#cacheCursor?.next();
      if (oldest === undefined || oldest.done === true) {
        this.#cacheCursor = this.#cache.keys();
        oldest = this.#cacheCursor.next();
      }
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(value, verified);
  }
}

/** Whether the name at `at` starts a cookie pair (start of header or after ';' and blanks). */
function startsPair(header: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0) {
    const c = header.charCodeAt(i);
    if (c === 0x3b /* ; */) return true;
    if (c !== 0x20 && c !== 0x09) return false;
    i--;
  }
  return true;
}
