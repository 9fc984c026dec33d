import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ControlClient } from '../runtime/control-client.js';
import type { RuntimeStatus } from '../runtime/index.js';
import { formatShards } from './db-command.js';

/** `scaleout status [--json] [dir]`: the runtime status, from the running supervisor. */
export function registerStatusCommand(program: Command): void {
  program.command('status')
    .description('show every process of a running `scaleout up`: role, id, pid, address, build, state')
    .argument('[dir]', 'the app folder', '.')
    .option('--json', 'print the runtime status as JSON')
    .action(async (dir: string, flags: { json?: boolean }) => {
      const status = await ControlClient.connect(resolve(dir)).status();
      process.stdout.write(flags.json === true ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    });
}

/** The status as a table for a terminal. */
export function formatStatus(status: RuntimeStatus): string {
  const lines = [
    `${status.state}: build ${status.buildId ?? '?'}, profile ${status.profile ?? 'none'}${status.operation === null ? '' : `, ${status.operation} in progress`}`,
    `app ${status.appUrl ?? '-'}   admin ${status.adminUrl ?? '-'}`,
    '',
  ];
  const rows = [['ROLE', 'ID', 'PID', 'ADDRESS', 'BUILD', 'STATE', 'DETAIL']];
  for (const p of status.processes) {
    rows.push([p.role, p.id, p.pid === null ? '-' : String(p.pid), p.address ?? '-', p.buildId ?? '-', p.state,
      [p.restarts ? `${p.restarts} restart(s)` : '', p.detail ?? ''].filter(Boolean).join(', ')]);
  }
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  for (const row of rows) lines.push(row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  ').trimEnd());
  if (status.db !== null) {
    lines.push('', `db: primary ${status.db.primary ?? 'none'} (timeline ${status.db.timeline ?? '?'})${status.db.failoverInProgress ? ', failover in progress' : status.db.failover ? ', failover on' : ''}`);
    for (const node of status.db.nodes) {
      lines.push(`  ${node.name}  ${node.role}${node.healthy ? '' : ' (unhealthy)'}${node.lagMs === null ? '' : `, lag ${node.lagMs} ms`}${node.lagBytes === null ? '' : ` / ${node.lagBytes} bytes`}`);
    }
    if (status.db.shards !== null) lines.push(...formatShards(status.db.shards));
  }
  return `${lines.join('\n')}\n`;
}
