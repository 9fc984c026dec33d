/**
 * `scaleout/session`: central sessions for app instances that keep no user state.
 * A session is a set of JSON fields in Redis or PostgreSQL, changed one field at a
 * time, with a signed id in a cookie.
 */
export { Session, USER_ID_FIELD, DB_CONSISTENCY_FIELD } from './session.js';
export {
  SessionManager, DEFAULT_SESSION_TTL_MS, DEFAULT_SESSION_TOUCH_INTERVAL_MS,
} from './session-manager.js';
export type { SessionKey, SessionOptions } from './session-manager.js';
export { DEFAULT_SESSION_COOKIE_NAME, newSessionId } from './session-cookie.js';
export type { SessionCookieOptions } from './session-cookie.js';
export type {
  SessionStore, SessionFields, SessionValue, StoredSession, RegenerateOptions,
} from './store.js';
export {
  RedisSessionStore, DEFAULT_REDIS_KEY_PREFIX, DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
  DEFAULT_REDIS_COMMAND_TIMEOUT_MS, DEFAULT_REDIS_RECONNECT_MAX_DELAY_MS,
} from './stores/redis-store.js';
export type { RedisSessionStoreOptions } from './stores/redis-store.js';
export {
  PostgresSessionStore, DEFAULT_POSTGRES_SESSION_TABLE, DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS,
  DEFAULT_POSTGRES_QUERY_TIMEOUT_MS, DEFAULT_POSTGRES_CLEANUP_INTERVAL_MS, DEFAULT_POSTGRES_CLEANUP_BATCH_SIZE,
} from './stores/postgres-store.js';
export type { PostgresSessionStoreOptions } from './stores/postgres-store.js';
export {
  SessionStoreUnavailableError, SessionStoreError, SessionInputError, SessionFieldNotIntegerError,
  SessionOptionsError, SESSION_ERRORS,
} from './errors.js';
export { MAX_FIELD_NAME_CHARS, MAX_ID_CHARS } from './fields.js';
