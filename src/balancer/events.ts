import type { ServerState } from './server.js';

/**
 * What a balancer tells its operator, as typed records. `source` is what the event is
 * about: the server id for a server's state change, the pool name for a pool warning,
 * `balancer` for the balancer itself. `at` is epoch ms from the balancer's clock.
 *
 * Every kind keeps the fields the untyped events had (`pool`, `server`, `state`,
 * `reason`, or `message`), so a `log` callback written for those still works.
 */
export type BalancerEvent =
  | {
    at: number;
    source: string;
    kind: 'server-state';
    pool: string;
    server: string;
    /** The server's state now, or the membership change. */
    state: ServerState | 'added' | 'removed';
    reason: string;
  }
  | { at: number; source: string; kind: 'pool-warning'; pool: string; message: string }
  | { at: number; source: 'balancer'; kind: 'balancer-stopped'; message: string }
  /** A balancer worker process ended on its own; its primary starts another. */
  | { at: number; source: 'balancer'; kind: 'worker-exit'; pid: number; message: string }
  /** A stick table peer fell behind or caught up again. */
  | { at: number; source: 'balancer'; kind: 'peer-state'; message: string };

export type BalancerEventKind = BalancerEvent['kind'];

/** One line for a terminal or a log file (without the time). */
export function formatBalancerEvent(event: BalancerEvent): string {
  if (event.kind === 'server-state') return `${event.pool}/${event.server}: ${event.state} (${event.reason})`;
  if (event.kind === 'pool-warning') return `pool ${event.pool}: ${event.message}`;
  return event.message;
}
