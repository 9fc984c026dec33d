import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ControlClient } from '../runtime/control-client.js';
import type { DeployResult } from '../runtime/index.js';
import { UsageError } from './cli-error.js';
import { printEvent } from './up-command.js';

/** `scaleout deploy [dir] [--strategy rolling|blue-green]`: performed by the running supervisor. */
export function registerDeployCommand(program: Command): void {
  program.command('deploy')
    .description('build the app folder and put the build on every instance without downtime')
    .argument('[dir]', 'the app folder', '.')
    .option('--strategy <name>', 'rolling (one instance at a time) or blue-green (a full new set, one switch); default: deploy.strategy of the config')
    .action(async (dir: string, flags: { strategy?: string }) => {
      const strategy = flags.strategy;
      if (strategy !== undefined && strategy !== 'rolling' && strategy !== 'blue-green') {
        throw new UsageError(`--strategy must be rolling or blue-green, not "${strategy}"`);
      }
      const client = ControlClient.connect(resolve(dir));
      const result = await client.deploy(strategy, printEvent) as DeployResult;
      if (!result.changed) {
        process.stdout.write(`nothing to deploy: build ${result.to} already runs everywhere\n`);
        return;
      }
      process.stdout.write(`deployed build ${result.to} over ${result.from} (${result.strategy}) in ${(result.durationMs / 1000).toFixed(1)} s: ` +
        `started ${result.started.join(', ') || 'none'}; stopped ${result.stopped.join(', ') || 'none'}\n`);
    });
}
