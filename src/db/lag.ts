import type { Lsn } from './lsn.js';

/** What one round of checks knows about a replica, for the lag formula. */
export interface LagInput {
  /** The primary's `pg_current_wal_lsn()` at `primarySampledAtMs`; undefined when no primary answered yet. */
  primaryLsn: Lsn | undefined;
  /** The replica's `pg_last_wal_replay_lsn()`. */
  replayLsn: Lsn | undefined;
  /** The replica's `now() - pg_last_xact_replay_timestamp()` in ms; undefined if it never replayed a commit. */
  replayAgeMs: number | undefined;
  /** When (router clock) the replica was last seen replayed up to the primary's position. */
  caughtUpAtMs: number | undefined;
  /** Now, on the router clock. */
  nowMs: number;
}

/** Replica lag; `undefined` means unknown, which counts as too far behind. */
export interface Lag {
  lagBytes: number | undefined;
  lagMs: number | undefined;
  /** True when the replica had replayed everything the primary had written at its last sample. */
  caughtUp: boolean;
}

/**
 * How far a replica trails the primary.
 *
 * - Bytes: `primaryLsn - replayLsn`, floored at 0 (the replica may be sampled after
 *   the primary, and so look ahead of it).
 * - Time: 0 when `replayLsn >= primaryLsn`: the replica has everything the primary
 *   had, however long ago its last replayed commit was (an idle primary writes no
 *   commits, so `now() - pg_last_xact_replay_timestamp()` grows without the replica
 *   being behind at all). Otherwise the smaller of two upper bounds on staleness:
 *     - `replayAgeMs`: the newest commit it shows is that old, so nothing it misses
 *       is older than that (computed on the replica, so clock skew between hosts adds
 *       to it);
 *     - `nowMs - caughtUpAtMs`: it had every write up to that moment, so whatever it
 *       misses is younger than that.
 *   The second bound is what keeps a replica eligible right after a long idle
 *   period, when the first write makes the commit-timestamp age look enormous.
 */
export function computeLag(input: LagInput): Lag {
  const { primaryLsn, replayLsn, replayAgeMs, caughtUpAtMs, nowMs } = input;
  if (replayLsn === undefined) return { lagBytes: undefined, lagMs: undefined, caughtUp: false };
  if (primaryLsn !== undefined && replayLsn >= primaryLsn) {
    return { lagBytes: 0, lagMs: 0, caughtUp: true };
  }
  const lagBytes = primaryLsn === undefined ? undefined : Number(primaryLsn - replayLsn);
  let lagMs: number | undefined;
  if (replayAgeMs !== undefined && Number.isFinite(replayAgeMs)) lagMs = Math.max(0, replayAgeMs);
  if (caughtUpAtMs !== undefined) {
    const sinceCaughtUpMs = Math.max(0, nowMs - caughtUpAtMs);
    lagMs = lagMs === undefined ? sinceCaughtUpMs : Math.min(lagMs, sinceCaughtUpMs);
  }
  return { lagBytes, lagMs, caughtUp: false };
}

/** Whether a replica with this lag may take reads under the configured bounds. */
export function withinLagBounds(lag: Lag, maxLagMs: number, maxLagBytes: number | undefined): boolean {
  if (lag.lagMs === undefined || lag.lagMs > maxLagMs) return false;
  if (maxLagBytes !== undefined && (lag.lagBytes === undefined || lag.lagBytes > maxLagBytes)) return false;
  return true;
}
