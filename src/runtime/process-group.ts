import type { SupervisorEvent } from './events.js';
import type { ProcessRole, ProcessStatus } from './status.js';

/** What `scaleout scale <role>=<n>` did. */
export interface ScaleResult {
  role: string;
  from: number;
  to: number;
  started: string[];
  stopped: string[];
}

/**
 * Every process of one role, as the supervisor holds them: the balancer, the app
 * instances, the workers (`worker:<name>`), each engine. A new role (DNS, a static file server) is one
 * more group, registered in the supervisor's start order; status, scaling and
 * stopping go through this interface.
 */
export interface ProcessGroup {
  readonly role: ProcessRole;
  /** Its lines in `scaleout status`. */
  processes(): ProcessStatus[];
}

/** A role whose number of processes the operator sets. */
export interface ScalableGroup extends ProcessGroup {
  /** Throws a ScaleRequestError when `count` is not allowed for this role (before anything changes). */
  checkCount(count: number): void;
  /** Starts or stops processes until `count` serve. */
  scale(count: number, report: (event: SupervisorEvent) => void): Promise<ScaleResult>;
}

export function isScalable(group: ProcessGroup): group is ScalableGroup {
  return typeof (group as Partial<ScalableGroup>).scale === 'function';
}
