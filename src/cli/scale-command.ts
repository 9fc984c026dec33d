import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ControlClient } from '../runtime/control-client.js';
import type { ScaleResult } from '../runtime/index.js';
import { UsageError } from './cli-error.js';
import { printEvent } from './up-command.js';

/** `scaleout scale <role>=N [dir]`: start or stop processes of a scalable role live (the supervisor decides which roles scale). */
export function registerScaleCommand(program: Command): void {
  program.command('scale')
    .description('start or stop processes of a role live, e.g. instances of the running build (stopping drains first)')
    .argument('<role=count>', 'e.g. app=4')
    .argument('[dir]', 'the app folder', '.')
    .action(async (spec: string, dir: string) => {
      // `worker:mailer=2` names a worker role.
      const match = /^([a-z][a-z0-9-]*(?::[a-z][a-z0-9-]*)?)=(\d{1,4})$/.exec(spec);
      if (match === null) throw new UsageError(`"${spec}" must look like app=4`);
      const client = ControlClient.connect(resolve(dir));
      const result = await client.scale(match[1]!, Number(match[2]), printEvent) as ScaleResult;
      process.stdout.write(result.from === result.to
        ? `${result.role} already has ${result.to} instance(s)\n`
        : `${result.role}: ${result.from} → ${result.to} instance(s)${result.started.length > 0 ? `; started ${result.started.join(', ')}` : ''}${result.stopped.length > 0 ? `; stopped ${result.stopped.join(', ')}` : ''}\n`);
    });
}
