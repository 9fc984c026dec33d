import type { ScenarioName } from './scenarios.js';

/** One second of the run, as the client saw it. */
export interface BenchSecond {
  /** Seconds since the start (0: the first second). */
  t: number;
  responses: number;
  /** Connection errors and timeouts. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

/** One server of the balancer over the run, from its admin counters. */
export interface BenchServer {
  pool: string;
  id: string;
  /** Requests the balancer sent it during the run. */
  requests: number;
  /** Requests per second, sampled each second from the balancer (index: second of the run). */
  perSecond: number[];
  /** Its p50/p99 over the balancer's window as the run ended. */
  p50Ms: number;
  p99Ms: number;
}

/**
 * What `scaleout bench` measured: the client's view (autocannon) next to the
 * balancer's own counters, read from its admin API before and after the run.
 */
export interface BenchReport {
  scenario: ScenarioName;
  tool: 'autocannon' | 'wrk';
  /**
   * Where the per-second timeline comes from: `client` (every response autocannon saw), or
   * `balancer` (wrk reports only at the end: the balancer's exchanges each second and its
   * p50/p99 over its 10 s window then).
   */
  timelineSource: 'client' | 'balancer';
  /** The rate asked for; null: as fast as the connections go. */
  rps: number | null;
  connections: number;
  /** The duration asked for, in seconds. */
  durationS: number;
  /** How long it really ran. */
  elapsedS: number;
  appUrl: string;
  startedAt: string;
  totals: {
    /** Responses received (any status). */
    responses: number;
    /** Connection errors and timeouts (no response). */
    errors: number;
    timeouts: number;
    byClass: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
    /** Responses per second over the run. */
    throughputRps: number;
  };
  latency: { p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; meanMs: number };
  timeline: BenchSecond[];
  servers: BenchServer[];
  /** Deltas of the balancer's admin counters over the run (every pool). */
  balancer: {
    /** Client exchanges that ended, whatever their end. */
    exchanges: number;
    /** Requests sent to servers (a retried request counts on each server it went to). */
    requests: number;
  };
}
