import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ControlClient } from '../runtime/control-client.js';
import type { RebuildResult, RuntimeStatus, SwitchoverResult } from '../runtime/index.js';
import { UsageError } from './cli-error.js';
import { printEvent } from './up-command.js';

/**
 * `scaleout db rebuild <node> [dir]` and `scaleout db failover [dir]`: by-hand
 * operations on the embedded PostgreSQL nodes, performed by the running supervisor.
 */
export function registerDbCommand(program: Command): void {
  const db = program.command('db')
    .description('operate the embedded PostgreSQL nodes of a running `scaleout up` (see `scaleout status`)');
  db.command('rebuild')
    .description("replace a replica's (or an old primary's) data with a fresh copy of the primary's, then stream from it")
    .argument('<node>', 'the node id from `scaleout status`, e.g. pg0')
    .argument('[dir]', 'the app folder', '.')
    .action(async (node: string, dir: string) => {
      if (!/^[a-z][a-z0-9_]{0,62}$/.test(node)) throw new UsageError(`"${node}" is not a node id; use one from \`scaleout status\`, e.g. pg1`);
      const result = await ControlClient.connect(resolve(dir)).db({ action: 'rebuild', node }, printEvent) as RebuildResult;
      process.stdout.write(`${result.node} rebuilt as a replica of ${result.primary} in ${(result.durationMs / 1000).toFixed(1)} s\n`);
    });
  db.command('failover')
    .description('planned failover: stop the primary cleanly, promote the most advanced replica, rebuild the old primary as its replica')
    .argument('[dir]', 'the app folder', '.')
    .action(async (dir: string) => {
      const result = await ControlClient.connect(resolve(dir)).db({ action: 'failover' }, printEvent) as SwitchoverResult;
      process.stdout.write(`primary: ${result.from} → ${result.to} (timeline ${result.timeline}), promoted ${(result.durationMs / 1000).toFixed(1)} s after the stop; ` +
        `${result.from} ${result.rebuilt ? 'is a replica now' : 'is not rebuilt yet (the supervisor retries)'}\n`);
    });
  for (const command of db.commands) command.exitOverride().configureOutput({ writeErr: () => {} });
}

/** The shard lines of `scaleout status`: buckets per shard and the directory version. */
export function formatShards(shards: NonNullable<NonNullable<RuntimeStatus['db']>['shards']>): string[] {
  const head = `shards: directory ${shards.directory}${shards.version === null ? ' (not created yet: the app creates it)' : `, version ${shards.version}, ${shards.buckets ?? '?'} buckets`}` +
    `${shards.error === null ? '' : ` (last read failed: ${shards.error})`}`;
  const width = Math.max(...shards.shards.map((s) => s.name.length));
  return [head, ...shards.shards.map((s) =>
    `  ${s.name.padEnd(width)}  ${s.buckets === null ? '-' : `${s.buckets} buckets`}${s.moving > 0 ? `, ${s.moving} moving` : ''}`)];
}
