import { Command, CommanderError } from 'commander';
import { isScaleoutError } from '../internal/errors.js';
import { registerBalancerCommand } from './balancer-command.js';
import { registerBenchCommand } from './bench-command.js';
import { registerBuildCommand } from './build-command.js';
import { registerChaosCommand } from './chaos-command.js';
import { UsageError } from './cli-error.js';
import { registerDbCommand } from './db-command.js';
import { registerDemoCommand } from './demo-command.js';
import { registerDeployCommand } from './deploy-command.js';
import { registerDnsCommand } from './dns-command.js';
import { registerLogsCommand } from './logs-command.js';
import { registerReshardCommand } from './reshard-command.js';
import { registerScaleCommand } from './scale-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerUpCommand } from './up-command.js';
import { registerVipCommand } from './vip-command.js';

/**
 * The `scaleout` command. Commands stay thin: parse, call the library, print.
 * Exit codes: 0 done, 1 the operation failed, 2 the command line is wrong.
 */
export async function main(argv: string[]): Promise<number | undefined> {
  const program = new Command('scaleout')
    .description('scaleout: a horizontally scalable web stack for TypeScript')
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .showHelpAfterError(false);
  registerBalancerCommand(program);
  registerDemoCommand(program);
  registerUpCommand(program);
  registerStatusCommand(program);
  registerLogsCommand(program);
  registerBuildCommand(program);
  registerDeployCommand(program);
  registerScaleCommand(program);
  registerDbCommand(program);
  registerReshardCommand(program);
  registerDnsCommand(program);
  registerBenchCommand(program);
  registerVipCommand(program);
  registerChaosCommand(program);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeErr: () => {} });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return undefined;
  } catch (err) {
    return report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    const message = err.message.replace(/^error: /, '');
    process.stderr.write(`scaleout: ${message}\nhint: run \`scaleout --help\` or \`scaleout <command> --help\`\n`);
    return 2;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`scaleout: ${err.message}\nhint: run \`scaleout <command> --help\`\n`);
    return 2;
  }
  if (isScaleoutError(err)) {
    process.stderr.write(`scaleout: ${(err as Error).message} [${err.code}]\n`);
    return 1;
  }
  process.stderr.write(`scaleout: unexpected failure: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
