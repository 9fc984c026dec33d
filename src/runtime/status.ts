/**
 * What `scaleout status --json` prints: the supervisor's view of every process it
 * runs or uses. External engines (given by URL) appear with `pid: null`.
 */

export type ProcessRole = 'supervisor' | 'balancer' | 'app' | 'postgres' | 'redis' | 'redis-cache' | 'memcached' | `worker:${string}` | 'dns' | 'static' | 'keepalived';

/**
 * The order of roles in `scaleout status`: the front door first, then what serves
 * requests, then the engines behind them. A `worker:<name>` sorts as `worker`;
 * a role not listed here sorts after these, by name.
 */
export const ROLE_ORDER: readonly string[] = ['supervisor', 'dns', 'keepalived', 'balancer', 'static', 'app', 'worker', 'postgres', 'redis', 'redis-cache', 'memcached'];

const roleRank = (role: string): number => {
  const rank = ROLE_ORDER.indexOf(role.split(':')[0]!);
  return rank === -1 ? ROLE_ORDER.length : rank;
};
const naturalIds = new Intl.Collator('en', { numeric: true });

/** Role order of {@link ROLE_ORDER}, then by role name, then by id with numbers in order (`app-2` before `app-10`). */
export function compareProcesses(a: Pick<ProcessStatus, 'role' | 'id'>, b: Pick<ProcessStatus, 'role' | 'id'>): number {
  return roleRank(a.role) - roleRank(b.role) || naturalIds.compare(a.role, b.role) || naturalIds.compare(a.id, b.id);
}

/**
 * One vocabulary for every process the supervisor runs (app instances, the balancer,
 * spawned engines, PostgreSQL nodes):
 *
 *     starting ─healthy─► running ─stop─► stopping ─► stopped
 *        ▲                   │
 *        └──delay── restarting ◄──exit (or a failed start)
 *
 * An app instance is `running` once its health check passed and it joined its pool;
 * while it drains before it stops it is `stopping`, with detail `draining`. Engines
 * given by URL are `external`: the supervisor uses them but does not run them.
 * Servers in a balancer pool have states of their own (`up`, `down`, `ejected`,
 * `draining`); those belong to the balancer, not to processes.
 */
export type ProcessState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'external';

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
  /** App instances, the balancer and spawned engines: restarts after crashes. */
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
  /** The supervisor replaces a dead primary (embedded PostgreSQL with a replica). */
  failover: boolean;
  nodes: Array<{ name: string; role: string; healthy: boolean; lagBytes: number | null; lagMs: number | null }>;
  /** The app's shards (config `db.shards`), or null when none are configured. */
  shards: ShardsStatus | null;
}

/** The shard directory (`scaleout_shard_directory`) as the supervisor last read it. */
export interface ShardsStatus {
  /** The database holding the directory. */
  directory: string;
  /** Bumped on every bucket move; null until the app has created the directory. */
  version: string | null;
  /** Buckets in all (fixed for the life of the data); null until created. */
  buckets: number | null;
  /** Configured shards first, then any other shard the directory names. */
  shards: Array<{
    name: string;
    /** Buckets it owns; null until the directory exists. */
    buckets: number | null;
    /** Of those, buckets in the middle of a move (copying, fenced or being cleaned up). */
    moving: number;
  }>;
  /** ISO time of the last successful read. */
  readAt: string | null;
  /** Why the last read failed, if it did. */
  error: string | null;
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
  /** Null while the runtime has no PostgreSQL. */
  db: DbStatus | null;
}
