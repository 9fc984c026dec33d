import type { BalancerLiveConfig } from '../balancer.js';
import type { BalancerEvent } from '../events.js';
import type { BalancerOptionsInput } from '../options.js';

/**
 * What a balancer's primary and its workers say over IPC:
 *
 *     worker ── loaded ───────────────────────────────► primary
 *            ◄─ listener {index} + socket handle ─────   (one per listener)
 *            ◄─ start {options, live, sticks} ────────
 *            ── ready {addresses, admin} ─────────────►  or failed {message}
 *            ── event / stick ────────────────────────►  (any time)
 *            ◄─ stick ────────────────────────────────   (another worker's placement)
 *   prober   ── health / load ───────────────────────►  (states and loads its checks saw)
 *   others   ◄─ health / load ────────────────────────
 *   others   ── mark-down ───────────────────────────►  (a server they found silent)
 *   prober   ◄─ mark-down ────────────────────────────
 *
 * The handshake exists because a message that arrives before the worker listens for
 * messages is lost.
 */
export type PrimaryMessage =
  | { type: 'listener'; index: number }
  | {
    type: 'start';
    /** Balancer options without `workers`; `admin` is the worker's own, on a loopback port. */
    options: BalancerOptionsInput;
    live: BalancerLiveConfig;
    /** Stick-table placements to start with, by pool: `[key, serverId]`. */
    sticks: Record<string, Array<[string, string]>>;
    /** This worker checks health for all (see `PoolDeps.sharedHealth`). */
    probe: boolean;
    /** Servers the prober last saw down, to start with. */
    down: Array<{ pool: string; server: string; reason: string }>;
  }
  | StickMessage
  | HealthMessage
  | LoadMessage
  | MarkDownMessage;

export type WorkerMessage =
  | { type: 'loaded' }
  | { type: 'ready'; addresses: string[]; admin: string }
  | { type: 'failed'; code: string; message: string }
  | { type: 'event'; event: BalancerEvent }
  | StickMessage
  | HealthMessage
  | LoadMessage
  | MarkDownMessage;

export interface HealthMessage {
  type: 'health';
  pool: string;
  server: string;
  healthy: boolean;
  reason: string;
  /** The server answered (a failing answer, not silence): what it has in flight may finish. */
  answered: boolean;
}

export interface LoadMessage {
  type: 'load';
  pool: string;
  server: string;
  load: number;
}

export interface MarkDownMessage {
  type: 'mark-down';
  pool: string;
  server: string;
  reason: string;
}

export interface StickMessage {
  type: 'stick';
  pool: string;
  key: string;
  server: string;
}
