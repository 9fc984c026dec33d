import { resolve } from 'node:path';
import type { Command } from 'commander';
import { isScaleoutError } from '../internal/errors.js';
import { ControlClient } from '../runtime/control-client.js';
import { ControlRequestError } from '../runtime/errors.js';
import type { AppReshardResult } from '../runtime/index.js';
import { UsageError } from './cli-error.js';
import { printEvent } from './up-command.js';

/**
 * `scaleout reshard [dir] --to <shard> [--buckets N | --fraction F]`: moves shard
 * buckets online, performed by the running supervisor with the app's `db.shards`
 * config; one line per step.
 */
export function registerReshardCommand(program: Command): void {
  program.command('reshard')
    .description('move shard buckets to a shard while the app runs (a new shard database is created first)')
    .argument('[dir]', 'the app folder', '.')
    .requiredOption('--to <shard>', 'the shard (database name) the buckets move to')
    .option('--buckets <n>', 'how many buckets to move, taken from the fullest shards')
    .option('--fraction <f>', 'the share of all buckets to move, e.g. 0.25')
    .action(async (dir: string, flags: { to: string; buckets?: string; fraction?: string }) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(flags.to)) throw new UsageError(`--to "${flags.to}" must be a database name of letters, digits and _`);
      if (flags.buckets !== undefined && flags.fraction !== undefined) throw new UsageError('give --buckets or --fraction, not both');
      const buckets = flags.buckets === undefined ? undefined : Number(flags.buckets);
      if (buckets !== undefined && !(/^\d+$/.test(flags.buckets!) && buckets >= 1)) throw new UsageError(`--buckets must be a whole number of at least 1, not "${flags.buckets}"`);
      const fraction = flags.fraction === undefined ? undefined : Number(flags.fraction);
      if (fraction !== undefined && !(fraction > 0 && fraction <= 1)) throw new UsageError(`--fraction must be above 0 and at most 1, not "${flags.fraction}"`);
      const client = ControlClient.connect(resolve(dir));
      let result: AppReshardResult;
      try {
        result = await client.db({
          action: 'reshard', to: flags.to, ...(buckets === undefined ? {} : { buckets }), ...(fraction === undefined ? {} : { fraction }),
        }, printEvent) as AppReshardResult;
      } catch (err) {
        // One line: the steps above already say how far it got.
        if (isScaleoutError(err)) throw new ControlRequestError(0, `reshard failed: ${(err as Error).message.split('\n')[0] ?? ''}`, err.code);
        throw err;
      }
      const sources = Object.entries(result.from).map(([shard, n]) => `${n} from ${shard}`).join(', ');
      process.stdout.write(`reshard: ${result.moved} bucket(s) moved to ${result.target}${sources === '' ? '' : ` (${sources})`}` +
        `${result.recovered > 0 ? `; ${result.recovered} bucket(s) of an interrupted reshard recovered first` : ''}\n`);
    });
}
