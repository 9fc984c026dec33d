import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ControlClient } from '../runtime/index.js';
import type { ScaleResult } from '../runtime/index.js';
import { UsageError } from './cli-error.js';
import { printEvent } from './up-command.js';

/** `scaleout scale app=N [dir]`: start or stop instances live (performed by the supervisor). */
export function registerScaleCommand(program: Command): void {
  program.command('scale')
    .description('start or stop instances of the running build, live (stopping drains first)')
    .argument('<role=count>', 'e.g. app=4')
    .argument('[dir]', 'the app folder', '.')
    .action(async (spec: string, dir: string) => {
      const match = /^([a-z][a-z0-9-]*)=(\d{1,4})$/.exec(spec);
      if (match === null) throw new UsageError(`"${spec}" must look like app=4`);
      if (match[1] !== 'app') throw new UsageError(`only app instances can be scaled (workers are not run by scaleout up yet), not "${match[1]}"`);
      const client = ControlClient.connect(resolve(dir));
      const result = await client.scale(match[1]!, Number(match[2]), printEvent) as ScaleResult;
      process.stdout.write(result.from === result.to
        ? `app already has ${result.to} instance(s)\n`
        : `app: ${result.from} → ${result.to} instance(s)${result.started.length > 0 ? `; started ${result.started.join(', ')}` : ''}${result.stopped.length > 0 ? `; stopped ${result.stopped.join(', ')}` : ''}\n`);
    });
}
