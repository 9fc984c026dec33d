import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ControlClient } from '../runtime/control-client.js';
import type { BuildResult } from '../runtime/index.js';
import { printEvent } from './up-command.js';

/** `scaleout build [dir]`: write the app's immutable image (through the supervisor when one runs). */
export function registerBuildCommand(program: Command): void {
  program.command('build')
    .description('build an immutable image of the app: .scaleout/images/<buildId>.tgz (buildId = content hash)')
    .argument('[dir]', 'the app folder', '.')
    .action(async (dir: string) => {
      const appDir = resolve(dir);
      const client = ControlClient.tryConnect(appDir);
      const result = client === undefined
        ? await (await import('../runtime/image.js')).buildImage(appDir)
        : await client.build(printEvent) as BuildResult;
      process.stdout.write(`build ${result.buildId}: ${result.imagePath} (${result.created ? 'new' : 'already built'}, ${result.fileCount} files)\n`);
    });
}
