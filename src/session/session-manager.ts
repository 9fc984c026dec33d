import { DEFAULT_SESSION, resolveSessionOptions } from './options.js';
import { Session } from './session.js';
import type { SessionSettings } from './session.js';
import { SessionCookie } from './session-cookie.js';
import type { SessionCookieOptions } from './session-cookie.js';
import type { SessionStore } from './store.js';

/** A session lives this long after it was last touched. */
export const DEFAULT_SESSION_TTL_MS = DEFAULT_SESSION.ttlMs;
/** A session's expiry is pushed back at most this often, so most requests write nothing. */
export const DEFAULT_SESSION_TOUCH_INTERVAL_MS = DEFAULT_SESSION.touchIntervalMs;

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
    const { store, keyring, ttlMs, touchIntervalMs, cookie } = resolveSessionOptions(options);
    this.store = store;
    this.#settings = {
      store,
      cookie: new SessionCookie(keyring, cookie, ttlMs),
      ttlMs,
      touchIntervalMs,
      persistentCookie: cookie.persistent,
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
