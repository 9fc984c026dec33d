/**
 * What a node is to the router.
 *
 *                 check: not in recovery, newest timeline
 *   unknown ─────────────────────────────────────────────▶ primary
 *      │                                                    │  failover / a newer
 *      │ check: in recovery                                 │  timeline appears
 *      ▼                                                    ▼
 *   replica ◀──────────── rebuilt: in recovery, ────────── fenced
 *                         newest timeline
 *
 * A fenced node is an old primary: it takes no reads and no writes until it comes
 * back as a replica of the current timeline.
 */
export type NodeRole = 'primary' | 'replica' | 'fenced' | 'unknown';

/** One node as `topology()` reports it. LSNs are in PostgreSQL notation (`16/B374D848`). */
export interface NodeStatus {
  /** `host:port` */
  name: string;
  role: NodeRole;
  /** The last check succeeded. */
  healthy: boolean;
  /** Takes eventual reads now (a healthy replica on the current timeline within the lag bounds). */
  readable: boolean;
  fenced: boolean;
  inRecovery: boolean | null;
  timeline: number | null;
  /** Primary only: `pg_current_wal_lsn()`. */
  currentLsn: string | null;
  receiveLsn: string | null;
  replayLsn: string | null;
  lagBytes: number | null;
  lagMs: number | null;
  replayPaused: boolean | null;
  /** Queries this router has in flight on the node. */
  outstanding: number;
  consecutiveFailures: number;
  lastError: string | null;
  /** Router-clock time of the last check (successful or not). */
  checkedAtMs: number | null;
}

/** The whole topology as this router sees it. */
export interface TopologySnapshot {
  /** Name of the node that takes writes, if any. */
  primary: string | null;
  /** The primary's timeline (tokens carry it). */
  timeline: number | null;
  failoverInProgress: boolean;
  nodes: NodeStatus[];
}

/** Emitted when writes move to a newly promoted node. */
export interface FailoverEvent {
  /** The node that stopped being the primary (it is fenced now). */
  from: string | null;
  to: string;
  /** The new primary's timeline. */
  timeline: number;
  /** True when this router ran the promotion; false when it found one already done. */
  promotedByThisRouter: boolean;
  /** From the first failed check of the old primary to writes being routed again. */
  durationMs: number;
}
