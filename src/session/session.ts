import { DB_CONSISTENCY_FIELD } from '../internal/wire.js';
import { SessionInputError } from './errors.js';
import { assertFieldName, assertIncrement, decodeValue, encodeValue } from './fields.js';
import { newSessionId } from './session-cookie.js';
import type { SessionCookie } from './session-cookie.js';
import type { SessionFields, SessionStore, SessionValue } from './store.js';

/** The field `login()` sets; read it with `session.get('userId')`. Only login/logout change it. */
export const USER_ID_FIELD = 'userId';
/**
 * The field the data tier keeps its consistency tokens in (read-your-writes across
 * instances: a token says which write a later read must see). Reserved for it.
 */
export { DB_CONSISTENCY_FIELD };

/** What a {@link Session} needs from its manager; built once per process. */
export interface SessionSettings {
  readonly store: SessionStore;
  readonly cookie: SessionCookie;
  readonly ttlMs: number;
  readonly touchIntervalMs: number;
  readonly persistentCookie: boolean;
}

/**
 * The session of one request, created lazily by `SessionManager.forRequest` (in
 * Fastify: `request.session`).
 *
 * - Nothing happens until it is used: no cookie parsing, no store round trip.
 * - The first read loads every field with one `getAll`; later reads are served from
 *   memory for the rest of the request.
 * - Writes go to the store at once, one field at a time (never a rewrite of the whole
 *   session), and update the copy in memory. Two requests on two instances that change
 *   different fields both keep their change; counters use `increment`, which is atomic.
 * - A session that is gone (expired, logged out elsewhere) is never written back: a
 *   write to it starts a new anonymous session holding only that write.
 * - Expiry slides: a read that finds the session older than `touchIntervalMs` since
 *   its last touch pushes its expiry back (one cheap `touch`, not awaited).
 *
 * @example
 * ```ts
 * await request.session.increment(`cart:${productId}`, 1);
 * const userId = await request.session.get<string>('userId');
 * await request.session.login(user.id);
 * ```
 */
export class Session {
  readonly #s: SessionSettings;
  readonly #cookieHeader: string | undefined;
  readonly #isHttps: boolean;
  #parsed = false;
  #hadCookie = false;
  #id: string | undefined;
  #userId: string | undefined;
  #fields: SessionFields | undefined;
  #loading: Promise<SessionFields> | undefined;
  // Serialises this request's own operations, so two calls made without awaiting each
  // other cannot create two sessions or race a load against a write.
  #queue: Promise<unknown> = Promise.resolve();
  #setCookie: string | undefined;

  /** Use `SessionManager.forRequest`. */
  constructor(settings: SessionSettings, cookieHeader: string | undefined, isHttps: boolean) {
    this.#s = settings;
    this.#cookieHeader = cookieHeader;
    this.#isHttps = isHttps;
  }

  /**
   * The session id: the one the request's cookie carries (signature checked), or the one
   * created during this request; undefined when there is none. A carried id may belong
   * to a session that has expired; reading tells.
   */
  get id(): string | undefined {
    this.#parse();
    return this.#id;
  }

  /** The `Set-Cookie` value the response must carry, if the session id changed. */
  get setCookieHeader(): string | undefined {
    return this.#setCookie;
  }

  /** One field's value, or undefined. */
  async get<T extends SessionValue = SessionValue>(key: string): Promise<T | undefined> {
    return (await this.#read())[key] as T | undefined;
  }

  /** A copy of every field. */
  async all(): Promise<SessionFields> {
    return { ...(await this.#read()) };
  }

  /** Set one field to a JSON value. Starts a session if there is none. */
  async set(key: string, value: unknown): Promise<void> {
    await this.setMany({ [key]: value });
  }

  /** Set several fields in one atomic step. Starts a session if there is none. */
  async setMany(fields: Record<string, unknown>): Promise<void> {
    const local = this.#check(fields);
    await this.#serial(async () => {
      const id = this.#parse();
      if (id === undefined || !(await this.#s.store.setFields(id, local))) {
        await this.#start(local);
        return;
      }
      if (this.#fields !== undefined) Object.assign(this.#fields, local);
    });
  }

  /**
   * Add `by` to an integer field (missing counts as 0) atomically in the store and
   * return the new value. Starts a session if there is none.
   * @param by @defaultValue 1
   */
  async increment(key: string, by = 1): Promise<number> {
    assertFieldName(key);
    this.#refuseReserved(key);
    assertIncrement(key, by);
    return this.#serial(async () => {
      const id = this.#parse();
      const value = id === undefined ? undefined : await this.#s.store.incrementField(id, key, by);
      if (value === undefined) {
        await this.#start({ [key]: by });
        return by;
      }
      if (this.#fields !== undefined) this.#fields[key] = value;
      return value;
    });
  }

  /** Remove one field or several. */
  async delete(keys: string | readonly string[]): Promise<void> {
    const list = typeof keys === 'string' ? [keys] : [...keys];
    for (const key of list) {
      assertFieldName(key);
      this.#refuseReserved(key);
    }
    await this.#serial(async () => {
      const id = this.#parse();
      if (id === undefined) return;
      if (!(await this.#s.store.deleteFields(id, list))) {
        this.#forget();
        return;
      }
      if (this.#fields !== undefined) for (const key of list) delete this.#fields[key];
    });
  }

  /**
   * Log a user in: the session moves to a new id (so an id planted before login is
   * worthless), gets `userId`, and is indexed under the user for `logoutEverywhere`.
   * Fields set before login (the cart) are kept.
   */
  async login(userId: string | number): Promise<void> {
    if ((typeof userId !== 'string' && typeof userId !== 'number') || (typeof userId === 'number' && !Number.isFinite(userId))) {
      throw new SessionInputError('login(userId) needs a string or a finite number');
    }
    const indexId = String(userId);
    if (indexId.length === 0 || indexId.length > 256 || indexId.includes('\u0000')) {
      throw new SessionInputError('login(userId) needs 1-256 characters without NUL');
    }
    await this.#serial(async () => {
      const oldId = this.#parse();
      const newId = newSessionId();
      const fields = { [USER_ID_FIELD]: userId };
      const moved = oldId !== undefined &&
        await this.#s.store.regenerate(oldId, newId, { ttlMs: this.#s.ttlMs, userId: indexId, fields });
      if (!moved) {
        await this.#s.store.create(newId, fields, this.#s.ttlMs, indexId);
        this.#fields = { ...fields };
      } else if (this.#fields !== undefined) {
        this.#fields[USER_ID_FIELD] = userId;
      }
      this.#userId = indexId;
      this.#adopt(newId);
    });
  }

  /** End this session: its data is deleted and the cookie cleared. */
  async logout(): Promise<void> {
    await this.#serial(async () => {
      const id = this.#parse();
      if (id !== undefined) await this.#s.store.destroy(id);
      this.#forget();
    });
  }

  /**
   * End every session of the logged-in user, on every device; returns how many there
   * were. Without a logged-in user it is `logout()` and returns 0 or 1.
   */
  async logoutEverywhere(): Promise<number> {
    await this.#read();
    return this.#serial(async () => {
      const id = this.#parse();
      let count = 0;
      if (this.#userId !== undefined) count = await this.#s.store.destroyAllForUser(this.#userId);
      else if (id !== undefined) count = 1;
      if (id !== undefined) await this.#s.store.destroy(id);
      this.#forget();
      return count;
    });
  }

  /** Move the session to a new id, keeping its fields and user (e.g. after a privilege change). */
  async regenerate(): Promise<void> {
    await this.#serial(async () => {
      const oldId = this.#parse();
      if (oldId === undefined) return;
      const newId = newSessionId();
      if (await this.#s.store.regenerate(oldId, newId, { ttlMs: this.#s.ttlMs })) this.#adopt(newId);
      else this.#forget();
    });
  }

  #parse(): string | undefined {
    if (!this.#parsed) {
      this.#parsed = true;
      this.#hadCookie = this.#cookieHeader !== undefined && this.#cookieHeader.includes(this.#s.cookie.name);
      this.#id = this.#s.cookie.readId(this.#cookieHeader);
    }
    return this.#id;
  }

  #read(): Promise<SessionFields> {
    if (this.#fields !== undefined) return Promise.resolve(this.#fields);
    this.#loading ??= this.#serial(() => this.#load()).finally(() => { this.#loading = undefined; });
    return this.#loading;
  }

  async #load(): Promise<SessionFields> {
    if (this.#fields !== undefined) return this.#fields;
    const id = this.#parse();
    if (id === undefined) return (this.#fields = {});
    const stored = await this.#s.store.getAll(id);
    if (stored === undefined) {
      this.#forget();
      return (this.#fields = {});
    }
    this.#fields = stored.fields;
    this.#userId = stored.userId;
    const { ttlMs, touchIntervalMs } = this.#s;
    // The store reports the remaining life; ttl minus that is the time since the last
    // touch (or since a shorter TTL of an older configuration, which also calls for one).
    if (stored.expiresInMs <= ttlMs - touchIntervalMs || stored.expiresInMs > ttlMs) {
      // Not awaited: the response need not wait for it, and a lost touch only means the
      // next request touches instead.
      this.#s.store.touch(id, ttlMs).catch(() => undefined);
      if (this.#s.persistentCookie) this.#setCookie = this.#s.cookie.serialize(id, this.#secure());
    }
    return this.#fields;
  }

  /** Start a fresh anonymous session holding `fields` (there was none, or it is gone). */
  async #start(fields: SessionFields): Promise<void> {
    const id = newSessionId();
    await this.#s.store.create(id, fields, this.#s.ttlMs);
    this.#userId = undefined;
    this.#fields = { ...fields };
    this.#adopt(id);
  }

  #adopt(id: string): void {
    this.#id = id;
    this.#setCookie = this.#s.cookie.serialize(id, this.#secure());
  }

  /** The session is gone: drop the id, keep an empty copy, and clear the cookie if the browser has one. */
  #forget(): void {
    this.#id = undefined;
    this.#userId = undefined;
    this.#fields = {};
    this.#setCookie = this.#hadCookie || this.#setCookie !== undefined ? this.#s.cookie.clear(this.#secure()) : undefined;
  }

  #secure(): boolean {
    return this.#s.cookie.secureFor(this.#isHttps);
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Validate fields and turn them into what a JSON round trip gives back, as the store will. */
  #check(fields: Record<string, unknown>): SessionFields {
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
      throw new SessionInputError('setMany() needs a plain object of name -> value');
    }
    const local: SessionFields = {};
    for (const key of Object.keys(fields)) {
      assertFieldName(key);
      this.#refuseReserved(key);
      local[key] = decodeValue(encodeValue(key, fields[key] as SessionValue));
    }
    return local;
  }

  #refuseReserved(key: string): void {
    if (key === USER_ID_FIELD) {
      throw new SessionInputError(`the "${USER_ID_FIELD}" field belongs to login()/logout(); call session.login(userId) instead`);
    }
  }
}
