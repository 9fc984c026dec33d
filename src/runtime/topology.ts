/**
 * What `scaleout status --json` prints: the supervisor's view of every process it
 * runs or uses. External engines (given by URL) appear with `pid: null`.
 */

export type ProcessRole = 'supervisor' | 'balancer' | 'app' | 'postgres' | 'redis';

/**
 * App instances move through:
 *
 *     starting ─healthy─► up ─retire─► draining ─drained─► stopping ─► stopped
 *        │                 │
 *        └──exit/timeout───┴──exit──► backoff ─delay─► starting
 *
 * Engines and the balancer are `running`, `stopped` or `external`.
 */
export type ProcessState = 'starting' | 'up' | 'draining' | 'stopping' | 'backoff' | 'stopped' | 'running' | 'external';

export interface ProcessStatus {
  role: ProcessRole;
  id: string;
  pid: number | null;
  /** `host:port` it listens on (for the balancer: the first listener). */
  address: string | null;
  /** App instances: the build they run. */
  buildId: string | null;
  state: ProcessState;
  /** A few words more: `primary`, `replica`, `admin 127.0.0.1:9000`, the last exit. */
  detail?: string;
  /** App instances: restarts after crashes. */
  restarts?: number;
  /** App instances: the balancer pool they belong to. */
  pool?: string;
}

export type SupervisorState = 'starting' | 'running' | 'stopping' | 'stopped';

/** The data tier as the supervisor's own database router sees it (`topology()` of `scaleout/db`). */
export interface DbStatus {
  primary: string | null;
  timeline: number | null;
  failoverInProgress: boolean;
  nodes: Array<{ name: string; role: string; healthy: boolean; lagBytes: number | null; lagMs: number | null }>;
}

export interface RuntimeStatus {
  /** Absolute app folder. */
  dir: string;
  state: SupervisorState;
  /** The build new instances start from. */
  buildId: string | null;
  /** Which engines back sessions, cache L2, bus and queue; null without engines. */
  profile: 'redis' | 'postgres' | null;
  /** Where clients connect (the balancer). */
  appUrl: string | null;
  /** The balancer's admin API. */
  adminUrl: string | null;
  /** The deploy, scale or build in progress, if any. */
  operation: string | null;
  processes: ProcessStatus[];
  /** Null while the runtime has no PostgreSQL; sharding fields arrive with the data tier. */
  db: DbStatus | null;
}
