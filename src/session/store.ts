/**
 * A JSON value a session field can hold. Values are stored JSON-encoded, one store
 * field per session field, so two requests that change different fields of one
 * session never overwrite each other.
 */
export type SessionValue = string | number | boolean | null | SessionValue[] | { [key: string]: SessionValue };

/** Field name to value. Field names are non-empty strings that do not start with NUL. */
export type SessionFields = Record<string, SessionValue>;

/** What `getAll` returns for a live session. */
export interface StoredSession {
  /** Every field the session holds. */
  fields: SessionFields;
  /** The user the session is indexed under (set by `create` or `regenerate`), if any. */
  userId: string | undefined;
  /**
   * Milliseconds until the session expires unless touched, measured by the engine's
   * clock. The session core compares it with its TTL to decide when to `touch`, so no
   * extra "last touched" field has to be written.
   */
  expiresInMs: number;
}

/** Options of {@link SessionStore.regenerate}. */
export interface RegenerateOptions {
  /** New time to live of the session under its new id. */
  ttlMs: number;
  /** Index the session under this user (replaces the previous user, if any). */
  userId?: string;
  /** Fields to set in the same atomic step (login sets `userId` this way). */
  fields?: SessionFields;
}

/**
 * Where sessions live: a central engine every app instance shares.
 *
 * Every operation is atomic in the engine and works per field. Writes never create a
 * session: `setFields`, `deleteFields`, `incrementField`, `touch` and `regenerate`
 * on an id that does not exist (never created, expired, destroyed or renamed) change
 * nothing and report it, so a slow request that finishes after a logout cannot bring
 * the session back.
 *
 * Operations fail fast with `SessionStoreUnavailableError` when the engine cannot be
 * reached, and work again by themselves once it can.
 *
 * ```text
 *   create ──► live ──(ttl passes without touch)──► expired (gone)
 *               │ ├─ setFields / deleteFields / incrementField / touch
 *               │ ├─ regenerate(old, new) ──► live under the new id; old id gone
 *               └─┴─ destroy / destroyAllForUser ──► gone
 * ```
 */
export interface SessionStore {
  /** Short engine name for messages and logs: `redis`, `postgres`. */
  readonly name: string;
  /** Create a session. `id` must be new (32 random bytes make collisions impossible). */
  create(id: string, fields: SessionFields, ttlMs: number, userId?: string): Promise<void>;
  /** The session's fields, user and remaining lifetime; undefined when it does not exist. */
  getAll(id: string): Promise<StoredSession | undefined>;
  /** Set the given fields, leaving the others alone. False when the session does not exist. */
  setFields(id: string, fields: SessionFields): Promise<boolean>;
  /** Remove the given fields. False when the session does not exist. */
  deleteFields(id: string, keys: readonly string[]): Promise<boolean>;
  /**
   * Add `by` to an integer field (a missing field counts as 0) and return the new value;
   * undefined when the session does not exist. Throws `SessionFieldNotIntegerError` when
   * the field holds something else.
   */
  incrementField(id: string, key: string, by: number): Promise<number | undefined>;
  /** Let the session live `ttlMs` from now, without rewriting its fields. False when it does not exist. */
  touch(id: string, ttlMs: number): Promise<boolean>;
  /** Delete the session. Destroying a session that does not exist is not an error. */
  destroy(id: string): Promise<void>;
  /** Delete every session indexed under `userId` ("log out everywhere"); returns how many were live. */
  destroyAllForUser(userId: string): Promise<number>;
  /**
   * Move a session to a new id atomically: afterwards the old id does not exist, so a
   * stolen or planted id is worthless after login. False (and nothing changed) when the
   * old session does not exist.
   */
  regenerate(oldId: string, newId: string, options: RegenerateOptions): Promise<boolean>;
  /** Release connections the store opened itself; connections passed in stay open. */
  close(): Promise<void>;
}
