import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ControlClient } from '../runtime/control-client.js';
import { followEvents } from '../runtime/event-follower.js';
import { formatEventLine } from '../runtime/event-text.js';
import type { RuntimeEvent } from '../runtime/index.js';
import { onShutdownSignal } from './signals.js';

/** `scaleout logs [dir] [--follow] [--json]`: the supervisor's events, one line each. */
export function registerLogsCommand(program: Command): void {
  program.command('logs')
    .description('print the events of a running `scaleout up` (instances, balancer, engines, operations), one line each')
    .argument('[dir]', 'the app folder', '.')
    .option('-f, --follow', 'keep printing new events as they happen (reconnects if the supervisor restarts)')
    .option('--json', 'print each event as one JSON object per line')
    .addHelpText('after', '\nThe supervisor keeps its last 1000 events; the per-process output is in .scaleout/logs/.')
    .action(async (dir: string, flags: { follow?: boolean; json?: boolean }) => {
      const appDir = resolve(dir);
      const print = (event: RuntimeEvent): void => {
        process.stdout.write(`${flags.json === true ? JSON.stringify(event) : formatEventLine(event)}\n`);
      };
      if (flags.follow !== true) {
        const { events } = await ControlClient.connect(appDir).events(0);
        events.forEach(print);
        return;
      }
      // The first connection must work: a typo in the folder is an error, not a wait.
      ControlClient.connect(appDir);
      const stop = new AbortController();
      onShutdownSignal(async () => stop.abort());
      await followEvents({
        dir: appDir,
        signal: stop.signal,
        onEvent: print,
        onDisconnected: (reason) => process.stderr.write(`scaleout: lost the supervisor (${reason}); reconnecting\n`),
        onReconnected: () => process.stderr.write('scaleout: reconnected\n'),
      });
    });
}
