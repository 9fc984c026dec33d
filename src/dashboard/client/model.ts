/**
 * The dashboard's view of the status JSON. Read generically: process states and
 * roles are strings here, so a new state or role shows (grey) instead of breaking the page.
 */
export interface ProcessView {
  role: string;
  id: string;
  pid: number | null;
  address: string | null;
  buildId: string | null;
  state: string;
  detail?: string;
  restarts?: number;
  pool?: string;
}

export interface LatencyView {
  p50Ms: number;
  p99Ms: number;
  count: number;
}

export interface ServerView {
  id: string;
  state: string;
  inFlight: number;
  counters: { requests: number; [name: string]: number };
  /** Absent from a balancer older than the latency windows. */
  latency?: LatencyView;
}

export interface UsageView {
  cpuPercent: number | null;
  rssBytes: number;
}

export interface LoadStateView {
  running: boolean;
  scenario: string | null;
  rps: number | null;
  progress: { elapsedS: number; durationS: number; responses: number; errors: number; currentRps: number } | null;
  last: { responses: number; errors: number; throughputRps: number; p50Ms: number; p99Ms: number; balancerExchanges: number } | null;
  error: string | null;
}

export interface StatusView {
  status: {
    state: string;
    buildId: string | null;
    profile: string | null;
    appUrl: string | null;
    operation: string | null;
    processes: ProcessView[];
    db: { primary: string | null; failoverInProgress?: boolean; failover?: boolean; nodes: Array<{ name: string; role: string; healthy: boolean; lagBytes: number | null; lagMs: number | null }> } | null;
  };
  balancer: { pools: Record<string, { servers: ServerView[]; latency?: LatencyView }> } | null;
  at: number;
  /** CPU and memory by process id. */
  usage?: Record<string, UsageView>;
  /** Cache lookups since start by instance id (instances with a cache only). */
  cache?: Record<string, { hits: number; misses: number }>;
  /** Every configured worker's queues (absent from an older supervisor). */
  queues?: QueueView[];
  /** Chaos faults in force. */
  faults?: FaultView[];
  load?: LoadStateView;
}

export interface QueueView {
  role: string;
  queue: string;
  depth: number | null;
  /** Null when the engine keeps no count of finished jobs (RabbitMQ). */
  completed: number | null;
  failed: number | null;
}

export interface FaultView {
  id: string;
  fault: string;
  target: string;
  ms: number | null;
  at: string;
}

/** A fault as the panels name it: `partition`, `slow 200 ms`. */
export function faultLabel(f: FaultView): string {
  return f.fault === 'slow' && f.ms !== null ? `slow ${f.ms} ms` : f.fault;
}

/** Jobs finished per second between two frames; undefined where the engine does not count or its counts fell (finished jobs were removed). */
export interface JobRates {
  completed: number | undefined;
  failed: number | undefined;
}

export function queueKey(q: QueueView): string {
  return `${q.role}/${q.queue}`;
}

/** Completed and failed jobs per second per queue from two frames' finished counts. */
export function jobRates(previous: StatusView | undefined, current: StatusView): Map<string, JobRates> {
  const out = new Map<string, JobRates>();
  const seconds = previous === undefined ? 0 : (current.at - previous.at) / 1000;
  const before = new Map((previous?.queues ?? []).map((q) => [queueKey(q), q]));
  const rate = (now: number | null, then: number | null | undefined): number | undefined =>
    seconds <= 0 || now === null || then == null || now < then ? undefined : (now - then) / seconds;
  for (const q of current.queues ?? []) {
    const then = before.get(queueKey(q));
    out.set(queueKey(q), { completed: rate(q.completed, then?.completed), failed: rate(q.failed, then?.failed) });
  }
  return out;
}

/**
 * Cache hit ratio per instance between two frames (lookups in that second), or since the
 * instance started when there were none in between; undefined without a cache.
 */
export function cacheRatios(previous: StatusView | undefined, current: StatusView): Map<string, { ratio: number | undefined; recent: boolean }> {
  const out = new Map<string, { ratio: number | undefined; recent: boolean }>();
  for (const [id, now] of Object.entries(current.cache ?? {})) {
    const then = previous?.cache?.[id];
    const hits = then === undefined ? 0 : now.hits - then.hits;
    const misses = then === undefined ? 0 : now.misses - then.misses;
    if (hits >= 0 && misses >= 0 && hits + misses > 0) out.set(id, { ratio: hits / (hits + misses), recent: true });
    else out.set(id, { ratio: now.hits + now.misses === 0 ? undefined : now.hits / (now.hits + now.misses), recent: false });
  }
  return out;
}

/** Bytes as the panels show them: `12.3 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.round(bytes / 1024)} kB`;
}

/** A latency as the panels show it: `–` when nothing was measured in the window. */
export function formatMs(latency: LatencyView | undefined, key: 'p50Ms' | 'p99Ms'): string {
  if (latency === undefined || latency.count === 0) return '–';
  const v = latency[key];
  return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
}

export type Colour = 'green' | 'red' | 'amber' | 'grey';

const GREEN = new Set(['running', 'up', 'healthy']);
// A process `restarting` has crashed and waits for its restart: it serves nothing.
const RED = new Set(['exited', 'down', 'ejected', 'stopped', 'restarting', 'backoff', 'crashed', 'failed', 'dead']);
const AMBER = new Set(['draining', 'drained', 'starting', 'stopping', 'slow-start', 'joining']);

/** A state's colour; the balancer's view of an instance wins when it says the instance is out. */
export function colourOf(state: string, serverState?: string): Colour {
  if (serverState !== undefined && RED.has(serverState)) return 'red';
  if (RED.has(state)) return 'red';
  if (serverState !== undefined && AMBER.has(serverState)) return 'amber';
  if (AMBER.has(state)) return 'amber';
  if (GREEN.has(state)) return 'green';
  return 'grey';
}

/** The column a role is drawn in: front doors, balancers, instances and workers, engines. */
export function columnOf(role: string): number {
  if (role === 'supervisor' || role === 'dns') return 0;
  if (role === 'balancer') return 1;
  if (role === 'app' || role === 'static' || role.startsWith('worker')) return 2;
  return 3;
}

/** Requests per second per server from two snapshots of the balancer's counters. */
export function requestRates(previous: StatusView | undefined, current: StatusView): Map<string, number> {
  const rates = new Map<string, number>();
  if (previous?.balancer == null || current.balancer == null) return rates;
  const seconds = (current.at - previous.at) / 1000;
  if (seconds <= 0) return rates;
  const before = new Map<string, number>();
  for (const pool of Object.values(previous.balancer.pools)) for (const s of pool.servers) before.set(s.id, s.counters.requests);
  for (const pool of Object.values(current.balancer.pools)) {
    for (const s of pool.servers) {
      const then = before.get(s.id);
      // A restarted balancer starts its counters again from 0: no rate for that interval.
      if (then !== undefined && s.counters.requests >= then) rates.set(s.id, (s.counters.requests - then) / seconds);
    }
  }
  return rates;
}
