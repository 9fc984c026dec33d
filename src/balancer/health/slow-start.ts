import { DEFAULT_SLOW_START_MS } from '../options.js';

/**
 * Slow start: a server that just became eligible (added, back from down, back from
 * ejection) gets a share of its weight that grows linearly over a window, so a cold
 * process (empty caches, unjitted code, fresh connection pools) is not handed its full
 * share of traffic at once.
 *
 *     weight
 *       100% ┤                 ┌────────
 *            │              ╱
 *            │          ╱
 *            │      ╱
 *        10% ┤──╱
 *            └──┬───────────┬─────────► time
 *             since    since + windowMs
 */

/** @defaultValue 10_000 */
export const DEFAULT_SLOW_START_WINDOW_MS = DEFAULT_SLOW_START_MS;

/** Share of the weight a server gets the moment it becomes eligible. */
export const SLOW_START_INITIAL_SHARE = 0.1;

/**
 * The effective weight of a server `nowMs - sinceMs` after it became eligible.
 *
 * Never 0 for a positive weight: a server in slow start must still get some traffic,
 * or it would never warm up. A time before `sinceMs` (the wall clock stepped back)
 * counts as the start of the window.
 *
 * @param weight the configured weight (> 0; other values are returned unchanged, since
 *   a weight of 0 means "no traffic" and slow start must not change that)
 * @param sinceMs when the server became eligible (epoch ms)
 * @param nowMs now (epoch ms)
 * @param windowMs ramp duration; 0 disables slow start. Defaults to DEFAULT_SLOW_START_WINDOW_MS.
 *
 * @example
 * slowStartWeight(100, 0, 5_000, 10_000) // 55
 */
export function slowStartWeight(
  weight: number, sinceMs: number, nowMs: number, windowMs: number = DEFAULT_SLOW_START_WINDOW_MS,
): number {
  if (!(weight > 0) || !(windowMs > 0)) return weight;
  const elapsedMs = nowMs - sinceMs;
  // NaN (an unknown start) is treated as long ago: full weight beats starving a server.
  if (Number.isNaN(elapsedMs) || elapsedMs >= windowMs) return weight;
  const progress = elapsedMs > 0 ? elapsedMs / windowMs : 0;
  return weight * (SLOW_START_INITIAL_SHARE + (1 - SLOW_START_INITIAL_SHARE) * progress);
}

/**
 * Whether the ramp that began at `sinceMs` is over, so the caller can stop recomputing
 * weights (strategies precompute on every weight change).
 *
 * @param windowMs ramp duration. Defaults to DEFAULT_SLOW_START_WINDOW_MS.
 */
export function isSlowStartOver(
  sinceMs: number, nowMs: number, windowMs: number = DEFAULT_SLOW_START_WINDOW_MS,
): boolean {
  const elapsedMs = nowMs - sinceMs;
  return !(windowMs > 0) || Number.isNaN(elapsedMs) || elapsedMs >= windowMs;
}
