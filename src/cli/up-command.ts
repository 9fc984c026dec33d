import { relative } from 'node:path';
import type { Command } from 'commander';
import type { LoadedConfig, RuntimeEvent, Supervisor } from '../runtime/index.js';
import { RuntimeConfigError, SupervisorStoppingError } from '../runtime/errors.js';
import { describeEvent, isEcho } from '../runtime/event-text.js';
import { UsageError } from './cli-error.js';

/** One progress line: `✓` for a finished step, `!` (on stderr) for a warning. */
export function printEvent(event: RuntimeEvent): void {
  const { level, text } = describeEvent(event);
  if (level === 'warn') process.stderr.write(`  ! ${text}\n`);
  else process.stdout.write(`  ${level === 'step' ? '✓' : ' '} ${text}\n`);
}

/** The terminal of `scaleout up`: every event but the balancer's echoes of what the supervisor already said. */
function printUpEvent(event: RuntimeEvent): void {
  if (!isEcho(event)) printEvent(event);
}

/** The command to type for `dir`, relative to where the user is. */
export function dirArgument(dir: string): string {
  const rel = relative(process.cwd(), dir);
  const shown = rel.startsWith('..') ? dir : rel;
  return shown === '' ? '' : ` ${shown.includes(' ') ? JSON.stringify(shown) : shown}`;
}

/** Loads the config; an invalid one is a usage error (exit code 2). */
export async function loadConfigForCli(dir: string): Promise<LoadedConfig> {
  try {
    return await (await import('../runtime/config-loader.js')).loadConfig(dir);
  } catch (err) {
    if (err instanceof RuntimeConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/** `scaleout up [dir]`: run the whole deployment in the foreground until Ctrl-C. */
export function registerUpCommand(program: Command): void {
  program.command('up')
    .description('run the app scaled out: engines, a balancer and N instances of one build (Ctrl-C stops everything)')
    .argument('[dir]', 'the app folder, with scaleout.config.ts (or .js, .json)', '.')
    .addHelpText('after', '\nEngines: DATABASE_URL (+ DATABASE_REPLICA_URLS) and REDIS_URL are used when set;\notherwise PostgreSQL runs embedded and redis-server is started from the PATH.')
    .action(async (dir: string) => {
      const { dir: appDir, file, config } = await loadConfigForCli(dir);
      process.stdout.write(`scaleout up ${appDir} (${relative(appDir, file)})\n`);
      // Loaded here, not at start-up: every other command would pay for them.
      const [{ Supervisor }, { createDashboard }] = await Promise.all([import('../runtime/supervisor.js'), import('../dashboard/index.js')]);
      const supervisor = new Supervisor({ dir: appDir, config, onEvent: printUpEvent, controlPages: createDashboard });
      const stopped = stopOnSignals(supervisor);
      let summary;
      try {
        summary = await supervisor.start();
      } catch (err) {
        if (err instanceof SupervisorStoppingError) process.exit(await stopped);
        throw err;
      }
      const cmd = dirArgument(appDir);
      process.stdout.write([
        `ready: build ${summary.buildId} on ${summary.instances} instance(s), profile ${summary.profile ?? 'none (no engines)'}`,
        `  app       ${summary.appUrls.join('  ')}`,
        ...(summary.dns === undefined ? [] : [`  dns       ${summary.dns.name} on ${summary.dns.address} (dig @${summary.dns.address.replace(/:(\d+)$/, ' -p $1')} ${summary.dns.name})`]),
        ...(summary.dashboardUrl === undefined ? [] : [`  dashboard ${summary.dashboardUrl} (log in with token in .scaleout/supervisor.json)`]),
        `  admin     ${summary.adminUrl} (bearer token: adminToken in .scaleout/supervisor.json)`,
        `  status    scaleout status${cmd}`,
        `  deploy    scaleout deploy${cmd} [--strategy rolling|blue-green]`,
        `  scale     scaleout scale app=<n>${cmd}`,
        '  stop      Ctrl-C (twice to force)',
        '',
      ].join('\n'));
      process.exit(await stopped);
    });
}

/**
 * First SIGINT/SIGTERM/SIGHUP: drain and stop everything in order. A second one: SIGKILL
 * every process the supervisor started, at once, and exit 1.
 */
function stopOnSignals(supervisor: Supervisor): Promise<number> {
  return new Promise((resolve) => {
    let signals = 0;
    const handler = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        process.stderr.write(`${signal} again: killing every process now\n`);
        supervisor.kill();
        process.exit(1);
      }
      process.stderr.write(`${signal}: draining and stopping everything (${signal === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to force)\n`);
      supervisor.stop().then(() => {
        process.stdout.write('stopped\n');
        resolve(0);
      }, (err: unknown) => {
        process.stderr.write(`scaleout: error while stopping: ${(err as Error).message}\n`);
        supervisor.kill();
        resolve(1);
      });
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    // A closed terminal would otherwise kill the supervisor before it stops anything.
    process.on('SIGHUP', handler);
  });
}
