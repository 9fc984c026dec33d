import { ChaosUnsupportedError } from '../chaos/errors.js';
import type { NetnsHost } from './netns-lab.js';

/** The nft table of a namespace host's faults; one per host, since the host is a namespace of its own. */
export const HOST_FAULT_TABLE = 'scaleout_chaos';

/** A network fault of a whole namespace host, on its lab interface (loopback inside it is left alone). */
export type HostFault =
  /** Nothing in or out: nft drops every packet on the interface. */
  | { kind: 'partition' }
  /** nft drops this share of packets, in each direction, at random (`numgen random`). */
  | { kind: 'loss'; percent: number }
  /** `tc netem` holds every packet leaving the interface this long (needs the kernel's sch_netem). */
  | { kind: 'delay'; ms: number };

/**
 * Applies `fault` to `host`, replacing any fault it had. Partition and loss are nft
 * rules in a table of the host's own namespace; delay is a netem qdisc on its
 * interface. {@link healHost} removes both; deleting the namespace does too.
 */
export async function applyHostFault(host: NetnsHost, fault: HostFault): Promise<void> {
  await healHost(host);
  if (fault.kind === 'delay') {
    if (!Number.isInteger(fault.ms) || fault.ms < 1 || fault.ms > 60_000) throw new ChaosUnsupportedError(`a delay is 1 to 60000 ms, not ${fault.ms}`);
    try {
      await host.exec('tc', ['qdisc', 'add', 'dev', host.interface, 'root', 'netem', 'delay', `${fault.ms}ms`]);
    } catch (err) {
      if (/unknown/i.test((err as Error).message)) {
        throw new ChaosUnsupportedError('this kernel has no netem queueing discipline (CONFIG_NET_SCH_NETEM): delays cannot be added; loss and partitions still work', { cause: err });
      }
      throw err;
    }
    return;
  }
  if (fault.kind === 'loss' && (!Number.isInteger(fault.percent) || fault.percent < 1 || fault.percent > 100)) {
    throw new ChaosUnsupportedError(`a loss is 1 to 100 percent, not ${fault.percent}`);
  }
  const drop = fault.kind === 'partition' || fault.percent === 100 ? 'drop' : `numgen random mod 100 < ${fault.percent} drop`;
  await host.exec('nft', ['-f', '-'], {
    input: `table inet ${HOST_FAULT_TABLE} {
  chain in { type filter hook input priority -10; iifname "${host.interface}" ${drop}; }
  chain out { type filter hook output priority -10; oifname "${host.interface}" ${drop}; }
}
`,
  });
}

/** Removes every fault of `host`; resolves with what was removed. */
export async function healHost(host: NetnsHost): Promise<string[]> {
  const removed: string[] = [];
  const tables = await host.exec('nft', ['list', 'tables']);
  if (tables.includes(`table inet ${HOST_FAULT_TABLE}`)) {
    await host.exec('nft', ['delete', 'table', 'inet', HOST_FAULT_TABLE]);
    removed.push(`nft table inet ${HOST_FAULT_TABLE}`);
  }
  const qdiscs = await host.exec('tc', ['qdisc', 'show', 'dev', host.interface]);
  if (/qdisc netem/.test(qdiscs)) {
    await host.exec('tc', ['qdisc', 'del', 'dev', host.interface, 'root']);
    removed.push(`tc netem qdisc on ${host.interface}`);
  }
  return removed;
}
