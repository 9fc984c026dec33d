/**
 * `scaleout/balancer`: an L7 HTTP/1.1 load balancer (routes, pools, strategies,
 * signed-cookie and stick-table affinity, active and passive health, drain, admin API).
 */
export { Balancer, startBalancer } from './balancer.js';
export type { BalancerDeps, BalancerLiveConfig, BalancerSnapshot, PoolSnapshot, ServerSnapshot } from './balancer.js';
export { bucketOf, bucketUpperUs, DEFAULT_LATENCY_WINDOW_MS, LATENCY_BUCKETS, LatencyWindow, quantileMs } from './latency-window.js';
export type { LatencySummary } from './latency-window.js';
export { BalancerWorkers } from './workers/balancer-workers.js';
export type { WorkerSnapshot } from './workers/workers-admin.js';
export { startAdminApi } from './admin-api.js';
export type { AdminApi } from './admin-api.js';
export {
  AdminBodyTooLargeError, AdminInvalidInputError, AdminRequestError, AdminUnsupportedMediaTypeError, BALANCER_ERRORS, BALANCER_RESPONSES, BalancerWorkersError,
  BadUpstreamResponseError, BalancerConfigError, BalancerError, NoHealthyServerError, UpstreamTimeoutError,
} from './errors.js';
export type { BalancerResponseError } from './errors.js';
export { AFFINITY_ERRORS, StickTableSaveError } from './affinity/errors.js';
export {
  DEFAULT_COOKIE_NAME, DEFAULT_LIMITS, DEFAULT_RESPONSE_CACHE, DEFAULT_TIMEOUTS, MAX_WORKERS, parseBalancerOptions, responseCacheSchema,
} from './options.js';
export type { BalancerOptions, BalancerOptionsInput, BalancerWorkersOptionsInput, PoolOptions, PoolOptionsInput, RouteOptions } from './options.js';
export type { Pool, PoolEvent, PoolWarning } from './pool.js';
export type { ResponseCacheSnapshot } from './cache/response-cache.js';
export { formatBalancerEvent } from './events.js';
export type { BalancerEvent, BalancerEventKind } from './events.js';
export type { Server, ServerState } from './server.js';
export { STRATEGY_NAMES } from './strategies/strategy.js';
export type { StrategyName } from './strategies/strategy.js';
