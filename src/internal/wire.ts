/**
 * The wire contract between app instances, the balancer and the runtime: the names and
 * shapes each side relies on, defined once so no side can drift from the others. Every
 * piece here is an external contract (DESIGN.md): extend it, never rename it.
 */

/** Where an instance answers its health check. @defaultValue '/healthz' */
export const DEFAULT_HEALTH_PATH = '/healthz';

/**
 * Response header in which an instance reports its load (0 idle .. 1 saturated); the
 * balancer reads it (least-load) and strips it before the client sees the response.
 */
export const LOAD_HEADER = 'scaleout-load';

/** Response header that names the instance that answered. */
export const INSTANCE_HEADER = 'x-scaleout-instance';

/** The session cookie. @defaultValue 'scaleout_sid' */
export const DEFAULT_SESSION_COOKIE_NAME = 'scaleout_sid';

/** The balancer's signed affinity cookie (the server a client sticks to). @defaultValue 'scaleout_srv' */
export const DEFAULT_AFFINITY_COOKIE_NAME = 'scaleout_srv';

/**
 * The session field in which the data tier keeps a user's consistency tokens
 * (read-your-writes across instances: a token says which write a later read must
 * see), one per database: `{ "shop_shard_1": "t1.3000148" }`. Reserved for it.
 */
export const DB_CONSISTENCY_FIELD = '_db';

/** What an instance reports in its health body. */
export type HealthStatus = 'ok' | 'draining';

/** The JSON body of an instance's health answer. */
export interface HealthReport {
  status: HealthStatus;
  instance: string;
  buildId: string;
  /** 0 idle .. 1 saturated: see {@link LOAD_HEADER}. */
  load: number;
  /**
   * With a cache (the plugin's `cache` option): its lookups since the instance started,
   * found (L1 or L2) and not, so a watcher (the dashboard) takes a hit ratio from two reads.
   */
  cache?: CacheCounts;
}

/** Cache lookups since the instance started. */
export interface CacheCounts {
  hits: number;
  misses: number;
}

/**
 * Whether a health answer's HTTP status means healthy: 2xx and 3xx, as HAProxy's
 * `httpchk` counts them. A redirect still proves the server accepts and answers
 * requests; 4xx (the path is wrong) and 5xx (draining, broken) do not. The
 * balancer's active checks and the runtime's start-up probe both decide by this, so
 * an instance the runtime brings up is one the balancer puts in service.
 */
export function isHealthyStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status < 400;
}

/**
 * The fields read from a health body. `status` is any string: servers that are not
 * scaleout apps (the demo's, a user's own) may report other words.
 */
export interface HealthBodyFields {
  status?: string;
  instance?: string;
  buildId?: string;
  load?: number;
  cache?: CacheCounts;
}

/**
 * The fields of a health body, each present only when it has the right type. Any text
 * (not JSON, a JSON array, a partial object) reads as no fields rather than throwing:
 * the body comes from a process that may be broken.
 */
export function parseHealthBody(text: string): HealthBodyFields {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return {};
  const doc = body as Record<string, unknown>;
  const out: HealthBodyFields = {};
  if (typeof doc.status === 'string') out.status = doc.status;
  if (typeof doc.instance === 'string') out.instance = doc.instance;
  if (typeof doc.buildId === 'string') out.buildId = doc.buildId;
  if (typeof doc.load === 'number' && Number.isFinite(doc.load) && doc.load >= 0) out.load = doc.load;
  const cache = doc.cache as Record<string, unknown> | null | undefined;
  if (typeof cache === 'object' && cache !== null && isCount(cache.hits) && isCount(cache.misses)) out.cache = { hits: cache.hits, misses: cache.misses };
  return out;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
