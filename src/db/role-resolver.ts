import type { NodeRole } from './topology.js';

/** What the latest check says about one node. */
export interface RoleInput {
  name: string;
  /** The latest check succeeded. */
  reachable: boolean;
  inRecovery: boolean | undefined;
  timeline: number | undefined;
  /** Fenced before this round. */
  fenced: boolean;
}

/** The roles after one round of checks. */
export interface RoleDecision {
  primary: string | undefined;
  /** The newest timeline any node (or any earlier round) showed. */
  highestTimeline: number;
  roles: Map<string, NodeRole>;
  /** Nodes fenced in this round. */
  fence: string[];
  /** Fenced nodes that came back as replicas of the newest timeline. */
  unfence: string[];
}

/**
 * Decides who is primary from what the nodes say about themselves, so the router
 * follows reality (an external failover, a restarted old primary) rather than its
 * configuration. Several routers reading the same nodes reach the same answer.
 *
 * Rules:
 * 1. The newest timeline wins. A node out of recovery on an older timeline than any
 *    node shows (or than this router ever saw) is an old primary: it is fenced.
 * 2. The current primary keeps its role while it is reachable, writable and on the
 *    newest timeline, or while it is unreachable and nobody else is writable (that is
 *    a failure for the failover logic to handle, not a reason to pick a random node).
 * 3. Otherwise the writable node on the newest timeline becomes primary; if there are
 *    several (two promotions from the same timeline: split brain), the smallest name
 *    wins, deterministically for every router, and the others are fenced.
 * 4. A fenced node stays fenced until it reports being in recovery on the newest
 *    timeline, i.e. it was rebuilt as a replica of the current primary.
 */
export function resolveRoles(nodes: readonly RoleInput[], currentPrimary: string | undefined, highestTimelineSeen: number): RoleDecision {
  let highestTimeline = highestTimelineSeen;
  for (const node of nodes) {
    if (node.reachable && node.timeline !== undefined && node.timeline > highestTimeline) highestTimeline = node.timeline;
  }
  const roles = new Map<string, NodeRole>();
  const fence: string[] = [];
  const unfence: string[] = [];

  const writable = nodes.filter((n) => n.reachable && n.inRecovery === false && !n.fenced &&
    (n.timeline === undefined || n.timeline >= highestTimeline));
  for (const node of nodes) {
    if (node.reachable && node.inRecovery === false && !node.fenced && node.timeline !== undefined && node.timeline < highestTimeline) {
      fence.push(node.name);
    }
  }

  let primary: string | undefined;
  const current = nodes.find((n) => n.name === currentPrimary);
  if (current && writable.includes(current)) {
    primary = current.name;
  } else if (writable.length > 0) {
    primary = [...writable].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0]?.name;
    // The old primary lost its role to a node that is writable now: it must never take
    // a write again, whatever it says when it comes back. (One that already came back
    // in recovery, e.g. demoted by an external failover manager, is simply a replica.)
    const demoted = current?.reachable === true && current.inRecovery === true;
    if (current && !current.fenced && !demoted && !fence.includes(current.name)) fence.push(current.name);
  } else if (current && !current.fenced && !fence.includes(current.name) && !(current.reachable && current.inRecovery === true)) {
    primary = current.name;
  }
  for (const node of writable) {
    if (node.name !== primary && !fence.includes(node.name)) fence.push(node.name);
  }

  for (const node of nodes) {
    const wasFenced = node.fenced || fence.includes(node.name);
    if (node.name === primary) {
      roles.set(node.name, 'primary');
    } else if (wasFenced) {
      const rebuilt = node.fenced && node.reachable && node.inRecovery === true && node.timeline === highestTimeline;
      if (rebuilt) {
        unfence.push(node.name);
        roles.set(node.name, 'replica');
      } else {
        roles.set(node.name, 'fenced');
      }
    } else if (node.inRecovery === true) {
      roles.set(node.name, 'replica');
    } else {
      roles.set(node.name, 'unknown');
    }
  }
  return { primary, highestTimeline, roles, fence, unfence };
}
