import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CHAOS_FAULTS, ControlClient } from '../runtime/index.js';
import type { ChaosFault } from '../runtime/index.js';
import { UsageError } from './cli-error.js';
import { printEvent } from './up-command.js';

/**
 * `scaleout chaos <fault> <target> [ms]`, `scaleout chaos heal`, `scaleout chaos list`:
 * fault injection into the processes of a running `scaleout up` (docs/chaos.md).
 */
export function registerChaosCommand(program: Command): void {
  program.command('chaos')
    .description('inject a fault into a process of a running `scaleout up` (kill, stop, slow, partition), list them, or heal them all')
    .argument('<action>', `${CHAOS_FAULTS.join(', ')}, heal or list`)
    .argument('[target]', 'a process id (app-1) or role (instance, balancer, worker, primary, replica, redis, dns); `scaleout status` lists them')
    .argument('[ms]', 'slow: milliseconds added to everything the process sends')
    .option('--dir <folder>', 'the app folder', '.')
    .addHelpText('after', `
Examples:
  scaleout chaos partition app-2      drop every loopback packet to and from app-2's port
  scaleout chaos slow instance 300    app-1's answers arrive 300 ms late
  scaleout chaos stop balancer        SIGSTOP: it hangs until healed
  scaleout chaos kill redis           SIGKILL: supervision restarts it
  scaleout chaos heal                 undo every fault (also done when the supervisor stops)`)
    .action(async (action: string, target: string | undefined, ms: string | undefined, flags: { dir: string }) => {
      if (action === 'heal' || action === 'list') {
        if (target !== undefined) throw new UsageError(`chaos ${action} takes no target`);
        const client = ControlClient.connect(resolve(flags.dir));
        const faults = action === 'heal' ? await client.chaosHeal(printEvent) : await client.chaosFaults();
        if (action === 'list') process.stdout.write(faults.length === 0 ? 'no faults in force\n' : `${faults.map(describeFault).join('\n')}\n`);
        else process.stdout.write(`healed ${faults.length} fault(s)\n`);
        return;
      }
      if (!(CHAOS_FAULTS as readonly string[]).includes(action)) throw new UsageError(`"${action}" is no chaos action; use ${CHAOS_FAULTS.join(', ')}, heal or list`);
      if (target === undefined) throw new UsageError(`chaos ${action} needs a target: a process id or role`);
      if (action === 'slow' && (ms === undefined || !/^\d{1,5}$/.test(ms))) throw new UsageError('chaos slow needs the delay in milliseconds, e.g. `scaleout chaos slow app-1 300`');
      if (action !== 'slow' && ms !== undefined) throw new UsageError(`chaos ${action} takes no delay`);
      const client = ControlClient.connect(resolve(flags.dir));
      const fault = await client.chaos({ fault: action as ChaosFault['fault'], target, ...(ms === undefined ? {} : { ms: Number(ms) }) }, printEvent);
      if (fault.fault !== 'kill') process.stdout.write(`in force until \`scaleout chaos heal\`: ${describeFault(fault)}\n`);
    });
}

function describeFault(fault: ChaosFault): string {
  return `${fault.fault}${fault.ms === null ? '' : ` ${fault.ms} ms`} ${fault.target} (${fault.role}, pid ${fault.pid ?? '?'}${fault.ports.length > 0 ? `, port ${fault.ports.join(', ')}` : ''}) since ${fault.at}`;
}
