/** Health: active checks (probes, rise/fall), passive outlier ejection, and slow start. */
export {
  ActiveChecker, LOAD_HEADER,
  DEFAULT_CHECK_FAST_INTERVAL_MS, DEFAULT_CHECK_INTERVAL_MS, DEFAULT_CHECK_JITTER_RATIO, DEFAULT_CHECK_MAX_BODY_BYTES, DEFAULT_CHECK_PATH, DEFAULT_CHECK_TIMEOUT_MS,
} from './active-checker.js';
export type { ActiveCheckerOptions, CheckTarget, ProbeResult } from './active-checker.js';
export { HealthTracker, DEFAULT_FALL, DEFAULT_RISE } from './health-tracker.js';
export type { HealthState, HealthTrackerOptions } from './health-tracker.js';
export {
  OutlierEjector,
  DEFAULT_BASE_EJECTION_MS, DEFAULT_CONSECUTIVE_CONNECT_FAILURES, DEFAULT_CONSECUTIVE_SERVER_ERRORS,
  DEFAULT_MAX_EJECTION_MS, DEFAULT_MAX_EJECTION_PERCENT,
} from './outlier-ejector.js';
export type { FailureKind, OutlierEjectorOptions, OutlierStatus } from './outlier-ejector.js';
export { isSlowStartOver, slowStartWeight, DEFAULT_SLOW_START_WINDOW_MS, SLOW_START_INITIAL_SHARE } from './slow-start.js';
export { StallDetector, DEFAULT_STALL_MS } from './stall-detector.js';
export type { StallSample } from './stall-detector.js';
export { earlyCloseFailure } from './upstream-failure.js';
export type { EarlyCloseFacts } from './upstream-failure.js';
