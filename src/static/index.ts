/**
 * `scaleout/static`: the static tier. Pre-rendered pages published as immutable
 * generations behind one atomically switched pointer (`StaticTier`), and the server
 * of the `static` role (`StaticServer`): ETag, Last-Modified, Cache-Control, 304s,
 * and 404 for what it does not have, so the balancer falls through to the app.
 */
export {
  StaticTier, etagOf, readCurrentGeneration, readManifest, CURRENT_POINTER, MANIFEST_FILE,
  DEFAULT_KEEP_GENERATIONS, DEFAULT_GC_GRACE_MS, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_LOCK_STALE_MS,
} from './static-tier.js';
export type { StaticTierOptions, PublishPage, PublishChanges, PublishResult, PageEntry, Manifest } from './static-tier.js';
export {
  StaticServer, startStaticServer, etagMatches, accepts, DEFAULT_STATIC_CACHE_CONTROL, DEFAULT_STATIC_SURROGATE_CONTROL, DEFAULT_MAX_CACHED_BYTES, DEFAULT_MAX_CACHED_FILE_BYTES,
} from './static-server.js';
export type { StaticServerOptions, StaticServerCounters } from './static-server.js';
export { pageFile, MAX_PAGE_PATH_BYTES, MAX_PAGE_PATH_SEGMENTS } from './page-path.js';
export type { PageFile } from './page-path.js';
export { contentTypeOf, DEFAULT_CONTENT_TYPE } from './content-type.js';
export { StaticOptionsError, StaticPagePathError, StaticPublishBusyError } from './errors.js';
