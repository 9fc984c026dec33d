import { runSystemCommand, runSystemCommandSync } from '../netns/system-command.js';
import { DELAY_PROXY_SOURCE } from './delay-proxy.js';

/**
 * Network faults of processes on this machine's loopback, each one nft table of its
 * own (`inet scaleout_chaos_<id>`) that matches only the process's ports: nothing
 * else on the machine is touched, and healing is deleting the table.
 */

/** Every table a fault adds starts with this; `nft list tables` shows what is left. */
export const CHAOS_TABLE_PREFIX = 'scaleout_chaos_';

/**
 * Partition: every loopback packet to or from the ports is dropped, in established
 * connections too: peers see silence (timeouts), not refusals, as across a cut cable.
 */
export async function addPartitionTable(table: string, ports: readonly number[]): Promise<void> {
  const set = `{ ${ports.join(', ')} }`;
  await runSystemCommand('nft', ['-f', '-'], {
    input: `table inet ${table} {
  chain out {
    type filter hook output priority -10;
    oifname "lo" meta l4proto { tcp, udp } th dport ${set} drop
    oifname "lo" meta l4proto { tcp, udp } th sport ${set} drop
  }
}
`,
  });
}

/**
 * Slow: new TCP connections to `port` on loopback are redirected to a delay proxy
 * (see delay-proxy.ts), except the proxy's own, which come from
 * {@link DELAY_PROXY_SOURCE}. Redirection is NAT and binds at connect time, so the
 * port's established connections are then closed (`ss -K`): their clients reconnect
 * through the proxy.
 */
export async function addSlowTable(table: string, port: number, proxyPort: number): Promise<void> {
  await runSystemCommand('nft', ['-f', '-'], {
    input: `table inet ${table} {
  chain out {
    type nat hook output priority -100;
    oifname "lo" ip saddr != ${DELAY_PROXY_SOURCE} tcp dport ${port} redirect to :${proxyPort}
  }
}
`,
  });
  await closeConnections(port);
}

/** Closes the established TCP connections of `port` on loopback (both ends). */
export async function closeConnections(port: number): Promise<void> {
  await runSystemCommand('ss', ['-K', '-t', 'state', 'established', `( sport = :${port} or dport = :${port} )`, 'dst', '127.0.0.0/8']).catch(() => undefined);
}

/** Deletes a fault's table; false when it was not there. */
export async function deleteChaosTable(table: string): Promise<boolean> {
  if (!table.startsWith(CHAOS_TABLE_PREFIX)) return false;
  return runSystemCommand('nft', ['delete', 'table', 'inet', table]).then(() => true, () => false);
}

/** The same, synchronous (a forced stop); never throws. */
export function deleteChaosTableSync(table: string): boolean {
  if (!table.startsWith(CHAOS_TABLE_PREFIX)) return false;
  return runSystemCommandSync('nft', ['delete', 'table', 'inet', table]) !== undefined;
}
