import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CHAOS_FAULTS } from '../runtime/chaos/chaos-request.js';
import { ControlClient } from '../runtime/control-client.js';
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
    .argument('<action>', `${CHAOS_FAULTS.join(', ')}, heal or list; with --netns: partition, loss, delay or heal`)
    .argument('[target]', 'a process id (app-1) or role (instance, balancer, worker, primary, replica, redis, dns); `scaleout status` lists them')
    .argument('[ms]', 'slow: milliseconds added to everything the process sends')
    .option('--dir <folder>', 'the app folder', '.')
    .option('--netns <name>', 'a whole namespace host instead of a process: partition, loss <percent>, delay <ms> (tc netem) or heal')
    .addHelpText('after', `
Examples:
  scaleout chaos partition app-2      drop every loopback packet to and from app-2's port
  scaleout chaos slow instance 300    app-1's answers arrive 300 ms late
  scaleout chaos stop balancer        SIGSTOP: it hangs until healed
  scaleout chaos kill redis           SIGKILL: supervision restarts it
  scaleout chaos heal                 undo every fault (also done when the supervisor stops)
  scaleout chaos loss 20 --netns so-1234-ab12cd-lb1    drop 20% of a namespace host's packets`)
    .action(async (action: string, target: string | undefined, ms: string | undefined, flags: { dir: string; netns?: string }) => {
      if (flags.netns !== undefined) {
        await hostFault(flags.netns, action, target, ms);
        return;
      }
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

/** A fault of a whole namespace host: `partition`, `loss <percent>`, `delay <ms>`, `heal`. */
async function hostFault(netns: string, action: string, value: string | undefined, extra: string | undefined): Promise<void> {
  if (extra !== undefined) throw new UsageError(`chaos ${action} --netns takes at most one value`);
  const number = (what: string): number => {
    if (value === undefined || !/^\d{1,5}$/.test(value)) throw new UsageError(`chaos ${action} --netns needs ${what}, e.g. \`scaleout chaos ${action} 20 --netns ${netns}\``);
    return Number(value);
  };
  const fault = action === 'partition' ? { kind: 'partition' as const }
    : action === 'loss' ? { kind: 'loss' as const, percent: number('a percentage of packets') }
      : action === 'delay' ? { kind: 'delay' as const, ms: number('a delay in milliseconds') }
        : action === 'heal' ? undefined
          : (() => { throw new UsageError(`"${action}" is no namespace host fault; use partition, loss, delay or heal`); })();
  if (fault?.kind === 'partition' && value !== undefined) throw new UsageError('chaos partition --netns takes no value');
  const [{ namespaceHost }, { applyHostFault, healHost }] = await Promise.all([import('../runtime/netns/netns-lab.js'), import('../runtime/netns/host-faults.js')]);
  const host = await namespaceHost(netns);
  if (fault === undefined) {
    const removed = await healHost(host);
    process.stdout.write(removed.length === 0 ? `${netns}: no faults\n` : `${netns}: removed ${removed.join(', ')}\n`);
    return;
  }
  await applyHostFault(host, fault);
  process.stdout.write(`${netns}: ${action}${value === undefined ? '' : ` ${value}`} on ${host.interface} until \`scaleout chaos heal --netns ${netns}\`\n`);
}

function describeFault(fault: ChaosFault): string {
  return `${fault.fault}${fault.ms === null ? '' : ` ${fault.ms} ms`} ${fault.target} (${fault.role}, pid ${fault.pid ?? '?'}${fault.ports.length > 0 ? `, port ${fault.ports.join(', ')}` : ''}) since ${fault.at}`;
}
