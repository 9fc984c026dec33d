import { stampEvent } from './events.js';
import type { RuntimeEvent, SupervisorEvent } from './events.js';

/** How an event reads on a terminal: `step` lines get a ✓, `warn` lines go to stderr. */
export interface EventText {
  level: 'step' | 'info' | 'warn';
  text: string;
}

/** Server states the supervisor's own events already say (it asked for them). */
const MEMBERSHIP_STATES = new Set(['added', 'removed', 'draining', 'drained']);

/**
 * The one place events become words: `scaleout up`'s progress lines, the lines of
 * `scaleout logs`, and the progress of operations (`deploy`, `scale`, `db`).
 */
export function describeEvent(event: RuntimeEvent): EventText {
  switch (event.kind) {
    case 'notice':
      return { level: event.level, text: event.message };
    case 'instance-ready':
      return { level: 'step', text: `${event.source} (build ${event.buildId}) healthy on ${event.address ?? '?'} (pid ${event.pid ?? '?'}), in pool ${event.pool}` };
    case 'instance-exited':
      return { level: 'warn', text: `${event.source} ${event.exit}; left pool ${event.pool}, restarting in ${event.restartInMs} ms` };
    case 'instance-restarted':
      return { level: 'step', text: `${event.source} restarted (pid ${event.pid ?? '?'}, ${event.address ?? '?'}) and rejoined pool ${event.pool}` };
    case 'instance-stopped':
      return { level: 'step', text: `${event.source} (build ${event.buildId}) drained and stopped` };
    case 'worker-started':
      return { level: 'step', text: `${event.source} (${event.role}, build ${event.buildId}) started (pid ${event.pid ?? '?'})` };
    case 'worker-exited':
      return { level: 'warn', text: `${event.source} (${event.role}) ${event.exit}; restarting it ${event.restartInMs === 0 ? 'now' : `in ${event.restartInMs} ms`} (crash ${event.crashesInARow} in a row)` };
    case 'worker-hung':
      return { level: 'warn', text: `${event.source} (${event.role}) sent no heartbeat for ${event.silentMs} ms; killing it` };
    case 'worker-restarted':
      return { level: 'step', text: `${event.source} (${event.role}) restarted (pid ${event.pid ?? '?'})` };
    case 'worker-stopped':
      return { level: 'step', text: `${event.source} (${event.role}, build ${event.buildId}) stopped (${event.exit})` };
    case 'process-exited':
      return { level: 'warn', text: `${event.name} ${event.exit}${event.crashReport === null ? '' : ` after an uncaught error:\n${event.crashReport}\n`}${restarting(event)}` };
    case 'process-start-failed':
      return { level: 'warn', text: `${event.name} did not restart: ${event.reason}${restarting(event)}` };
    case 'process-restarted':
      return { level: 'step', text: `${event.name} restarted (pid ${event.pid ?? '?'})` };
    case 'server-state':
      return { level: event.state === 'down' || event.state === 'ejected' ? 'warn' : 'info', text: `balancer: ${event.pool}/${event.server} ${event.state} (${event.reason})` };
    case 'vip-state':
      return { level: event.state === 'fault' ? 'warn' : 'step', text: `keepalived: ${event.state === 'master' ? `holds ${event.address}` : event.state === 'backup' ? `backup for ${event.address}` : `${event.state}, does not hold ${event.address}`}` };
    case 'chaos-fault':
      return { level: 'warn', text: `chaos: ${event.fault} ${event.source} (${event.role}): ${event.detail}` };
    case 'chaos-healed':
      return { level: 'step', text: `chaos healed: ${event.fault} ${event.source} (${event.role}): ${event.detail}` };
    case 'autoscale':
      return {
        level: event.decision === 'failed' ? 'warn' : event.decision === 'hold-at-max' || event.decision === 'cooldown' ? 'info' : 'step',
        text: `autoscale ${event.role}: ${event.decision === 'scale-out' || event.decision === 'scale-in' ? `${event.decision} ${event.from} → ${event.to}` : `${event.decision} at ${event.from}`} (${event.metric} ${event.reason})`,
      };
    case 'gap':
      return {
        level: 'warn',
        text: event.missed === null
          ? `events after #${event.afterId} are gone: the supervisor restarted since`
          : `${event.missed} event(s) after #${event.afterId} are gone: they fell off the supervisor's ring`,
      };
    default:
      return unknownKind(event);
  }
}

function restarting(event: { restartInMs: number; note: string | null; crashesInARow: number }): string {
  return `; restarting it ${event.restartInMs === 0 ? 'now' : `in ${event.restartInMs} ms`}${event.note === null ? '' : ` ${event.note}`} (crash ${event.crashesInARow} in a row)`;
}

/** A newer supervisor may send kinds this one does not know: show them as JSON. */
function unknownKind(event: never): EventText {
  const { id: _id, at: _at, source: _source, ...rest } = event as RuntimeEvent;
  return { level: 'info', text: JSON.stringify(rest) };
}

/**
 * Whether `scaleout up` leaves the event off its terminal: the balancer confirming a
 * membership change the supervisor asked for and already printed.
 */
export function isEcho(event: RuntimeEvent): boolean {
  return event.kind === 'server-state' && MEMBERSHIP_STATES.has(event.state);
}

/** One line of `scaleout logs`: time, source, then the event's words (a stack stays indented below). */
export function formatEventLine(event: RuntimeEvent): string {
  const { level, text } = describeEvent(event);
  const mark = level === 'warn' ? '!' : level === 'step' ? '✓' : ' ';
  return `${new Date(event.at).toISOString()} ${mark} ${event.source.padEnd(12)} ${text.trimEnd().replace(/\n/g, '\n    ')}`;
}

/** The words of an event not stamped yet (for a caller that prints instead of emitting). */
export function eventMessage(event: SupervisorEvent): string {
  return describeEvent(stampEvent(event, 0, 0)).text;
}
