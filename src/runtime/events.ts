import type { BalancerEvent } from '../balancer/index.js';
import { formatBalancerEvent } from '../balancer/events.js';

/**
 * What happened in a `scaleout up`, as typed records: `{ id, at, source, kind, ... }`.
 * `id` is given by the supervisor's ring (monotonic, from 1), `at` is epoch ms from
 * the supervisor's clock (the balancer's own clock for its events), `source` is the
 * process or role the event is about (`app-2`, `balancer`, `redis-server`) or
 * `supervisor`. The table of kinds is in docs/runtime.md.
 */
export type RuntimeEvent = { id: number; at: number; source: string } & RuntimeEventBody;

export type RuntimeEventKind = RuntimeEventBody['kind'];

/** The kinds and their fields. */
export type RuntimeEventBody =
  /** Progress and warnings in words: startup steps, deploys, engines, operations. */
  | { kind: 'notice'; level: 'step' | 'info' | 'warn'; message: string }
  /** An instance passed its health check and joined its pool. */
  | { kind: 'instance-ready'; pool: string; address: string | null; pid: number | null; buildId: string }
  /** A supervised instance exited without being asked to; it is restarted after `restartInMs`. */
  | { kind: 'instance-exited'; pool: string; exit: string; restartInMs: number }
  /** A crashed instance runs again and is back in its pool. */
  | { kind: 'instance-restarted'; pool: string; address: string | null; pid: number | null; restarts: number }
  /** An instance was drained and stopped for good (scale down, deploy). */
  | { kind: 'instance-stopped'; pool: string; buildId: string }
  /** A worker process (`source` `exports-1`, role `worker:exports`) of `buildId` started. */
  | { kind: 'worker-started'; role: string; pid: number | null; buildId: string }
  /** A worker exited without being asked to; it is restarted after `restartInMs`. */
  | { kind: 'worker-exited'; role: string; exit: string; restartInMs: number; crashesInARow: number }
  /** A worker's heartbeat was silent for `silentMs` (stopped, or stuck): it is killed, then restarted as a crash. */
  | { kind: 'worker-hung'; role: string; silentMs: number }
  /** A crashed worker runs again. */
  | { kind: 'worker-restarted'; role: string; pid: number | null }
  /** A worker was stopped for good (scale down, deploy): it finished or returned its jobs. */
  | { kind: 'worker-stopped'; role: string; buildId: string; exit: string }
  /** A supervised process that is not an app instance (the balancer, redis-server) exited. */
  | { kind: 'process-exited'; name: string; exit: string; crashReport: string | null; restartInMs: number; note: string | null; crashesInARow: number }
  /** Its restart failed; the next attempt is in `restartInMs`. */
  | { kind: 'process-start-failed'; name: string; reason: string; restartInMs: number; note: string | null; crashesInARow: number }
  | { kind: 'process-restarted'; name: string; pid: number | null }
  /** The balancer's view of a server (`source` is the server id); forwarded from the balancer child. */
  | { kind: 'server-state'; pool: string; server: string; state: string; reason: string }
  /** keepalived's VRRP instance changed state (`source` `keepalived`): `master` holds the floating `address`. */
  | { kind: 'vip-state'; address: string; state: 'master' | 'backup' | 'fault' | 'stopped' | 'unknown'; pid: number | null }
  /** A fault was injected (`scaleout chaos`): `fault` is kill, stop, slow or partition; `source` is the process. */
  | { kind: 'chaos-fault'; fault: string; role: string; detail: string }
  /** A fault was undone (`scaleout chaos heal`, the supervisor's stop, or leftovers of an earlier run at start). */
  | { kind: 'chaos-healed'; fault: string; role: string; detail: string }
  /**
   * An autoscale decision for `role` (`source` is the role): `scale-out`/`scale-in` change
   * the count from `from` to `to`; `hold-at-max` and `cooldown` keep it, said once when
   * they begin. `value` is the metric per process, `reason` says why in words.
   */
  | { kind: 'autoscale'; role: string; decision: 'scale-out' | 'scale-in' | 'hold-at-max' | 'cooldown' | 'failed'; from: number; to: number; metric: 'cpu' | 'p99Ms' | 'queueDepth'; value: number; target: number; reason: string }
  /** Events were lost between `afterId` and the next event sent: they fell off the ring, or the supervisor restarted (`missed` null). */
  | { kind: 'gap'; afterId: number; missed: number | null };

/** What emitters hand the supervisor: no id, and `at`, `source` filled in when left out. */
export type EventInput = RuntimeEventBody & { source?: string; at?: number };

/** The untyped progress event of earlier versions: a `notice`. */
export interface LegacyNotice {
  level: 'step' | 'info' | 'warn';
  message: string;
  source?: string;
}

/** Anything an emitter inside the runtime may emit. */
export type SupervisorEvent = EventInput | LegacyNotice;

/** The `source` of events the supervisor emits about itself or the whole deployment. */
export const SUPERVISOR_SOURCE = 'supervisor';

/** Fills in `id`, `at` and `source` (`notice` for an untyped event). */
export function stampEvent(event: SupervisorEvent, id: number, nowMs: number): RuntimeEvent {
  const body: EventInput = 'kind' in event ? event : { kind: 'notice', level: event.level, message: event.message, ...(event.source === undefined ? {} : { source: event.source }) };
  return { ...body, id, at: body.at ?? nowMs, source: body.source ?? SUPERVISOR_SOURCE };
}

/**
 * A balancer event as a runtime event (its `at` and `source` kept); undefined for
 * `balancer-stopped`, which the supervisor reports itself when it stops the balancer.
 */
export function fromBalancerEvent(event: BalancerEvent): EventInput | undefined {
  if (event.kind === 'server-state') {
    return { at: event.at, source: event.source, kind: 'server-state', pool: event.pool, server: event.server, state: event.state, reason: event.reason };
  }
  if (event.kind === 'balancer-stopped') return undefined;
  return { at: event.at, source: 'balancer', kind: 'notice', level: event.kind === 'peer-state' ? 'info' : 'warn', message: formatBalancerEvent(event) };
}
