import { randomBytes } from 'node:crypto';
import { parseCookie } from 'cookie';
import type { Keyring } from '../internal/keyring.js';
import { DEFAULT_SESSION_COOKIE_NAME } from '../internal/wire.js';
import type { ResolvedSessionCookieOptions } from './options.js';

/** @defaultValue 'scaleout_sid' */
export { DEFAULT_SESSION_COOKIE_NAME };

/** How the session cookie is written. */
export interface SessionCookieOptions {
  /** @defaultValue {@link DEFAULT_SESSION_COOKIE_NAME} */
  name?: string;
  /** `Domain` attribute; leave unset to bind the cookie to the exact host. */
  domain?: string;
  /** @defaultValue `'/'` */
  path?: string;
  /** @defaultValue `'lax'` */
  sameSite?: 'lax' | 'strict' | 'none';
  /**
   * `'auto'` adds `Secure` when the request came over https: the socket is TLS, or the
   * balancer says so with `x-forwarded-proto: https`. Trusting that header is safe
   * here: a client that fakes it only makes its own cookie stricter.
   * @defaultValue `'auto'`
   */
  secure?: 'auto' | boolean;
  /**
   * false: a browser-session cookie (gone when the browser closes; the server-side TTL
   * still applies). true: `Max-Age` = the session TTL, sent again whenever the
   * session's expiry slides.
   * @defaultValue false
   */
  persistent?: boolean;
}

// 32 random bytes in base64url, no padding.
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** A new session id: 32 random bytes (256 bits) in base64url; guessing one is hopeless. */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Reads and writes the signed session-id cookie. The attribute strings are built once,
 * so writing a cookie is one concatenation.
 */
export class SessionCookie {
  readonly name: string;
  readonly #keyring: Keyring;
  readonly #secure: 'auto' | boolean;
  readonly #suffix: string;
  readonly #clearSuffix: string;

  constructor(keyring: Keyring, options: ResolvedSessionCookieOptions, ttlMs: number) {
    this.#keyring = keyring;
    this.name = options.name;
    this.#secure = options.secure;
    const { path, domain, sameSite } = options;
    const common = `; Path=${path}${domain === undefined ? '' : `; Domain=${domain}`}; HttpOnly; SameSite=${sameSite[0]!.toUpperCase()}${sameSite.slice(1)}`;
    this.#suffix = `${common}${options.persistent ? `; Max-Age=${Math.floor(ttlMs / 1000)}` : ''}`;
    this.#clearSuffix = `${common}; Max-Age=0`;
  }

  /** The verified session id the Cookie header carries, or undefined (none, forged, garbled). Never throws. */
  readId(cookieHeader: string | undefined): string | undefined {
    if (cookieHeader === undefined || cookieHeader.length === 0) return undefined;
    let value: string | undefined;
    try {
      value = parseCookie(cookieHeader)[this.name];
    } catch {
      return undefined;
    }
    if (value === undefined) return undefined;
    const id = this.#keyring.verify(value);
    return id !== undefined && SESSION_ID.test(id) ? id : undefined;
  }

  /** Whether to add `Secure` for a request that came over https (`isHttps`) or not. */
  secureFor(isHttps: boolean): boolean {
    return this.#secure === 'auto' ? isHttps : this.#secure;
  }

  /** A Set-Cookie value carrying `id`. */
  serialize(id: string, secure: boolean): string {
    return `${this.name}=${this.#keyring.sign(id)}${this.#suffix}${secure ? '; Secure' : ''}`;
  }

  /** A Set-Cookie value that removes the cookie. */
  clear(secure: boolean): string {
    return `${this.name}=${this.#clearSuffix}${secure ? '; Secure' : ''}`;
  }
}
