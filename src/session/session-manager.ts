import { Keyring } from '../internal/keyring.js';
import { SessionOptionsError } from './errors.js';
import { Session } from './session.js';
import type { SessionSettings } from './session.js';
import { SessionCookie } from './session-cookie.js';
import type { SessionCookieOptions } from './session-cookie.js';
import type { SessionStore } from './store.js';

/** A session lives this long after it was last touched. */
export const DEFAULT_SESSION_TTL_MS = 24 * 60 * 60 * 1000;
/** A session's expiry is pushed back at most this often, so most requests write nothing. */
export const DEFAULT_SESSION_TOUCH_INTERVAL_MS = 60_000;

/** A key that signs session cookies; every instance must share the same list. */
export interface SessionKey {
  /** Short id carried in the cookie; 1-16 characters of [A-Za-z0-9_-]. */
  id: string;
  /** At least 16 bytes; 32 random bytes recommended. */
  secret: string | Buffer;
}

export interface SessionOptions {
  /** Where sessions live: a `RedisSessionStore` or a `PostgresSessionStore`. */
  store: SessionStore;
  /**
   * Cookie signing keys, the current one first. To rotate, put a new key first and keep
   * the old one until every cookie signed by it has expired.
   */
  keys: readonly SessionKey[];
  /** @defaultValue {@link DEFAULT_SESSION_TTL_MS} */
  ttlMs?: number;
  /** @defaultValue {@link DEFAULT_SESSION_TOUCH_INTERVAL_MS} */
  touchIntervalMs?: number;
  cookie?: SessionCookieOptions;
}

/**
 * Turns options into per-request {@link Session} objects. One per process; cheap to
 * hold, since it keeps no per-user state.
 *
 * @example
 * ```ts
 * const sessions = new SessionManager({ store, keys: [{ id: 'k1', secret: process.env.SESSION_SECRET! }] });
 * const session = sessions.forRequest(req.headers.cookie, isHttps);
 * ```
 */
export class SessionManager {
  readonly store: SessionStore;
  readonly #settings: SessionSettings;

  constructor(options: SessionOptions) {
    if (typeof options !== 'object' || options === null) throw new SessionOptionsError('session options must be an object with store and keys');
    const { store } = options;
    if (typeof store !== 'object' || store === null || typeof store.getAll !== 'function' || typeof store.create !== 'function') {
      throw new SessionOptionsError('session.store must be a session store, e.g. new RedisSessionStore({ url }) or new PostgresSessionStore({ connectionString })');
    }
    if (!Array.isArray(options.keys) || options.keys.length === 0) {
      throw new SessionOptionsError('session.keys is missing; pass [{ id: "k1", secret: <32 random bytes> }], the same on every instance');
    }
    const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1000) throw new SessionOptionsError(`session.ttlMs must be an integer of at least 1000, got ${String(ttlMs)}`);
    const touchIntervalMs = options.touchIntervalMs ?? Math.min(DEFAULT_SESSION_TOUCH_INTERVAL_MS, Math.floor(ttlMs / 2));
    if (!Number.isSafeInteger(touchIntervalMs) || touchIntervalMs < 0 || touchIntervalMs >= ttlMs) {
      throw new SessionOptionsError(`session.touchIntervalMs must be an integer from 0 up to below ttlMs (${ttlMs}), got ${String(touchIntervalMs)}`);
    }
    this.store = store;
    this.#settings = {
      store,
      cookie: new SessionCookie(new Keyring(options.keys), options.cookie ?? {}, ttlMs),
      ttlMs,
      touchIntervalMs,
      persistentCookie: options.cookie?.persistent === true,
    };
  }

  /** The cookie's name, e.g. to exclude it from caching keys. */
  get cookieName(): string {
    return this.#settings.cookie.name;
  }

  /**
   * The session of one request. Costs nothing until used: the cookie is read and the
   * store asked only when the handler first touches the session.
   * @param cookieHeader the request's `Cookie` header
   * @param isHttps whether the request came over https (decides `Secure` in `'auto'` mode)
   */
  forRequest(cookieHeader: string | undefined, isHttps: boolean): Session {
    return new Session(this.#settings, cookieHeader, isHttps);
  }
}
