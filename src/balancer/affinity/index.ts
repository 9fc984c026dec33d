/** Affinity: keeping a client on one server (signed server-id cookie, or stick table). */
export {
  CookieAffinity, newOpaqueServerId,
  DEFAULT_AFFINITY_CACHE_MAX_ENTRIES, DEFAULT_AFFINITY_COOKIE_NAME, DEFAULT_AFFINITY_MAX_AGE_SEC, DEFAULT_AFFINITY_PATH,
} from './cookie-affinity.js';
export type { AffinityResolution, CookieAffinityOptions } from './cookie-affinity.js';
export {
  StickTable, STICK_TABLE_FILE_VERSION,
  DEFAULT_STICK_IDLE_TIMEOUT_MS, DEFAULT_STICK_MAX_ENTRIES, DEFAULT_STICK_MAX_KEY_LENGTH,
} from './stick-table.js';
export type { StickEntry, StickTableLoadResult, StickTableOptions } from './stick-table.js';
export { AFFINITY_ERRORS, StickTableSaveError } from './errors.js';
